//! Capture errors: each names the flag, file or interface at fault.

use std::path::PathBuf;

use pktsample_schemas::FormatError;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{flag}: {detail}")]
    Flag { flag: &'static str, detail: String },
    #[error(
        "{}: the file is already sampled at 1-in-{file_rate}; 1-in-{rate} on top overflows a 32-bit rate",
        input.display()
    )]
    RateOverflow {
        input: PathBuf,
        file_rate: u32,
        rate: u32,
    },
    #[error(
        "live capture needs root, or CAP_BPF and CAP_NET_ADMIN: run it with sudo (or grant the capabilities with setcap)"
    )]
    Privileges,
    #[error(
        "kernel {release} has no TCX hooks; live capture needs Linux 6.6 or newer (replay files with --replay)"
    )]
    KernelTooOld { release: String },
    #[error("interface '{name}' not found; `ip link` lists the interfaces")]
    UnknownInterface { name: String },
    #[error(
        "interface '{name}' disappeared during capture; the samples up to then are in {}",
        kept.display()
    )]
    InterfaceGone { name: String, kept: PathBuf },
    #[error("cannot attach to interface '{name}': {detail}")]
    Attach { name: String, detail: String },
    #[error("BPF: {0}")]
    Bpf(String),
    #[error("{}: {detail}", input.display())]
    Inject { input: PathBuf, detail: String },
}
