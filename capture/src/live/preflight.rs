//! What is checked before anything is loaded: the options, the kernel and
//! the privileges.

use crate::error::CaptureError;
use crate::options::{MIN_SNAPLEN, Opt, check_rate, check_rate_and_snaplen};

use super::{LiveOptions, abi};
use crate::rotate::Rotate;

/// The oldest kernel with TCX.
const MIN_KERNEL: (u32, u32) = (6, 6);
const CAP_NET_ADMIN: u32 = 12;
const CAP_BPF: u32 = 39;

/// Parse `major.minor` from a kernel release string.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

pub fn check_kernel() -> Result<(), CaptureError> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let release = release.trim();
    match kernel_version(release) {
        Some(v) if v >= MIN_KERNEL => Ok(()),
        _ => Err(CaptureError::KernelTooOld {
            release: release.to_string(),
        }),
    }
}

/// Root, or CAP_BPF and CAP_NET_ADMIN in the effective set.
pub fn check_privileges() -> Result<(), CaptureError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |cap: u32| eff & (1u64 << cap) != 0;
    if has(CAP_BPF) && has(CAP_NET_ADMIN) {
        Ok(())
    } else {
        Err(CaptureError::Privileges)
    }
}

/// Validate options that need no privileges.
pub fn check_options(opts: &LiveOptions) -> Result<(), CaptureError> {
    check_rate_and_snaplen(opts.sampling_rate, opts.snaplen, abi::MAX_SNAPLEN as u32)?;
    debug_assert!(MIN_SNAPLEN <= abi::MAX_SNAPLEN as u32);
    if opts.interfaces.is_empty() && !opts.all_interfaces {
        return Err(CaptureError::Option {
            opt: Opt::Interface,
            detail: "give at least one interface to capture on (or --replay FILE)".into(),
        });
    }
    for spec in &opts.interfaces {
        if let Some(r) = spec.rate {
            check_rate(r)?;
        }
    }
    let page = 4096u32;
    if !opts.ring_bytes.is_power_of_two() || opts.ring_bytes < page {
        return Err(CaptureError::Option {
            opt: Opt::RingSize,
            detail: format!(
                "{} bytes is not a power of two of at least {page}",
                opts.ring_bytes
            ),
        });
    }
    if let Some(Rotate::Every(d)) = opts.rotate
        && d.is_zero()
    {
        return Err(CaptureError::Option {
            opt: Opt::Rotate,
            detail: "must be longer than 0s".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert_eq!(kernel_version("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(kernel_version("6.6.0"), Some((6, 6)));
        assert!(kernel_version("5.15.0-91-generic").unwrap() < MIN_KERNEL);
        assert_eq!(kernel_version("garbage"), None);
    }
}
