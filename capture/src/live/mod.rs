//! Live capture: the eBPF sampler at the TCX hooks, loaded with aya.
//!
//! The kernel program (`ebpf/pktsample.bpf.c`, compiled object committed and
//! embedded here) counts every packet per interface and direction, samples
//! 1-in-N, and hands samples to user space through a BPF ring buffer; a
//! reservation that fails is counted as a drop. This module configures it,
//! attaches it with TCX links (released by the kernel when the process dies,
//! even after `kill -9`), turns ring records into rows, and writes the file
//! with exact counters read after detaching.

pub mod abi;

use std::io::IsTerminal;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::LinkOrder;
use aya::programs::tc::{SchedClassifier, TcAttachOptions, TcAttachType};
use aya::{Ebpf, EbpfLoader, include_bytes_aligned};
use pktsample_schemas::samples::BATCH_ROWS;
use pktsample_schemas::{
    CaptureMetadata, Direction, DirectionStats, InterfaceMeta, SampleBatchBuilder, SampleRow,
    SampleWriter, Source,
};

use crate::error::CaptureError;
use crate::replay::{MIN_SNAPLEN, check_rate_and_snaplen};
use abi::{Config, Counters, Event};
use pktsample_schemas::Enrich;

/// The compiled kernel program (rebuild with `just ebpf`; a test checks it is
/// not stale).
static BPF_OBJECT: &[u8] = include_bytes_aligned!("../../../ebpf/pktsample.bpf.o");

/// Which hooks to attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hooks {
    Both,
    Ingress,
    Egress,
}

impl Hooks {
    fn directions(self) -> &'static [Direction] {
        match self {
            Hooks::Both => &[Direction::Ingress, Direction::Egress],
            Hooks::Ingress => &[Direction::Ingress],
            Hooks::Egress => &[Direction::Egress],
        }
    }
}

/// When to start a new output part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotate {
    Every(Duration),
    Bytes(u64),
}

#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub interfaces: Vec<String>,
    pub sampling_rate: u32,
    pub hooks: Hooks,
    pub snaplen: u32,
    pub duration: Option<Duration>,
    pub count: Option<u64>,
    pub rotate: Option<Rotate>,
    /// Ring buffer size in bytes (a power of two, at least a page).
    pub ring_bytes: u32,
    /// Look up the routed egress interface of ingress samples.
    pub fib: bool,
    pub output: PathBuf,
    pub force: bool,
    /// A status line on stderr when it is a terminal.
    pub status: bool,
    /// Fill the AS columns from an ASN database.
    pub asn: Option<Arc<dyn Enrich>>,
}

/// What a live capture did.
#[derive(Debug)]
pub struct LiveSummary {
    /// Files written, in order (one unless rotating).
    pub parts: Vec<PathBuf>,
    /// Totals over the whole capture.
    pub metadata: CaptureMetadata,
    pub elapsed: Duration,
}

/// Longest a sample waits in the ring before user space reads it.
const POLL_MS: i32 = 10;

/// The oldest kernel with TCX.
const MIN_KERNEL: (u32, u32) = (6, 6);
const CAP_NET_ADMIN: u32 = 12;
const CAP_BPF: u32 = 39;

struct Iface {
    name: String,
    ifindex: u32,
    /// Link type of what the program sees at TC on this device.
    link_type: u32,
    mac: Option<String>,
    mtu: Option<u32>,
}

