//! Reading packets from pcap and pcapng files, zero-copy over a memory map.
//!
//! One reader serves every consumer: offline replay (sampling a capture),
//! `convert` and analyze (reading pcapng samples written by pktsample, or a
//! plain capture as samples at rate 1). It hands out borrowed packets in file
//! order with nanosecond timestamps (honouring pcapng `if_tsresol`/`if_tsoffset`
//! and the pcap nanosecond magic, in either byte order), the interface each
//! came from, its direction from `epb_flags`, and pktsample's own per-interface
//! and per-packet options when the file was written by pktsample.

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use pcap_file::DataLink;
use pcap_file::pcap::{PcapParseError, PcapParser, PcapTsResolution};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::interface_statistics::InterfaceStatisticsOption;
use pcap_file::pcapng::blocks::opt_common::CommonOption;
use pcap_file::pcapng::{Block, PcapNgParseError, PcapNgParser};

use crate::error::FormatError;
use crate::meta::{CaptureMetadata, Direction};
use crate::pcapng::{self as ours, IfaceOption, PacketOption};

/// What a file is, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Pcap,
    PcapNg,
    Parquet,
}

impl FileKind {
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Pcap => "pcap",
            FileKind::PcapNg => "pcapng",
            FileKind::Parquet => "Parquet",
        }
    }
}

/// Identify a file by its magic number.
pub fn sniff(path: &Path) -> Result<FileKind, FormatError> {
    use std::io::Read;
    let mut f = File::open(path).map_err(|e| FormatError::io(path, e))?;
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match f.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(FormatError::io(path, e)),
        }
    }
    if n == 0 {
        return Err(FormatError::Empty { path: path.into() });
    }
    let kind = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => FileKind::Pcap,
        [0x0a, 0x0d, 0x0d, 0x0a] => FileKind::PcapNg,
        [b'P', b'A', b'R', b'1'] => FileKind::Parquet,
        _ => {
            return Err(FormatError::UnknownFormat {
                path: path.into(),
                magic: magic[..n]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            });
        }
    };
    Ok(kind)
}

/// An interface described by the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The kernel ifindex when pktsample wrote the file; otherwise the
    /// interface's position in the file.
    pub ifindex: u32,
    pub name: String,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    /// Sampling rate already applied to this interface's packets (1 for a plain capture).
    pub sampling_rate: u32,
    pub linktype: u32,
    /// True when the interface carries pktsample's own option.
    pub pktsample: bool,
}

/// A packet, borrowed from the mapped file.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub timestamp_ns: i64,
    /// Position of the interface in [`CaptureReader`]'s interface list.
    pub iface: usize,
    pub orig_len: u32,
    pub data: &'a [u8],
    pub direction: Direction,
    pub ingress_ifindex: Option<u32>,
    pub routed_ifindex: Option<u32>,
}

/// Receives a file's contents in order.
pub trait Visitor {
    type Error: From<FormatError>;
    /// pktsample metadata (written at the end of a pcapng file).
    fn metadata(&mut self, _meta: CaptureMetadata) -> Result<(), Self::Error> {
        Ok(())
    }
    /// A new interface (index into the growing list).
    fn interface(&mut self, _index: usize, _iface: &Interface) -> Result<(), Self::Error> {
        Ok(())
    }
    fn packet(&mut self, p: &Packet<'_>) -> Result<(), Self::Error>;
    /// Called every few thousand packets with the byte offset reached.
    fn progress(&mut self, _offset: u64) {}
}

/// A memory-mapped pcap or pcapng file.
pub struct CaptureReader {
    path: PathBuf,
    map: Option<Mmap>,
    kind: FileKind,
}

/// Largest captured length we believe: anything larger is corruption.
const MAX_CAPLEN: u32 = 256 * 1024;

impl CaptureReader {
    pub fn open(path: &Path) -> Result<Self, FormatError> {
        let kind = sniff(path)?;
        if kind == FileKind::Parquet {
            return Err(FormatError::WrongFormat {
                path: path.into(),
                found: "Parquet",
                expected: "a pcap or pcapng capture",
            });
        }
        let f = File::open(path).map_err(|e| FormatError::io(path, e))?;
        // SAFETY: the map is read-only; a file truncated underneath us by another
        // process is the usual mmap caveat, accepted by every mmap reader.
        let map = unsafe { Mmap::map(&f) }.map_err(|e| FormatError::io(path, e))?;
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(CaptureReader {
            path: path.into(),
            map: Some(map),
            kind,
        })
    }

    pub fn kind(&self) -> FileKind {
        self.kind
    }

    pub fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Walk the whole file.
    pub fn read<V: Visitor>(&self, v: &mut V) -> Result<(), V::Error> {
        match self.kind {
            FileKind::Pcap => self.read_pcap(v),
            FileKind::PcapNg => self.read_pcapng(v),
            FileKind::Parquet => unreachable!("refused in open"),
        }
    }

