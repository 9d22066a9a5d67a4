//! `collect`: an sFlow collector. Datagrams from any number of agents, on
//! IPv4 and IPv6, become sample rows with their data sources' exact pools,
//! written to one file or to parts (`--rotate`), like a live capture.
//!
//! The sockets are plain non-blocking UDP sockets polled together; each
//! datagram is stamped with its arrival time. The kernel's count of
//! datagrams dropped for a full socket buffer (`/proc/net/udp`) goes into
//! each part's metadata.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pktsample_schemas::{CaptureMetadata, Enrichment, Source};

use super::FileSink;
use super::ingest::Ingest;
use crate::CaptureError;
use crate::layout::{Layout, now_ns};
use crate::rotate::Rotate;

/// What to collect and where to.
#[derive(Clone)]
pub struct CollectOptions {
    pub listen: Vec<SocketAddr>,
    pub output: PathBuf,
    pub rotate: Option<Rotate>,
    pub duration: Option<Duration>,
    /// Stop after this many datagrams.
    pub count: Option<u64>,
    pub force: bool,
    pub enrich: Enrichment,
    /// Socket receive buffer to ask for, in bytes.
    pub recv_buffer: usize,
}

/// What a collector reports while it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum CollectEvent {
    /// Listening on these addresses (the ports the system gave, for 0).
    Listening { addrs: Vec<SocketAddr> },
    /// About once a second.
    Status {
        datagrams: u64,
        rows: u64,
        elapsed: Duration,
    },
    /// A part was completed.
    Rotated { path: PathBuf },
}

/// What a collector wrote and counted.
#[derive(Debug)]
pub struct CollectSummary {
    pub parts: Vec<PathBuf>,
    /// Each part's metadata, in order.
    pub metadata: Vec<CaptureMetadata>,
    pub datagrams: u64,
    pub rows: u64,
    /// Datagrams the kernel dropped for a full socket buffer.
    pub socket_drops: u64,
    pub elapsed: Duration,
}

struct Socket {
    sock: UdpSocket,
    inode: u64,
    /// The kernel's drop count when the current part began.
    drops_base: u64,
}

fn bind(addr: SocketAddr, recv_buffer: usize) -> Result<Socket, CaptureError> {
    let err = |source: std::io::Error| {
        let hint = match source.kind() {
            std::io::ErrorKind::AddrInUse => {
                "another program (a collector?) listens on this port: stop it or choose another port"
            }
            std::io::ErrorKind::PermissionDenied => "ports below 1024 need root",
            _ => "give an address of this host, like 0.0.0.0:6343 or [::]:6343",
        };
        CaptureError::Listen {
            addr: addr.to_string(),
            hint,
            source,
        }
    };
    let sock = UdpSocket::bind(addr).map_err(err)?;
    sock.set_nonblocking(true).map_err(err)?;
    let fd = sock.as_raw_fd();
    let size = libc::c_int::try_from(recv_buffer).unwrap_or(libc::c_int::MAX);
    // SO_RCVBUFFORCE passes the system's cap when we may (root); else the
    // capped size is what we get.
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: a valid socket and an int option of the right size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            break;
        }
    }
    // SAFETY: fstat of an open descriptor into a zeroed struct.
    let inode = unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd, &mut st) == 0 {
            st.st_ino
        } else {
            0
        }
    };
    let mut s = Socket {
        sock,
        inode,
        drops_base: 0,
    };
    s.drops_base = socket_drops(s.inode);
    Ok(s)
}

/// The kernel's count of datagrams dropped on the socket with this inode
/// (the last column of `/proc/net/udp` and `udp6`).
fn socket_drops(inode: u64) -> u64 {
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 13 && f[9].parse::<u64>() == Ok(inode) {
                return f[12].parse().unwrap_or(0);
            }
        }
    }
    0
}

/// One output part.
struct Part {
    sink: FileSink,
    started: Instant,
    /// Wall clock when it was opened (ns): a dataset's part ends at midnight.
    opened_ns: i64,
}