/// Parse `major.minor` from a kernel release string.
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn check_kernel() -> Result<(), CaptureError> {
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
fn check_privileges() -> Result<(), CaptureError> {
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

fn sysfs(name: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/{file}"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// The current ifindex of interface `name`, if it exists.
pub fn ifindex(name: &str) -> Option<u32> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['/', '\0']) {
        return None;
    }
    sysfs(name, "ifindex").and_then(|s| s.parse().ok())
}

/// The link type of what the TC hooks see on a device, from its ARPHRD
/// type (`/sys/class/net/IF/type`), as libpcap maps them: Ethernet-framed
/// devices (Ethernet, veth, bridge, VLAN, vxlan, loopback) or devices whose
/// packets start at the IP header (tun, WireGuard, ipip, sit, GRE, PPP).
fn device_link_type(name: &str) -> Result<u32, CaptureError> {
    use pktsample_schemas::decode::linktype;
    let arphrd: u32 = sysfs(name, "type")
        .and_then(|t| t.parse().ok())
        .unwrap_or(1);
    match arphrd {
        // ETHER, LOOPBACK
        1 | 772 => Ok(linktype::ETHERNET),
        // NONE (tun, WireGuard), TUNNEL (ipip), TUNNEL6, SIT, IPGRE,
        // IP6GRE, RAWIP, PPP
        65534 | 768 | 769 | 776 | 778 | 823 | 519 | 512 => Ok(linktype::RAW),
        t => Err(CaptureError::Attach {
            name: name.to_string(),
            detail: format!(
                "device type {t} (ARPHRD) is not supported; pktsample captures Ethernet-framed devices and devices without a link-layer header (tun, WireGuard, ipip, sit, GRE)"
            ),
        }),
    }
}

fn resolve(name: &str) -> Result<Iface, CaptureError> {
    let ifindex = ifindex(name).ok_or_else(|| CaptureError::UnknownInterface {
        name: name.to_string(),
    })?;
    Ok(Iface {
        name: name.to_string(),
        ifindex,
        link_type: device_link_type(name)?,
        mac: sysfs(name, "address").filter(|m| m.len() == 17),
        mtu: sysfs(name, "mtu").and_then(|m| m.parse().ok()),
    })
}

fn bpf_err(what: &str, e: impl std::fmt::Display) -> CaptureError {
    CaptureError::Bpf(format!("{what}: {e}"))
}

/// Offset from CLOCK_MONOTONIC (what `bpf_ktime_get_ns` reads) to UTC, taken
/// as the tightest of a few bracketed readings.
fn monotonic_to_utc() -> i64 {
    let read = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: valid clock id and out pointer.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    };
    let mut best = (i64::MAX, 0);
    for _ in 0..5 {
        let m0 = read(libc::CLOCK_MONOTONIC);
        let r = read(libc::CLOCK_REALTIME);
        let m1 = read(libc::CLOCK_MONOTONIC);
        if m1 - m0 < best.0 {
            best = (m1 - m0, r - (m0 + (m1 - m0) / 2));
        }
    }
    best.1
}

/// Path of part `n` (1-based) when rotating: `run.parquet` → `run-0001.parquet`.
pub fn part_path(output: &Path, n: u32) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = output
        .extension()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!("{stem}-{n:04}.{ext}"))
}

/// Counters per interface slot and direction, summed over CPUs.
fn read_counters(
    map: &PerCpuArray<MapData, Counters>,
    n: usize,
) -> Result<Vec<[Counters; 2]>, CaptureError> {
    let mut out = vec![[Counters::default(); 2]; n];
    for (slot, c) in out.iter_mut().enumerate() {
        for (dir, c) in c.iter_mut().enumerate() {
            let per_cpu = map
                .get(&((slot * 2 + dir) as u32), 0)
                .map_err(|e| bpf_err("reading counters", e))?;
            for v in per_cpu.iter() {
                c.packets_seen += v.packets_seen;
                c.samples += v.samples;
                c.drops += v.drops;
            }
        }
    }
    Ok(out)
}

/// One output file being written.
struct Part {
    writer: SampleWriter,
    started: Instant,
    /// Counters when the part began (its metadata holds the difference).
    base: Vec<[Counters; 2]>,
    first_ns: Option<i64>,
    last_ns: Option<i64>,
    /// Rows written per interface slot and direction.
    written: Vec<[u64; 2]>,
    /// Header bytes written, a size estimate for `--rotate SIZE`.
    bytes: u64,
}

struct Session<'a> {
    opts: &'a LiveOptions,
    ifaces: Vec<Iface>,
    template: CaptureMetadata,
}