    fn offset(&self, rest: &[u8]) -> u64 {
        (self.bytes().len() - rest.len()) as u64
    }

    fn truncated(&self, rest: &[u8], detail: impl Into<String>) -> FormatError {
        FormatError::Truncated {
            path: self.path.clone(),
            offset: self.offset(rest),
            detail: detail.into(),
        }
    }

    fn corrupt(&self, rest: &[u8], detail: impl Into<String>) -> FormatError {
        FormatError::Corrupt {
            path: self.path.clone(),
            offset: self.offset(rest),
            detail: detail.into(),
        }
    }

    fn read_pcap<V: Visitor>(&self, v: &mut V) -> Result<(), V::Error> {
        let all = self.bytes();
        let (mut rest, parser) = PcapParser::new(all).map_err(|e| match e {
            PcapParseError::IncompleteBuffer(..) => self.truncated(all, "in the pcap file header"),
            e => self.corrupt(all, crate::error::chain(&e)),
        })?;
        let h = parser.header();
        let linktype = u32::from(h.datalink);
        let iface = Interface {
            ifindex: 0,
            name: "pcap0".into(),
            mac: None,
            mtu: None,
            sampling_rate: 1,
            linktype,
            pktsample: false,
        };
        if h.datalink != DataLink::ETHERNET {
            return Err(FormatError::UnsupportedLinktype {
                path: self.path.clone(),
                linktype,
            }
            .into());
        }
        v.interface(0, &iface)?;
        let frac_ns: i64 = match h.ts_resolution {
            PcapTsResolution::MicroSecond => 1000,
            PcapTsResolution::NanoSecond => 1,
        };
        let mut n: u64 = 0;
        while !rest.is_empty() {
            let (next, raw) = match parser.next_raw_packet(rest) {
                Ok(x) => x,
                Err(PcapParseError::IncompleteBuffer(need, _)) => {
                    // A record header announcing an absurd length is corruption,
                    // not a short file.
                    if need > MAX_CAPLEN as usize + 16 {
                        return Err(self
                            .corrupt(rest, format!("record length {} is impossible", need - 16))
                            .into());
                    }
                    return Err(self
                        .truncated(
                            rest,
                            format!("the last record is incomplete, {} bytes remain", rest.len()),
                        )
                        .into());
                }
                Err(e) => return Err(self.corrupt(rest, crate::error::chain(&e)).into()),
            };
            if raw.incl_len > MAX_CAPLEN || raw.orig_len < raw.incl_len {
                return Err(self
                    .corrupt(
                        rest,
                        format!(
                            "record with captured length {} and original length {}",
                            raw.incl_len, raw.orig_len
                        ),
                    )
                    .into());
            }
            let data: &[u8] = match raw.data {
                Cow::Borrowed(d) => d,
                Cow::Owned(_) => unreachable!("parser borrows from the map"),
            };
            v.packet(&Packet {
                timestamp_ns: raw.ts_sec as i64 * 1_000_000_000 + raw.ts_frac as i64 * frac_ns,
                iface: 0,
                orig_len: raw.orig_len,
                data,
                direction: Direction::Unknown,
                ingress_ifindex: None,
                routed_ifindex: None,
            })?;
            rest = next;
            n += 1;
            if n.is_multiple_of(65536) {
                v.progress(self.offset(rest));
            }
        }
        v.progress(self.offset(rest));
        Ok(())
    }

    fn pcapng_error(&self, rest: &[u8], e: PcapNgParseError) -> FormatError {
        match e {
            PcapNgParseError::IncompleteBuffer(need, _) => {
                if need > MAX_CAPLEN as usize + 4096 {
                    self.corrupt(rest, format!("block length {need} is impossible"))
                } else {
                    self.truncated(
                        rest,
                        format!("the last block is incomplete, {} bytes remain", rest.len()),
                    )
                }
            }
            e => self.corrupt(rest, crate::error::chain(&e)),
        }
    }

