//! Capture errors: each names the option, file or interface at fault, and
//! keeps the underlying error as its `source` (so a library user can match
//! on `io::ErrorKind`); the one-line message already includes its text.

use std::path::PathBuf;

use pktsample_schemas::FormatError;
use thiserror::Error;

use crate::options::Opt;

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{opt}: {detail}")]
    Option { opt: Opt, detail: String },
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
    #[error("inject needs root or CAP_NET_RAW to send raw frames; run it with sudo")]
    InjectPrivileges,
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
    #[error("cannot capture on interface '{name}': {detail}")]
    Device { name: String, detail: String },
    #[error("BPF: {what}: {source}")]
    Bpf {
        what: String,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{what}: {source}")]
    Sys {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("interface '{name}': {what}: {source}")]
    Socket {
        name: String,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("{}: {detail}", input.display())]
    Inject { input: PathBuf, detail: String },
    #[error("--listen {addr}: {source}; {hint}")]
    Listen {
        addr: String,
        hint: &'static str,
        source: std::io::Error,
    },
    #[error("--sflow {addr}: {source}")]
    Export {
        addr: String,
        source: std::io::Error,
    },
}

impl CaptureError {
    pub(crate) fn bpf(
        what: impl Into<String>,
        e: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        CaptureError::Bpf {
            what: what.into(),
            source: Box::new(e),
        }
    }

    /// The last OS error of system call `what`.
    pub(crate) fn sys(what: &'static str) -> Self {
        CaptureError::Sys {
            what,
            source: std::io::Error::last_os_error(),
        }
    }
}
