//! `convert sflow.pcap`: the sFlow datagrams inside a capture (UDP to port
//! 6343, or another), read as `collect` would have received them, each at
//! its capture timestamp. IP fragments are put back together (datagrams of
//! switches with jumbo frames), with etherparse's reassembly.

use std::path::{Path, PathBuf};

use etherparse::SlicedPacket;
use etherparse::defrag::IpDefragPool;
use pktsample_schemas::decode::linktype;
use pktsample_schemas::input::{CaptureReader, Interface, Packet, Visitor};
use pktsample_schemas::{CaptureMetadata, Enrichment, FormatError, Source};

use super::FileSink;
use super::ingest::Ingest;
use crate::CaptureError;

/// What a conversion read and wrote.
#[derive(Debug)]
pub struct SflowConvertSummary {
    pub output: PathBuf,
    pub rows: u64,
    /// sFlow datagrams read (readable or not).
    pub datagrams: u64,
    /// Packets of the capture that are not UDP to the sFlow port.
    pub other_packets: u64,
    /// Datagrams whose fragments never all arrived.
    pub incomplete: u64,
    pub metadata: CaptureMetadata,
}

/// Reassemblies in flight past which those older than [`FRAGMENT_NS`] are
/// given up: memory stays bounded by what a window of the capture holds.
const MAX_PENDING: usize = 4096;
/// Fragments older than this (capture time) are given up.
const FRAGMENT_NS: i64 = 30_000_000_000;

/// A datagram being reassembled: addresses and IP identification.
type FragKey = (std::net::IpAddr, std::net::IpAddr, u32);

/// A UDP datagram found in a packet.
enum Found<'a> {
    Udp(u16, &'a [u8]),
    Reassembled(u16, Vec<u8>),
    /// A fragment kept until its datagram is whole.
    Fragment,
    Nothing,
}

/// The UDP datagrams of a capture's packets.
struct Udp {
    linktypes: Vec<u32>,
    defrag: IpDefragPool<i64, ()>,
    /// Reassemblies in flight, with their first fragment's time.
    pending: rustc_hash::FxHashMap<FragKey, i64>,
    /// Datagrams given up with fragments missing.
    incomplete: u64,
}

impl Udp {
    fn new() -> Self {
        Udp {
            linktypes: Vec::new(),
            defrag: IpDefragPool::new(),
            pending: rustc_hash::FxHashMap::default(),
            incomplete: 0,
        }
    }

    fn find<'a>(&mut self, p: &Packet<'a>) -> Found<'a> {
        let lt = self.linktypes.get(p.iface).copied().unwrap_or(0);
        let d = p.data;
        let sliced = match lt {
            linktype::ETHERNET => SlicedPacket::from_ethernet(d),
            linktype::LINUX_SLL => SlicedPacket::from_linux_sll(d),
            linktype::RAW | linktype::IPV4 | linktype::IPV6 => SlicedPacket::from_ip(d),
            linktype::LINUX_SLL2 if d.len() >= 20 => SlicedPacket::from_ip(&d[20..]),
            linktype::NULL | linktype::LOOP if d.len() >= 4 => SlicedPacket::from_ip(&d[4..]),
            _ => return Found::Nothing,
        };
        let Ok(s) = sliced else {
            return Found::Nothing;
        };
        if let Some(etherparse::TransportSlice::Udp(u)) = &s.transport {
            return Found::Udp(u.destination_port(), u.payload());
        }
        let Some(key) = fragment_key(&s) else {
            return Found::Nothing;
        };
        match self.defrag.process_sliced_packet(&s, p.timestamp_ns, ()) {
            Ok(Some(whole)) => {
                self.pending.remove(&key);
                let b = whole.payload;
                if whole.ip_number == etherparse::IpNumber::UDP && b.len() >= 8 {
                    Found::Reassembled(u16::from_be_bytes([b[2], b[3]]), b[8..].to_vec())
                } else {
                    Found::Nothing
                }
            }
            Ok(_) => {
                self.pending.entry(key).or_insert(p.timestamp_ns);
                if self.pending.len() > MAX_PENDING {
                    let now = p.timestamp_ns;
                    self.defrag.retain(|t| now - *t < FRAGMENT_NS);
                    let before = self.pending.len();
                    self.pending.retain(|_, t| now - *t < FRAGMENT_NS);
                    self.incomplete += (before - self.pending.len()) as u64;
                }
                Found::Fragment
            }
            Err(_) => {
                self.pending.remove(&key);
                self.incomplete += 1;
                Found::Fragment
            }
        }
    }
}

