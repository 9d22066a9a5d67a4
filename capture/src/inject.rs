//! `pktsample inject`: send a capture's frames out of an interface.
//!
//! A known trace pushed through a veth pair is how tests and benchmarks check
//! the live sampler end to end. Frames go through an AF_PACKET raw socket,
//! which passes the TCX egress hook of the sending interface and arrives at
//! the ingress hook of its peer. (No `PACKET_QDISC_BYPASS`: that would skip
//! the egress hook.)

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pktsample_schemas::decode::linktype;
use pktsample_schemas::input::{CaptureReader, Interface, Packet, Visitor};

use crate::error::CaptureError;
use crate::netdev::ifindex;
use crate::options::Opt;

#[derive(Clone, Debug)]
pub struct InjectOptions {
    pub input: PathBuf,
    pub interface: String,
    /// Packets per second; `None` = as fast as the socket takes them.
    pub pps: Option<u64>,
    /// Replay at the capture's own pace times this factor.
    pub speed: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct InjectSummary {
    pub packets: u64,
    pub bytes: u64,
    /// Frames captured shorter than their wire length, sent as captured.
    pub truncated: u64,
    pub elapsed: Duration,
}

fn open_socket(name: &str, ifindex: u32) -> Result<OwnedFd, CaptureError> {
    // SAFETY: plain socket(2); protocol 0 = send only, receive nothing.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return Err(if e.kind() == std::io::ErrorKind::PermissionDenied {
            CaptureError::InjectPrivileges
        } else {
            CaptureError::Socket {
                name: name.into(),
                what: "packet socket",
                source: e,
            }
        });
    }
    // SAFETY: a descriptor we just opened and own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: zeroed sockaddr_ll is valid; fields set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: valid fd and address of the right length.
    let r = unsafe {
        libc::bind(
            sock.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r < 0 {
        return Err(CaptureError::Socket {
            name: name.into(),
            what: "bind",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(sock)
}

struct Sender<'a> {
    /// Opened at the first packet, once the file's link types are checked.
    sock: Option<OwnedFd>,
    ifindex: u32,
    opts: &'a InjectOptions,
    start: Instant,
    first_ts: Option<i64>,
    sent: u64,
    bytes: u64,
    truncated: u64,
}

impl Sender<'_> {
    fn pace(&mut self, ts: i64) {
        let due = if let Some(pps) = self.opts.pps {
            Duration::from_secs_f64(self.sent as f64 / pps as f64)
        } else if let Some(speed) = self.opts.speed {
            let first = *self.first_ts.get_or_insert(ts);
            Duration::from_nanos(((ts - first).max(0) as f64 / speed) as u64)
        } else {
            return;
        };
        let now = self.start.elapsed();
        if due > now {
            let wait = due - now;
            if wait > Duration::from_micros(200) {
                std::thread::sleep(wait - Duration::from_micros(100));
            }
            while self.start.elapsed() < due {
                std::hint::spin_loop();
            }
        }
    }
}

impl Visitor for Sender<'_> {
    type Error = CaptureError;

    fn interface(&mut self, _index: usize, i: &Interface) -> Result<(), CaptureError> {
        if i.linktype != linktype::ETHERNET {
            return Err(CaptureError::Inject {
                input: self.opts.input.clone(),
                detail: format!(
                    "interface '{}' has link type {} ({}); inject sends Ethernet frames only",
                    i.name,
                    i.linktype,
                    linktype::name(i.linktype)
                ),
            });
        }
        Ok(())
    }

    fn packet(&mut self, p: &Packet<'_>) -> Result<(), CaptureError> {
        self.pace(p.timestamp_ns);
        if (p.data.len() as u32) < p.orig_len {
            self.truncated += 1;
        }
        let fd = match &self.sock {
            Some(s) => s.as_raw_fd(),
            None => self
                .sock
                .insert(open_socket(&self.opts.interface, self.ifindex)?)
                .as_raw_fd(),
        };
        loop {
            // SAFETY: valid fd and buffer.
            let r = unsafe { libc::send(fd, p.data.as_ptr().cast(), p.data.len(), 0) };
            if r >= 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                // The device queue is full: wait for it to drain.
                Some(libc::ENOBUFS) | Some(libc::EAGAIN) => {
                    std::thread::sleep(Duration::from_micros(50))
                }
                Some(libc::EINTR) => {}
                Some(libc::EMSGSIZE) => {
                    return Err(CaptureError::Inject {
                        input: self.opts.input.clone(),
                        detail: format!(
                            "frame {} ({} bytes) is larger than the MTU of '{}' allows; raise it (ip link set {} mtu 9000)",
                            self.sent + 1,
                            p.data.len(),
                            self.opts.interface,
                            self.opts.interface
                        ),
                    });
                }
                _ => {
                    return Err(CaptureError::Socket {
                        name: self.opts.interface.clone(),
                        what: "send",
                        source: e,
                    });
                }
            }
        }
        self.sent += 1;
        self.bytes += p.data.len() as u64;
        Ok(())
    }
}

pub fn inject(opts: &InjectOptions) -> Result<InjectSummary, CaptureError> {
    if opts.pps == Some(0) {
        return Err(CaptureError::Option {
            opt: Opt::Pps,
            detail: "must be at least 1".into(),
        });
    }
    if opts.speed.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
        return Err(CaptureError::Option {
            opt: Opt::Speed,
            detail: "must be a positive factor".into(),
        });
    }
    let reader = CaptureReader::open(&opts.input)?;
    let idx = ifindex(&opts.interface).ok_or_else(|| CaptureError::UnknownInterface {
        name: opts.interface.clone(),
    })?;
    let mut s = Sender {
        sock: None,
        ifindex: idx,
        opts,
        start: Instant::now(),
        first_ts: None,
        sent: 0,
        bytes: 0,
        truncated: 0,
    };
    reader.read(&mut s)?;
    Ok(InjectSummary {
        packets: s.sent,
        bytes: s.bytes,
        truncated: s.truncated,
        elapsed: s.start.elapsed(),
    })
}
