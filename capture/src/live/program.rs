//! The kernel program: loading it, attaching it to devices (at start and
//! as they appear), detaching it with the guarantee that nothing runs
//! afterwards, and reading its counters.

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::LinkOrder;
use aya::programs::links::FdLink;
use aya::programs::tc::{SchedClassifier, TcAttachOptions, TcAttachType};
use aya::{Ebpf, EbpfLoader, include_bytes_aligned};
use pktsample_schemas::Direction;
use pktsample_schemas::decode::linktype;

use crate::error::CaptureError;
use crate::netdev::Device;

use super::abi::{self, Config, Counters};
use super::{Hooks, sys};

/// The compiled kernel program (rebuild with `just ebpf`; a test checks it is
/// not stale).
static BPF_OBJECT: &[u8] = include_bytes_aligned!("../../../ebpf/pktsample.bpf.o");

/// The loaded program and its links.
pub struct Program {
    bpf: Ebpf,
    counters: PerCpuArray<MapData, Counters>,
    hooks: Hooks,
    /// (ifindex, the links of its hooks).
    links: Vec<(u32, Vec<FdLink>)>,
}

fn prog_name(d: Direction) -> (&'static str, TcAttachType) {
    match d {
        Direction::Ingress => ("pktsample_ingress", TcAttachType::Ingress),
        _ => ("pktsample_egress", TcAttachType::Egress),
    }
}

impl Program {
    /// Load the object with a ring of `ring_bytes` (the reader wakes when an
    /// eighth of it is full).
    pub fn load(
        ring_bytes: u32,
        hooks: Hooks,
    ) -> Result<(Program, RingBuf<MapData>), CaptureError> {
        let wakeup_bytes = (ring_bytes / 8) as u64;
        let mut bpf: Ebpf = EbpfLoader::new()
            .map_max_entries("events", ring_bytes)
            .override_global("wakeup_bytes", &wakeup_bytes, true)
            .load(BPF_OBJECT)
            .map_err(|e| CaptureError::bpf("loading the BPF program", e))?;
        let take = |bpf: &mut Ebpf, name: &str| {
            bpf.take_map(name).ok_or_else(|| {
                CaptureError::bpf(
                    "map",
                    std::io::Error::new(std::io::ErrorKind::NotFound, format!("{name} missing")),
                )
            })
        };
        let ring = RingBuf::try_from(take(&mut bpf, "events")?)
            .map_err(|e| CaptureError::bpf("ring buffer", e))?;
        let counters = PerCpuArray::try_from(take(&mut bpf, "counters")?)
            .map_err(|e| CaptureError::bpf("counters map", e))?;
        for d in hooks.directions() {
            let (name, _) = prog_name(*d);
            let prog = Self::classifier(&mut bpf, name)?;
            prog.load()
                .map_err(|e| CaptureError::bpf("loading the BPF program", e))?;
        }
        Ok((
            Program {
                bpf,
                counters,
                hooks,
                links: Vec::new(),
            },
            ring,
        ))
    }

    fn classifier<'a>(
        bpf: &'a mut Ebpf,
        name: &str,
    ) -> Result<&'a mut SchedClassifier, CaptureError> {
        bpf.program_mut(name)
            .ok_or_else(|| {
                CaptureError::bpf(
                    "program",
                    std::io::Error::new(std::io::ErrorKind::NotFound, format!("{name} missing")),
                )
            })?
            .try_into()
            .map_err(|e| CaptureError::bpf(name.to_string(), e))
    }

    fn config(&mut self) -> Result<BpfHashMap<&mut MapData, u32, Config>, CaptureError> {
        let m = self.bpf.map_mut("config").ok_or_else(|| {
            CaptureError::bpf(
                "map",
                std::io::Error::new(std::io::ErrorKind::NotFound, "config missing"),
            )
        })?;
        BpfHashMap::try_from(m).map_err(|e| CaptureError::bpf("config map", e))
    }

    /// Configure and attach `dev` with counter slot `slot`.
    pub fn attach(
        &mut self,
        dev: &Device,
        slot: u32,
        rate: u32,
        snaplen: u32,
        fib: bool,
    ) -> Result<(), CaptureError> {
        let mut flags = if fib { abi::CFG_FIB } else { 0 };
        if dev.link_type != linktype::ETHERNET {
            flags |= abi::CFG_L3;
        }
        let c = Config {
            sampling_rate: rate,
            snaplen,
            slot,
            flags,
        };
        self.config()?
            .insert(dev.ifindex, c, 0)
            .map_err(|e| CaptureError::bpf("configuring the BPF program", e))?;
        let mut links = Vec::new();
        for d in self.hooks.directions() {
            let (name, attach) = prog_name(*d);
            let prog = Self::classifier(&mut self.bpf, name)?;
            let attached = prog
                .attach_with_options(
                    &dev.name,
                    attach,
                    TcAttachOptions::TcxOrder(LinkOrder::default()),
                )
                .and_then(|id| prog.take_link(id));
            match attached {
                Ok(link) => links
                    .push(FdLink::try_from(link).map_err(|e| CaptureError::bpf("TCX link", e))?),
                Err(e) => {
                    // Nothing half-attached stays behind.
                    drop(links);
                    let _ = self.config()?.remove(&dev.ifindex);
                    return Err(CaptureError::Attach {
                        name: dev.name.clone(),
                        detail: e.to_string(),
                    });
                }
            }
        }
        self.links.push((dev.ifindex, links));
        Ok(())
    }

    /// A device went away (its TCX links with it): drop its configuration.
    pub fn forget(&mut self, ifindex: u32) {
        self.links.retain(|(i, _)| *i != ifindex);
        if let Ok(mut c) = self.config() {
            let _ = c.remove(&ifindex);
        }
    }

    /// Detach every link now. When this returns, no run of the program is
    /// in flight (see [`sys::detach_link`]): the ring holds every sample it
    /// will ever hold, and the counters are final.
    pub fn detach_all(&mut self) -> Result<(), CaptureError> {
        for (_, links) in std::mem::take(&mut self.links) {
            for l in links {
                let id = l
                    .info()
                    .map_err(|e| CaptureError::bpf("TCX link info", e))?
                    .id();
                sys::detach_link(id)?;
            }
        }
        Ok(())
    }

    /// Counters per slot (of `n`) and direction, summed over CPUs.
    pub fn counters(&self, n: usize) -> Result<Vec<[Counters; 2]>, CaptureError> {
        let mut out = vec![[Counters::default(); 2]; n];
        for (slot, c) in out.iter_mut().enumerate() {
            for (dir, c) in c.iter_mut().enumerate() {
                let per_cpu = self
                    .counters
                    .get(&((slot * 2 + dir) as u32), 0)
                    .map_err(|e| CaptureError::bpf("reading counters", e))?;
                for v in per_cpu.iter() {
                    c.packets_seen += v.packets_seen;
                    c.samples += v.samples;
                    c.drops += v.drops;
                }
            }
        }
        Ok(out)
    }
}
