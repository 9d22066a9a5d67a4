//! Checks of the sampling options shared by offline replay and live capture.
//!
//! Errors name the option ([`Opt`]) in the library's own words; the binary
//! maps each to its flag spelling, so no CLI spelling is hard-coded here.

use crate::error::CaptureError;

/// Smallest useful snaplen: an Ethernet header.
pub const MIN_SNAPLEN: u32 = 14;

/// An option of a capture, as errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt {
    SamplingRate,
    Snaplen,
    Interface,
    RingSize,
    Rotate,
    Pps,
    Speed,
}

impl Opt {
    /// The command-line flag of the option.
    pub fn flag(self) -> &'static str {
        match self {
            Opt::SamplingRate => "--sampling-rate",
            Opt::Snaplen => "--snaplen",
            Opt::Interface => "-i",
            Opt::RingSize => "--ring-size",
            Opt::Rotate => "--rotate",
            Opt::Pps => "--pps",
            Opt::Speed => "--speed",
        }
    }
}

impl std::fmt::Display for Opt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.flag())
    }
}

/// A sampling rate: at least 1.
pub fn check_rate(rate: u32) -> Result<(), CaptureError> {
    if rate == 0 {
        return Err(CaptureError::Option {
            opt: Opt::SamplingRate,
            detail: "must be at least 1 (1 = every packet)".into(),
        });
    }
    Ok(())
}

/// A rate and a snaplen of at most `max_snaplen`.
pub fn check_rate_and_snaplen(
    rate: u32,
    snaplen: u32,
    max_snaplen: u32,
) -> Result<(), CaptureError> {
    check_rate(rate)?;
    if !(MIN_SNAPLEN..=max_snaplen).contains(&snaplen) {
        return Err(CaptureError::Option {
            opt: Opt::Snaplen,
            detail: format!("{snaplen} is out of range; use {MIN_SNAPLEN} to {max_snaplen} bytes"),
        });
    }
    Ok(())
}