/// The reassembly key of an IP fragment; `None` for a whole packet.
fn fragment_key(s: &SlicedPacket<'_>) -> Option<FragKey> {
    match &s.net {
        Some(etherparse::NetSlice::Ipv4(v4)) if v4.is_payload_fragmented() => {
            let h = v4.header();
            Some((
                h.source_addr().into(),
                h.destination_addr().into(),
                u32::from(h.identification()),
            ))
        }
        Some(etherparse::NetSlice::Ipv6(v6)) if v6.is_payload_fragmented() => {
            let h = v6.header();
            let id = v6.extensions().clone().into_iter().find_map(|e| match e {
                etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f.identification()),
                _ => None,
            });
            Some((h.source_addr().into(), h.destination_addr().into(), id?))
        }
        _ => None,
    }
}

struct Convert<'a> {
    udp: Udp,
    port: u16,
    ingest: Ingest,
    sink: &'a mut FileSink,
    datagrams: u64,
    other: u64,
}

impl Visitor for Convert<'_> {
    type Error = FormatError;

    fn interface(&mut self, index: usize, iface: &Interface) -> Result<(), FormatError> {
        if self.udp.linktypes.len() <= index {
            self.udp.linktypes.resize(index + 1, 0);
        }
        self.udp.linktypes[index] = iface.linktype;
        Ok(())
    }

    fn packet(&mut self, p: &Packet<'_>) -> Result<(), FormatError> {
        match self.udp.find(p) {
            Found::Udp(port, b) if port == self.port => {
                self.datagrams += 1;
                self.ingest.datagram(b, p.timestamp_ns, self.sink);
            }
            Found::Reassembled(port, b) if port == self.port => {
                self.datagrams += 1;
                self.ingest.datagram(&b, p.timestamp_ns, self.sink);
            }
            Found::Fragment => {}
            _ => self.other += 1,
        }
        Ok(())
    }
}

/// Whether a capture carries sFlow to `port`: one of its first thousand
/// packets is a UDP datagram to that port that reads as sFlow 5.
pub fn carries_sflow(input: &Path, port: u16) -> Result<bool, FormatError> {
    /// Reading stops at the answer.
    enum Stop {
        Found(bool),
        Format(FormatError),
    }
    impl From<FormatError> for Stop {
        fn from(e: FormatError) -> Self {
            Stop::Format(e)
        }
    }
    struct Sniff {
        udp: Udp,
        port: u16,
        seen: u32,
    }
    impl Visitor for Sniff {
        type Error = Stop;
        fn interface(&mut self, index: usize, iface: &Interface) -> Result<(), Stop> {
            self.udp.linktypes.resize(index + 1, 0);
            self.udp.linktypes[index] = iface.linktype;
            Ok(())
        }
        fn packet(&mut self, p: &Packet<'_>) -> Result<(), Stop> {
            self.seen += 1;
            if let Found::Udp(port, b) = self.udp.find(p)
                && port == self.port
                && pktsample_schemas::sflow::decode(b).is_ok()
            {
                return Err(Stop::Found(true));
            }
            if self.seen >= 1000 {
                return Err(Stop::Found(false));
            }
            Ok(())
        }
    }
    let mut v = Sniff {
        udp: Udp::new(),
        port,
        seen: 0,
    };
    match CaptureReader::open(input)?.read(&mut v) {
        Ok(_) => Ok(false),
        Err(Stop::Found(b)) => Ok(b),
        Err(Stop::Format(e)) => Err(e),
    }
}

/// Convert the sFlow datagrams of `input` (UDP to `port`) into `output`.
pub fn convert_pcap(
    input: &Path,
    output: &Path,
    port: u16,
    force: bool,
    enrich: Enrichment,
) -> Result<SflowConvertSummary, CaptureError> {
    let reader = CaptureReader::open(input)?;
    let template = CaptureMetadata::new(
        Source::Sflow {
            input: format!("{} (UDP port {port})", input.display()),
        },
        0,
    );
    let mut sink = FileSink::create(output, &template, force, enrich, false)?;
    let mut v = Convert {
        udp: Udp::new(),
        port,
        ingest: Ingest::new(),
        sink: &mut sink,
        datagrams: 0,
        other: 0,
    };
    reader.read(&mut v)?;
    let (datagrams, other) = (v.datagrams, v.other);
    let part = v.ingest.take_part();
    // Reassemblies still waiting at the end never completed.
    let incomplete = v.udp.incomplete + v.udp.pending.len() as u64;
    if datagrams == 0 {
        return Err(FormatError::Write {
            path: input.into(),
            detail: format!(
                "no sFlow datagrams on UDP port {port} in this capture; give the collector's port with --sflow-port"
            ),
            source: None,
        }
        .into());
    }
    let mut meta = template;
    meta.interfaces = part.interfaces;
    meta.sflow = Some(part.sflow);
    let (output, meta) = sink.finish(meta)?;
    Ok(SflowConvertSummary {
        output,
        rows: part.rows,
        datagrams,
        other_packets: other,
        incomplete,
        metadata: meta,
    })
}