    fn read_pcapng<V: Visitor>(&self, v: &mut V) -> Result<(), V::Error> {
        let all = self.bytes();
        let (mut rest, mut parser) =
            PcapNgParser::new(all).map_err(|e| self.pcapng_error(all, e))?;
        let mut ifaces: Vec<Interface> = Vec::new();
        // Interfaces are numbered per section; this maps a section's numbers
        // onto the reader's list.
        let mut section_base = 0usize;
        let mut n: u64 = 0;
        while !rest.is_empty() {
            let (next, block) = parser
                .next_block(rest)
                .map_err(|e| self.pcapng_error(rest, e))?;
            match block {
                Block::SectionHeader(_) => section_base = ifaces.len(),
                Block::InterfaceStatistics(isb) => {
                    for o in &isb.options {
                        if let InterfaceStatisticsOption::Common(CommonOption::CustomUtf8Copiable(
                            c,
                        )) = o
                            && c.pen == ours::PEN
                        {
                            let meta = CaptureMetadata::from_json(&c.value).map_err(|e| {
                                FormatError::NotSamples {
                                    path: self.path.clone(),
                                    reason: format!(
                                        "malformed pktsample metadata at byte offset {}: {e}",
                                        self.offset(rest)
                                    ),
                                }
                            })?;
                            v.metadata(meta)?;
                        }
                    }
                }
                Block::CustomCopiable(cb) if cb.pen == ours::PEN => {
                    // Custom data is padded to 32 bits; JSON has no NUL.
                    let payload = cb.payload.as_ref();
                    let end = payload.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                    let meta = std::str::from_utf8(&payload[..end])
                        .ok()
                        .and_then(|s| CaptureMetadata::from_json(s).ok())
                        .ok_or_else(|| FormatError::NotSamples {
                            path: self.path.clone(),
                            reason: format!(
                                "malformed pktsample metadata block at byte offset {}",
                                self.offset(rest)
                            ),
                        })?;
                    v.metadata(meta)?;
                }
                Block::InterfaceDescription(idb) => {
                    let iface = interface_from_idb(&idb, ifaces.len() - section_base);
                    v.interface(ifaces.len(), &iface)?;
                    ifaces.push(iface);
                }
                Block::EnhancedPacket(epb) => {
                    let index = section_base + epb.interface_id as usize;
                    let iface = &ifaces[index]; // the parser checked the id
                    if iface.linktype != u32::from(DataLink::ETHERNET) {
                        return Err(FormatError::UnsupportedLinktype {
                            path: self.path.clone(),
                            linktype: iface.linktype,
                        }
                        .into());
                    }
                    if epb.data.len() > MAX_CAPLEN as usize
                        || (epb.original_len as usize) < epb.data.len()
                    {
                        return Err(self
                            .corrupt(
                                rest,
                                format!(
                                    "packet with captured length {} and original length {}",
                                    epb.data.len(),
                                    epb.original_len
                                ),
                            )
                            .into());
                    }
                    let mut p = Packet {
                        timestamp_ns: i64::try_from(epb.timestamp.as_nanos())
                            .map_err(|_| self.corrupt(rest, "timestamp beyond year 2262"))?,
                        iface: index,
                        orig_len: epb.original_len,
                        data: match epb.data {
                            Cow::Borrowed(d) => d,
                            Cow::Owned(_) => unreachable!("parser borrows from the map"),
                        },
                        direction: Direction::Unknown,
                        ingress_ifindex: None,
                        routed_ifindex: None,
                    };
                    for o in &epb.options {
                        match o {
                            EnhancedPacketOption::Flags(f) => {
                                p.direction = Direction::from_epb_flags(*f)
                            }
                            EnhancedPacketOption::Common(CommonOption::CustomBinaryCopiable(c))
                                if c.pen == ours::PEN =>
                            {
                                let po = PacketOption::decode(&c.value).ok_or_else(|| {
                                    self.corrupt(rest, "malformed pktsample packet option")
                                })?;
                                p.ingress_ifindex = po.ingress_ifindex;
                                p.routed_ifindex = po.routed_ifindex;
                            }
                            _ => {}
                        }
                    }
                    v.packet(&p)?;
                    n += 1;
                    if n.is_multiple_of(65536) {
                        v.progress(self.offset(next));
                    }
                }
                // Simple packet blocks carry no timestamp; statistics and name
                // resolution are not samples. pktsample's statistics travel in
                // the section metadata.
                _ => {}
            }
            rest = next;
        }
        v.progress(self.offset(rest));
        Ok(())
    }
}

fn interface_from_idb(idb: &InterfaceDescriptionBlock<'_>, position: usize) -> Interface {
    let mut iface = Interface {
        ifindex: position as u32,
        name: String::new(),
        mac: None,
        mtu: None,
        sampling_rate: 1,
        linktype: u32::from(idb.linktype),
        pktsample: false,
    };
    for o in &idb.options {
        match o {
            InterfaceDescriptionOption::IfName(n) => iface.name = n.to_string(),
            InterfaceDescriptionOption::IfMacAddr(m) if m.len() == 6 => {
                iface.mac = Some(ours::format_mac(m))
            }
            InterfaceDescriptionOption::Common(CommonOption::CustomUtf8Copiable(c))
                if c.pen == ours::PEN =>
            {
                if let Some(io) = IfaceOption::decode(&c.value) {
                    iface.ifindex = io.ifindex;
                    iface.sampling_rate = io.sampling_rate;
                    iface.mtu = io.mtu;
                    iface.pktsample = true;
                }
            }
            _ => {}
        }
    }
    if iface.name.is_empty() {
        iface.name = format!("if{position}");
    }
    iface
}