impl Session<'_> {
    /// Metadata for counters `now` minus `base`, with `written` rows per slot
    /// and direction. `samples` is what reached the file; at the end of a
    /// capture (`last_part`), selected samples never written (left in the ring
    /// when `--count` stopped the capture) count as drops, so that
    /// `samples + drops` is every packet selected.
    fn metadata(
        &self,
        now: &[[Counters; 2]],
        base: &[[Counters; 2]],
        written: &[[u64; 2]],
        last_part: bool,
        first: Option<i64>,
        last: Option<i64>,
    ) -> CaptureMetadata {
        let mut m = self.template.clone();
        m.set_time_range(first, last);
        m.interfaces = self
            .ifaces
            .iter()
            .enumerate()
            .map(|(slot, i)| {
                let mut directions = std::collections::BTreeMap::new();
                for d in self.opts.hooks.directions() {
                    let k = match d {
                        Direction::Ingress => 0,
                        _ => 1,
                    };
                    let (n, b, w) = (now[slot][k], base[slot][k], written[slot][k]);
                    let unwritten = if last_part {
                        (n.samples - b.samples).saturating_sub(w)
                    } else {
                        0
                    };
                    directions.insert(
                        *d,
                        DirectionStats {
                            packets_seen: n.packets_seen - b.packets_seen,
                            samples: w,
                            drops: n.drops - b.drops + unwritten,
                        },
                    );
                }
                InterfaceMeta {
                    ifindex: i.ifindex,
                    name: i.name.clone(),
                    mac: i.mac.clone(),
                    mtu: i.mtu,
                    sampling_rate: self.opts.sampling_rate,
                    link_type: i.link_type,
                    directions,
                }
            })
            .collect();
        m
    }

    fn open_part(&self, n: u32, base: Vec<[Counters; 2]>) -> Result<Part, CaptureError> {
        let path = match self.opts.rotate {
            Some(_) => part_path(&self.opts.output, n),
            None => self.opts.output.clone(),
        };
        let none = vec![[0; 2]; base.len()];
        let meta = self.metadata(&base, &base, &none, false, None, None);
        Ok(Part {
            writer: SampleWriter::create_enriched(
                &path,
                self.opts.force,
                &meta,
                self.opts.asn.clone(),
            )?,
            started: Instant::now(),
            base,
            first_ns: None,
            last_ns: None,
            written: vec![[0; 2]; self.ifaces.len()],
            bytes: 0,
        })
    }

    fn close_part(
        &self,
        mut part: Part,
        builder: &mut SampleBatchBuilder,
        now: &[[Counters; 2]],
        last_part: bool,
    ) -> Result<PathBuf, CaptureError> {
        if !builder.is_empty() {
            part.writer.write(&builder.finish())?;
        }
        let meta = self.metadata(
            now,
            &part.base,
            &part.written,
            last_part,
            part.first_ns,
            part.last_ns,
        );
        Ok(part.writer.finish(&meta)?)
    }
}

/// Validate options that need no privileges.
pub fn check_options(opts: &LiveOptions) -> Result<(), CaptureError> {
    check_rate_and_snaplen(opts.sampling_rate, opts.snaplen, abi::MAX_SNAPLEN as u32)?;
    debug_assert!(MIN_SNAPLEN <= abi::MAX_SNAPLEN as u32);
    if opts.interfaces.is_empty() {
        return Err(CaptureError::Flag {
            flag: "-i",
            detail: "give at least one interface to capture on (or --replay FILE)".into(),
        });
    }
    if opts.interfaces.len() > abi::MAX_IFACES {
        return Err(CaptureError::Flag {
            flag: "-i",
            detail: format!("at most {} interfaces per capture", abi::MAX_IFACES),
        });
    }
    let page = 4096u32;
    if !opts.ring_bytes.is_power_of_two() || opts.ring_bytes < page {
        return Err(CaptureError::Flag {
            flag: "--ring-size",
            detail: format!(
                "{} bytes is not a power of two of at least {page}",
                opts.ring_bytes
            ),
        });
    }
    if let Some(Rotate::Every(d)) = opts.rotate
        && d.is_zero()
    {
        return Err(CaptureError::Flag {
            flag: "--rotate",
            detail: "must be longer than 0s".into(),
        });
    }
    Ok(())
}