/// Collect until `stop` is set (or `--duration`, `--count`).
pub fn collect(
    opts: &CollectOptions,
    stop: Arc<AtomicBool>,
    on_event: &mut dyn FnMut(CollectEvent),
) -> Result<CollectSummary, CaptureError> {
    let mut socks = opts
        .listen
        .iter()
        .map(|a| bind(*a, opts.recv_buffer))
        .collect::<Result<Vec<_>, _>>()?;
    let template = CaptureMetadata::new(
        Source::Sflow {
            input: opts
                .listen
                .iter()
                .map(|a| format!("udp:{a}"))
                .collect::<Vec<_>>()
                .join(","),
        },
        0,
    );
    let layout = Layout::new(&opts.output, opts.rotate.is_some());
    let open = |n: u32| -> Result<Part, CaptureError> {
        let opened_ns = now_ns();
        let path = layout.part(&template.host, n, opened_ns)?;
        Ok(Part {
            sink: FileSink::create(&path, &template, opts.force, opts.enrich.clone(), true)?,
            started: Instant::now(),
            opened_ns,
        })
    };
    on_event(CollectEvent::Listening {
        addrs: socks
            .iter()
            .filter_map(|s| s.sock.local_addr().ok())
            .collect(),
    });
    let mut part = open(1)?;
    let mut ingest = Ingest::new();
    let mut out = CollectSummary {
        parts: Vec::new(),
        metadata: Vec::new(),
        datagrams: 0,
        rows: 0,
        socket_drops: 0,
        elapsed: Duration::ZERO,
    };
    let start = Instant::now();
    let mut last_status = start;
    let mut buf = vec![0u8; 65_536];
    let mut fds: Vec<libc::pollfd> = socks
        .iter()
        .map(|s| libc::pollfd {
            fd: s.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    loop {
        let done = stop.load(Ordering::Relaxed)
            || opts.duration.is_some_and(|d| start.elapsed() >= d)
            || opts.count.is_some_and(|c| out.datagrams >= c);
        if done {
            break;
        }
        // SAFETY: fds is a valid array of pollfd of the given length.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 100) };
        for s in &socks {
            // A bounded batch per socket, so none starves the others.
            for _ in 0..256 {
                let n = match s.sock.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(CaptureError::Sys {
                            what: "receiving a datagram",
                            source: e,
                        });
                    }
                };
                out.datagrams += 1;
                ingest.datagram(&buf[..n], now_ns(), &mut part.sink);
                if opts.count.is_some_and(|c| out.datagrams >= c) {
                    break;
                }
            }
        }
        let due = match opts.rotate {
            _ if layout.day_ended(part.opened_ns, now_ns()) => true,
            Some(Rotate::Every(d)) => part.started.elapsed() >= d,
            Some(Rotate::Bytes(b)) => part.sink.bytes >= b,
            None => false,
        };
        if due {
            let next = open(out.parts.len() as u32 + 2)?;
            let done = std::mem::replace(&mut part, next);
            close(
                done,
                &mut ingest,
                (&template, &layout, opts.force),
                &mut socks,
                &mut out,
            )?;
            on_event(CollectEvent::Rotated {
                path: out.parts.last().cloned().unwrap_or_default(),
            });
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            last_status = Instant::now();
            on_event(CollectEvent::Status {
                datagrams: out.datagrams,
                rows: out.rows + ingest.rows(),
                elapsed: start.elapsed(),
            });
        }
    }
    close(
        part,
        &mut ingest,
        (&template, &layout, opts.force),
        &mut socks,
        &mut out,
    )?;
    out.elapsed = start.elapsed();
    Ok(out)
}

/// Finish a part: its strata, its sFlow section and the socket drops
/// since it began.
fn close(
    part: Part,
    ingest: &mut Ingest,
    (template, layout, force): (&CaptureMetadata, &Layout, bool),
    socks: &mut [Socket],
    out: &mut CollectSummary,
) -> Result<(), CaptureError> {
    let p = ingest.take_part();
    let mut meta = template.clone();
    meta.interfaces = p.interfaces;
    let mut sflow = p.sflow;
    for s in socks.iter_mut() {
        let now = socket_drops(s.inode);
        sflow.socket_drops += now.saturating_sub(s.drops_base);
        s.drops_base = now;
    }
    out.socket_drops += sflow.socket_drops;
    meta.sflow = Some(sflow);
    out.rows += p.rows;
    let (path, meta) = part.sink.finish(meta)?;
    layout.committed(&path, &meta, force)?;
    out.parts.push(path);
    out.metadata.push(meta);
    Ok(())
}
