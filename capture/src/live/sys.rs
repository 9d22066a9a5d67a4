//! The few system calls live capture makes itself, each checked: the
//! clocks, poll, and a synchronous TCX detach (`BPF_LINK_DETACH`), which aya
//! does not offer (dropping a link closes its descriptor, which detaches
//! only when no one else holds it).

use std::os::fd::{FromRawFd, OwnedFd};

use crate::error::CaptureError;

/// Nanoseconds on `clock`.
pub fn clock_ns(clock: libc::clockid_t) -> Result<i64, CaptureError> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(CaptureError::sys("clock_gettime"));
    }
    Ok(ts.tv_sec * 1_000_000_000 + ts.tv_nsec)
}

/// Offset from CLOCK_MONOTONIC (what `bpf_ktime_get_ns` reads) to UTC, taken
/// as the tightest of a few bracketed readings.
pub fn monotonic_to_utc() -> Result<i64, CaptureError> {
    let mut best = (i64::MAX, 0);
    for _ in 0..5 {
        let m0 = clock_ns(libc::CLOCK_MONOTONIC)?;
        let r = clock_ns(libc::CLOCK_REALTIME)?;
        let m1 = clock_ns(libc::CLOCK_MONOTONIC)?;
        if m1 - m0 < best.0 {
            best = (m1 - m0, r - (m0 + (m1 - m0) / 2));
        }
    }
    Ok(best.1)
}

/// Wait up to `ms` for any of `fds` to be readable; a signal ends the wait
/// early (the caller checks its stop flag).
pub fn poll(fds: &mut [libc::pollfd], ms: i32) -> Result<(), CaptureError> {
    // SAFETY: a valid array of pollfd of the given length.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(CaptureError::Sys {
                what: "poll",
                source: e,
            });
        }
    }
    Ok(())
}

const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;
const BPF_LINK_DETACH: libc::c_long = 34;

/// `bpf(cmd, attr)` with the first attribute word set to `word`.
fn bpf(cmd: libc::c_long, word: u32) -> libc::c_long {
    // union bpf_attr: both commands take one u32 first; the rest stays zero.
    let mut attr = [0u64; 16];
    attr[0] = u64::from(word);
    // SAFETY: a zeroed attribute block of the size we pass.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    }
}

/// Detach BPF link `id` now. For TCX the kernel swaps the hook's program
/// array and waits for an RCU grace period before the call returns, so no
/// run of the program is in flight afterwards: counters read after this are
/// final. A link whose device is gone is already detached.
pub fn detach_link(id: u32) -> Result<(), CaptureError> {
    let fd = bpf(BPF_LINK_GET_FD_BY_ID, id);
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        // ENOENT: the link is already released.
        if e.raw_os_error() == Some(libc::ENOENT) {
            return Ok(());
        }
        return Err(CaptureError::Sys {
            what: "BPF_LINK_GET_FD_BY_ID",
            source: e,
        });
    }
    // SAFETY: the kernel just gave us this descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    use std::os::fd::AsRawFd;
    if bpf(BPF_LINK_DETACH, fd.as_raw_fd() as u32) < 0 {
        let e = std::io::Error::last_os_error();
        // ENOLINK: the device went away and took the link with it.
        if e.raw_os_error() != Some(libc::ENOLINK) {
            return Err(CaptureError::Sys {
                what: "BPF_LINK_DETACH",
                source: e,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_offset_is_plausible() {
        // UTC now minus uptime: some time after 2020.
        assert!(monotonic_to_utc().unwrap() > 1_577_836_800_000_000_000);
    }

    #[test]
    fn bad_clock_is_an_error() {
        assert!(clock_ns(12345).is_err());
    }
}