/// Capture until `stop` is set, the duration or count is reached, or an error.
pub fn capture_live(
    opts: &LiveOptions,
    stop: Arc<AtomicBool>,
    attached: &dyn Fn(),
) -> Result<LiveSummary, CaptureError> {
    check_options(opts)?;
    check_kernel()?;
    check_privileges()?;
    let mut ifaces = Vec::new();
    for name in &opts.interfaces {
        let i = resolve(name)?;
        if ifaces.iter().any(|o: &Iface| o.ifindex == i.ifindex) {
            return Err(CaptureError::Flag {
                flag: "-i",
                detail: format!("interface '{name}' given twice"),
            });
        }
        ifaces.push(i);
    }
    let started = Instant::now();
    let offset = monotonic_to_utc();

    let wakeup_bytes = (opts.ring_bytes / 8) as u64;
    let mut bpf: Ebpf = EbpfLoader::new()
        .map_max_entries("events", opts.ring_bytes)
        .override_global("wakeup_bytes", &wakeup_bytes, true)
        .load(BPF_OBJECT)
        .map_err(|e| bpf_err("loading the BPF program", e))?;
    {
        let mut config: BpfHashMap<_, u32, Config> = BpfHashMap::try_from(
            bpf.map_mut("config")
                .ok_or_else(|| bpf_err("map", "config missing"))?,
        )
        .map_err(|e| bpf_err("config map", e))?;
        for (slot, i) in ifaces.iter().enumerate() {
            let c = Config {
                sampling_rate: opts.sampling_rate,
                snaplen: opts.snaplen,
                slot: slot as u32,
                flags: if opts.fib { abi::CFG_FIB } else { 0 }
                    | if i.link_type == pktsample_schemas::decode::linktype::ETHERNET {
                        0
                    } else {
                        abi::CFG_L3
                    },
            };
            config
                .insert(i.ifindex, c, 0)
                .map_err(|e| bpf_err("configuring the BPF program", e))?;
        }
    }
    let mut ring = RingBuf::try_from(
        bpf.take_map("events")
            .ok_or_else(|| bpf_err("map", "events missing"))?,
    )
    .map_err(|e| bpf_err("ring buffer", e))?;
    let counters: PerCpuArray<MapData, Counters> = PerCpuArray::try_from(
        bpf.take_map("counters")
            .ok_or_else(|| bpf_err("map", "counters missing"))?,
    )
    .map_err(|e| bpf_err("counters map", e))?;

    for d in opts.hooks.directions() {
        let (prog_name, attach) = match d {
            Direction::Ingress => ("pktsample_ingress", TcAttachType::Ingress),
            _ => ("pktsample_egress", TcAttachType::Egress),
        };
        let prog: &mut SchedClassifier = bpf
            .program_mut(prog_name)
            .ok_or_else(|| bpf_err("program", format!("{prog_name} missing")))?
            .try_into()
            .map_err(|e| bpf_err(prog_name, e))?;
        prog.load()
            .map_err(|e| bpf_err("loading the BPF program", e))?;
        for i in &ifaces {
            prog.attach_with_options(
                &i.name,
                attach,
                TcAttachOptions::TcxOrder(LinkOrder::default()),
            )
            .map_err(|e| CaptureError::Attach {
                name: i.name.clone(),
                detail: e.to_string(),
            })?;
        }
    }

    attached();
    let template = CaptureMetadata::new(
        Source::Tcx {
            ring_bytes: Some(opts.ring_bytes as u64),
        },
        opts.snaplen,
    );
    let session = Session {
        opts,
        ifaces,
        template,
    };
    let zero = vec![[Counters::default(); 2]; session.ifaces.len()];
    let mut part = session.open_part(1, zero)?;
    let mut parts = Vec::new();
    let mut builder = SampleBatchBuilder::new();
    let mut total_rows = 0u64;
    let (mut first_ns, mut last_ns) = (None, None);
    let status = opts.status && std::io::stderr().is_terminal();
    let mut last_status = Instant::now();
    let mut last_check = Instant::now();
    let mut rows_at_status = 0u64;
    let mut gone: Option<String> = None;
    let mut result: Result<(), CaptureError> = Ok(());

    let names: std::collections::HashMap<u32, (String, usize, u32)> = session
        .ifaces
        .iter()
        .enumerate()
        .map(|(slot, i)| (i.ifindex, (i.name.clone(), slot, i.link_type)))
        .collect();
    let mut total_written = vec![[0u64; 2]; session.ifaces.len()];
    let mut drain = |ring: &mut RingBuf<MapData>,
                     part: &mut Part,
                     builder: &mut SampleBatchBuilder,
                     total_rows: &mut u64,
                     first_ns: &mut Option<i64>,
                     last_ns: &mut Option<i64>|
     -> Result<(), CaptureError> {
        while let Some(item) = ring.next() {
            let Some(e) = Event::from_bytes(&item) else {
                continue;
            };
            let ts = e.timestamp_ns as i64 + offset;
            let direction = if e.direction == abi::DIR_INGRESS {
                Direction::Ingress
            } else {
                Direction::Egress
            };
            let Some((ifname, _, link_type)) = names.get(&e.ifindex) else {
                continue;
            };
            builder.push(&SampleRow {
                timestamp_ns: ts,
                ifindex: e.ifindex,
                ifname,
                direction,
                sampling_rate: e.sampling_rate,
                pkt_len: e.pkt_len,
                header: e.header(),
                ingress_ifindex: (e.ingress_ifindex != 0).then_some(e.ingress_ifindex),
                routed_ifindex: (e.flags & abi::F_ROUTED != 0).then_some(e.routed_ifindex),
                link_type: *link_type,
            });
            part.first_ns.get_or_insert(ts);
            part.last_ns = Some(ts);
            first_ns.get_or_insert(ts);
            *last_ns = Some(ts);
            let (_, slot, _) = names[&e.ifindex];
            part.written[slot][e.direction as usize & 1] += 1;
            total_written[slot][e.direction as usize & 1] += 1;
            part.bytes += e.cap_len as u64 + 64;
            *total_rows += 1;
            if builder.len() >= BATCH_ROWS {
                part.writer.write(&builder.finish())?;
            }
            if opts.count.is_some_and(|c| *total_rows >= c) {
                break;
            }
        }
        Ok(())
    };

    loop {
        let mut pfd = libc::pollfd {
            fd: ring.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // The kernel wakes us only when the ring is an eighth full, so poll
        // on a short timer too: samples wait at most this long.
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, POLL_MS) };
        if let Err(e) = drain(
            &mut ring,
            &mut part,
            &mut builder,
            &mut total_rows,
            &mut first_ns,
            &mut last_ns,
        ) {
            result = Err(e);
            break;
        }
        if stop.load(Ordering::Relaxed)
            || opts.duration.is_some_and(|d| started.elapsed() >= d)
            || opts.count.is_some_and(|c| total_rows >= c)
        {
            break;
        }
        if last_check.elapsed() >= Duration::from_millis(250) {
            last_check = Instant::now();
            if let Some(i) = session
                .ifaces
                .iter()
                .find(|i| ifindex(&i.name) != Some(i.ifindex))
            {
                gone = Some(i.name.clone());
                break;
            }
        }
        let rotate_now = match opts.rotate {
            Some(Rotate::Every(d)) => part.started.elapsed() >= d,
            Some(Rotate::Bytes(b)) => part.bytes >= b,
            None => false,
        };
        if rotate_now {
            let now = read_counters(&counters, session.ifaces.len())?;
            let n = parts.len() as u32 + 2;
            let next = session.open_part(n, now.clone())?;
            let done = std::mem::replace(&mut part, next);
            parts.push(session.close_part(done, &mut builder, &now, false)?);
        }
        if status && last_status.elapsed() >= Duration::from_secs(1) {
            let c = read_counters(&counters, session.ifaces.len())?;
            let drops: u64 = c.iter().flatten().map(|x| x.drops).sum();
            let secs = last_status.elapsed().as_secs_f64();
            eprint!(
                "\r{} samples ({:.0}/s), {} drops, {:.0}s  ",
                total_rows,
                (total_rows - rows_at_status) as f64 / secs,
                drops,
                started.elapsed().as_secs_f64()
            );
            rows_at_status = total_rows;
            last_status = Instant::now();
        }
    }
    if status {
        eprintln!();
    }
    // Detach (dropping the programs releases the TCX links), let programs in
    // flight finish, then take what is left in the ring and the final counts.
    drop(bpf);
    std::thread::sleep(Duration::from_millis(20));
    if result.is_ok() && opts.count.is_none_or(|c| total_rows < c) {
        result = drain(
            &mut ring,
            &mut part,
            &mut builder,
            &mut total_rows,
            &mut first_ns,
            &mut last_ns,
        );
    }
    let now = read_counters(&counters, session.ifaces.len())?;
    result?;
    parts.push(session.close_part(part, &mut builder, &now, true)?);
    let mut metadata = session.metadata(
        &now,
        &zero_like(&now),
        &total_written,
        true,
        first_ns,
        last_ns,
    );
    metadata.snaplen = opts.snaplen;
    if let Some(name) = gone {
        return Err(CaptureError::InterfaceGone {
            name,
            kept: parts.last().cloned().unwrap_or_default(),
        });
    }
    Ok(LiveSummary {
        parts,
        metadata,
        elapsed: started.elapsed(),
    })
}

fn zero_like(v: &[[Counters; 2]]) -> Vec<[Counters; 2]> {
    vec![[Counters::default(); 2]; v.len()]
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

    #[test]
    fn part_paths() {
        assert_eq!(
            part_path(Path::new("/tmp/run.parquet"), 3),
            PathBuf::from("/tmp/run-0003.parquet")
        );
    }

    #[test]
    fn clock_offset_is_plausible() {
        // UTC now minus uptime: some time after 2020.
        assert!(monotonic_to_utc() > 1_577_836_800_000_000_000);
    }
}
