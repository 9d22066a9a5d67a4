//! Reading packets from pcap and pcapng files: zero-copy over a memory map,
//! or streaming from a gzip or zstd compressed file.
//!
//! One reader serves every consumer: offline replay (sampling a capture),
//! `convert` and analyze (reading pcapng samples written by pktsample, or a
//! plain capture as samples at rate 1), and inject. It hands out borrowed
//! packets in file order with nanosecond timestamps (honouring pcapng
//! `if_tsresol`/`if_tsoffset` and the pcap nanosecond magic, in either byte
//! order), the interface each came from, its direction (`epb_flags`, or the
//! packet type of a Linux cooked header), and pktsample's own per-interface
//! and per-packet options when the file was written by pktsample.
//!
//! Inputs as they come: several pcapng sections one after another, simple
//! and obsolete packet blocks, and interfaces of every link type. Packets of
//! link types pktsample cannot decode are counted per link type in
//! [`ReadStats`] and skipped; a file with nothing else is an error. A Linux
//! cooked v2 capture (`tcpdump -i any`) names each packet's interface by
//! ifindex: each becomes an interface of its own.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use pcap_file::pcap::{PcapParseError, PcapParser, PcapTsResolution};
use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::interface_statistics::InterfaceStatisticsOption;
use pcap_file::pcapng::blocks::opt_common::CommonOption;
use pcap_file::pcapng::{Block, PcapNgParseError, PcapNgParser};

use crate::decode::{cooked, linktype};
use crate::error::FormatError;
use crate::feed::{Compression, Feed, decompress, decompressor};
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

fn read_magic(r: &mut dyn std::io::Read, path: &Path) -> Result<([u8; 4], usize), FormatError> {
    let mut magic = [0u8; 4];
    let mut n = 0;
    while n < 4 {
        match r.read(&mut magic[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(FormatError::Corrupt {
                    path: path.into(),
                    offset: 0,
                    detail: format!("cannot decompress: {e}"),
                });
            }
        }
    }
    Ok((magic, n))
}

/// Identify a file by its magic number, looking through gzip or zstd
/// compression; returns the kind and the compression.
pub fn sniff_compressed(path: &Path) -> Result<(FileKind, Compression), FormatError> {
    let f = File::open(path).map_err(|e| FormatError::io(path, e))?;
    sniff_reader(Box::new(f), path)
}

/// [`sniff_compressed`] of the contents `raw` of `path`.
fn sniff_reader(
    mut raw: Box<dyn std::io::Read>,
    path: &Path,
) -> Result<(FileKind, Compression), FormatError> {
    let (outer, n) = read_magic(&mut raw, path)?;
    if n == 0 {
        return Err(FormatError::Empty { path: path.into() });
    }
    let compression = Compression::detect(&outer[..n]);
    let (magic, n) = match compression {
        Compression::None => (outer, n),
        c => {
            let head = std::io::Cursor::new(outer[..n].to_vec());
            let (mut r, _) = decompress(Box::new(head.chain(raw)), path, c)?;
            let (m, k) = read_magic(&mut r, path)?;
            if k == 0 {
                return Err(FormatError::Empty { path: path.into() });
            }
            (m, k)
        }
    };
    let kind = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => FileKind::Pcap,
        [0x0a, 0x0d, 0x0d, 0x0a] => FileKind::PcapNg,
        [b'P', b'A', b'R', b'1'] if compression == Compression::None => FileKind::Parquet,
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
    Ok((kind, compression))
}

/// Identify a file by its magic number (through gzip or zstd compression).
pub fn sniff(path: &Path) -> Result<FileKind, FormatError> {
    sniff_compressed(path).map(|(k, _)| k)
}

/// An interface described by the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// The kernel ifindex when pktsample wrote the file or a Linux cooked v2
    /// header gives it; otherwise the interface's position in the file.
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

/// A packet, borrowed from the file.
#[derive(Clone, Copy, Debug)]
pub struct Packet<'a> {
    pub timestamp_ns: i64,
    /// Position of the interface in the list the visitor was given.
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
    /// A new interface (index into the growing list). Interfaces of a link
    /// type pktsample does not decode are announced too (they get no packets).
    fn interface(&mut self, _index: usize, _iface: &Interface) -> Result<(), Self::Error> {
        Ok(())
    }
    fn packet(&mut self, p: &Packet<'_>) -> Result<(), Self::Error>;
    /// Called every few thousand packets with the bytes of the file on disk
    /// read so far.
    fn progress(&mut self, _offset: u64) {}
}

/// What a walk over a file delivered and skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Packets handed to the visitor.
    pub packets: u64,
    /// Packets skipped, per link type pktsample does not decode.
    pub skipped: BTreeMap<u32, u64>,
}

/// A pcap or pcapng file, memory-mapped or (compressed) streamed.
pub struct CaptureReader {
    path: PathBuf,
    map: Option<Backing>,
    kind: FileKind,
    compression: Compression,
    file_len: u64,
}

/// The bytes of an uncompressed file (or of any file given as bytes).
enum Backing {
    Map(Mmap),
    Bytes(Vec<u8>),
}

impl Backing {
    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Map(m) => m,
            Backing::Bytes(b) => b,
        }
    }
}

/// Largest captured length we believe: anything larger is corruption.
const MAX_CAPLEN: u32 = 256 * 1024;
/// Largest pcapng block (a packet of [`MAX_CAPLEN`] and its options).
const MAX_BLOCK: usize = MAX_CAPLEN as usize + 4096;

/// The reader's interfaces and the walk's counters.
struct Walk {
    ifaces: Vec<Interface>,
    /// Per interface: packets go straight to the visitor (a supported link
    /// type without a cooked header to read).
    plain: Vec<bool>,
    /// (file interface, SLL2 ifindex) -> interface of its own.
    cooked: HashMap<(usize, u32), usize>,
    stats: ReadStats,
    last_ns: i64,
}

impl Walk {
    fn add<V: Visitor>(&mut self, v: &mut V, iface: Interface) -> Result<usize, V::Error> {
        let i = self.ifaces.len();
        v.interface(i, &iface)?;
        let lt = iface.linktype;
        self.plain.push(
            linktype::is_supported(lt) && !matches!(lt, linktype::LINUX_SLL | linktype::LINUX_SLL2),
        );
        self.ifaces.push(iface);
        Ok(i)
    }

    /// Hand one packet to the visitor (or count it as skipped).
    #[inline]
    fn deliver<V: Visitor>(&mut self, v: &mut V, p: Packet<'_>) -> Result<(), V::Error> {
        if self.plain[p.iface] {
            self.last_ns = p.timestamp_ns;
            self.stats.packets += 1;
            return v.packet(&p);
        }
        self.deliver_other(v, p)
    }

    /// A packet of a cooked or unsupported link type.
    fn deliver_other<V: Visitor>(&mut self, v: &mut V, mut p: Packet<'_>) -> Result<(), V::Error> {
        let lt = self.ifaces[p.iface].linktype;
        if !linktype::is_supported(lt) {
            *self.stats.skipped.entry(lt).or_default() += 1;
            return Ok(());
        }
        if matches!(lt, linktype::LINUX_SLL | linktype::LINUX_SLL2) {
            let c = cooked(lt, p.data);
            if p.direction == Direction::Unknown {
                p.direction = c.direction.unwrap_or(Direction::Unknown);
            }
            if let Some(ifx) = c.ifindex.filter(|_| !self.ifaces[p.iface].pktsample) {
                p.iface = match self.cooked.get(&(p.iface, ifx)) {
                    Some(&i) => i,
                    None => {
                        let parent = &self.ifaces[p.iface];
                        let iface = Interface {
                            ifindex: ifx,
                            name: format!("if{ifx}"),
                            mac: None,
                            mtu: None,
                            sampling_rate: parent.sampling_rate,
                            linktype: lt,
                            pktsample: false,
                        };
                        let parent = p.iface;
                        let i = self.add(v, iface)?;
                        self.cooked.insert((parent, ifx), i);
                        i
                    }
                };
            }
        }
        self.last_ns = p.timestamp_ns;
        self.stats.packets += 1;
        v.packet(&p)
    }
}

impl CaptureReader {
    pub fn open(path: &Path) -> Result<Self, FormatError> {
        let (kind, compression) = sniff_compressed(path)?;
        if kind == FileKind::Parquet {
            return Err(FormatError::WrongFormat {
                path: path.into(),
                found: "Parquet",
                expected: "a pcap or pcapng capture",
            });
        }
        let f = File::open(path).map_err(|e| FormatError::io(path, e))?;
        let file_len = f.metadata().map_err(|e| FormatError::io(path, e))?.len();
        let map = if compression == Compression::None {
            // SAFETY: the map is read-only; a file truncated underneath us by
            // another process is the usual mmap caveat, accepted by every
            // mmap reader.
            let map = unsafe { Mmap::map(&f) }.map_err(|e| FormatError::io(path, e))?;
            #[cfg(unix)]
            let _ = map.advise(memmap2::Advice::Sequential);
            Some(Backing::Map(map))
        } else {
            None
        };
        Ok(CaptureReader {
            path: path.into(),
            map,
            kind,
            compression,
            file_len,
        })
    }

    /// A reader over a file's contents already in memory (`name` is what
    /// errors call it): for fuzzing and tests.
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<Self, FormatError> {
        let (kind, compression) =
            sniff_reader(Box::new(std::io::Cursor::new(bytes.clone())), name)?;
        if kind == FileKind::Parquet {
            return Err(FormatError::WrongFormat {
                path: name.into(),
                found: "Parquet",
                expected: "a pcap or pcapng capture",
            });
        }
        Ok(CaptureReader {
            path: name.into(),
            file_len: bytes.len() as u64,
            map: Some(Backing::Bytes(bytes)),
            kind,
            compression,
        })
    }

    pub fn kind(&self) -> FileKind {
        self.kind
    }

    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Size of the file on disk.
    pub fn len(&self) -> u64 {
        self.file_len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Walk the whole file.
    pub fn read<V: Visitor>(&self, v: &mut V) -> Result<ReadStats, V::Error> {
        let mut feed = match (&self.map, self.compression) {
            (Some(m), Compression::None) => Feed::mapped(m.bytes()),
            (Some(m), c) => {
                let raw = std::io::Cursor::new(m.bytes().to_vec());
                let (r, n) = decompress(Box::new(raw), &self.path, c)?;
                Feed::stream(r, n)
            }
            (None, c) => {
                let (r, n) = decompressor(&self.path, c)?;
                Feed::stream(r, n)
            }
        };
        let mut w = Walk {
            ifaces: Vec::new(),
            plain: Vec::new(),
            cooked: HashMap::new(),
            stats: ReadStats::default(),
            last_ns: 0,
        };
        match self.kind {
            FileKind::Pcap => self.read_pcap(&mut feed, &mut w, v)?,
            FileKind::PcapNg => self.read_pcapng(&mut feed, &mut w, v)?,
            FileKind::Parquet => unreachable!("refused in open"),
        }
        v.progress(feed.raw_position());
        if w.stats.packets == 0 && !w.stats.skipped.is_empty() {
            return Err(FormatError::UnsupportedLinktype {
                path: self.path.clone(),
                linktypes: w.stats.skipped.keys().copied().collect(),
            }
            .into());
        }
        Ok(w.stats)
    }

    fn truncated(&self, feed: &Feed<'_>, detail: impl Into<String>) -> FormatError {
        FormatError::Truncated {
            path: self.path.clone(),
            offset: feed.offset(),
            detail: detail.into(),
        }
    }

    fn corrupt(&self, feed: &Feed<'_>, detail: impl Into<String>) -> FormatError {
        FormatError::Corrupt {
            path: self.path.clone(),
            offset: feed.offset(),
            detail: detail.into(),
        }
    }

    /// Whether the file ends here (for a stream, once no more can be read).
    fn ended(&self, feed: &mut Feed<'_>) -> Result<bool, FormatError> {
        if !feed.data().is_empty() {
            return Ok(false);
        }
        feed.more(1 << 16)
            .map(|grew| !grew)
            .map_err(|e| self.corrupt(feed, format!("cannot decompress: {e}")))
    }

    /// Read more of a stream after the parser asked for `need` bytes (`cap`
    /// the most we believe); a file that ends first is truncated.
    fn need_more(
        &self,
        feed: &mut Feed<'_>,
        need: usize,
        cap: usize,
        what: &str,
    ) -> Result<(), FormatError> {
        if need > cap {
            return Err(self.corrupt(feed, format!("{what} length {need} is impossible")));
        }
        let have = feed.data().len();
        let grew = feed
            .more(need + 16)
            .map_err(|e| self.corrupt(feed, format!("cannot decompress: {e}")))?;
        if grew {
            return Ok(());
        }
        Err(self.truncated(
            feed,
            format!("the last {what} is incomplete, {have} bytes remain"),
        ))
    }

    fn read_pcap<V: Visitor>(
        &self,
        feed: &mut Feed<'_>,
        w: &mut Walk,
        v: &mut V,
    ) -> Result<(), V::Error> {
        let _ = feed.more(24);
        let data = feed.data();
        let (rest, parser) = match PcapParser::new(data) {
            Ok(x) => x,
            Err(PcapParseError::IncompleteBuffer(..)) => {
                return Err(self.truncated(feed, "in the pcap file header").into());
            }
            Err(e) => return Err(self.corrupt(feed, crate::error::chain(&e)).into()),
        };
        let used = data.len() - rest.len();
        feed.consume(used);
        let h = parser.header();
        let lt = u32::from(h.datalink);
        if !linktype::is_supported(lt) {
            return Err(FormatError::UnsupportedLinktype {
                path: self.path.clone(),
                linktypes: vec![lt],
            }
            .into());
        }
        w.add(
            v,
            Interface {
                ifindex: 0,
                name: "pcap0".into(),
                mac: None,
                mtu: None,
                sampling_rate: 1,
                linktype: lt,
                pktsample: false,
            },
        )?;
        let frac_ns: i64 = match h.ts_resolution {
            PcapTsResolution::MicroSecond => 1000,
            PcapTsResolution::NanoSecond => 1,
        };
        loop {
            if self.ended(feed)? {
                break;
            }
            let data = feed.data();
            let mut rest = data;
            // Every whole record in the window, without going back to the
            // feed for each.
            let stop = loop {
                let (next, raw) = match parser.next_raw_packet(rest) {
                    Ok(x) => x,
                    // `need` counts from after the 16-byte record header.
                    Err(PcapParseError::IncompleteBuffer(need, _)) => {
                        break Stop::Need(if rest.len() < 16 { 16 } else { need + 16 });
                    }
                    Err(e) => break Stop::Bad(crate::error::chain(&e)),
                };
                if raw.incl_len > MAX_CAPLEN || raw.orig_len < raw.incl_len {
                    break Stop::Bad(format!(
                        "record with captured length {} and original length {}",
                        raw.incl_len, raw.orig_len
                    ));
                }
                w.deliver(
                    v,
                    Packet {
                        timestamp_ns: raw.ts_sec as i64 * 1_000_000_000
                            + raw.ts_frac as i64 * frac_ns,
                        iface: 0,
                        orig_len: raw.orig_len,
                        data: borrowed(raw.data),
                        direction: Direction::Unknown,
                        ingress_ifindex: None,
                        routed_ifindex: None,
                    },
                )?;
                rest = next;
                if w.stats.packets.is_multiple_of(65536) {
                    v.progress(feed.raw_position());
                }
                if rest.is_empty() {
                    break Stop::Drained;
                }
            };
            let used = data.len() - rest.len();
            feed.consume(used);
            match stop {
                Stop::Drained => {}
                Stop::Need(n) => self.need_more(feed, n, MAX_CAPLEN as usize + 16, "record")?,
                Stop::Bad(detail) => return Err(self.corrupt(feed, detail).into()),
            }
        }
        Ok(())
    }

    fn pcapng_error(&self, feed: &Feed<'_>, e: PcapNgParseError) -> FormatError {
        self.corrupt(feed, crate::error::chain(&e))
    }

    fn metadata_option(&self, feed: &Feed<'_>, json: &str) -> Result<CaptureMetadata, FormatError> {
        CaptureMetadata::from_json(json).map_err(|e| FormatError::NotSamples {
            path: self.path.clone(),
            reason: format!(
                "malformed pktsample metadata at byte offset {}: {e}",
                feed.offset()
            ),
        })
    }

    fn read_pcapng<V: Visitor>(
        &self,
        feed: &mut Feed<'_>,
        w: &mut Walk,
        v: &mut V,
    ) -> Result<(), V::Error> {
        let mut parser = loop {
            let data = feed.data();
            match PcapNgParser::new(data) {
                Ok((rest, p)) => {
                    let used = data.len() - rest.len();
                    feed.consume(used);
                    break p;
                }
                Err(PcapNgParseError::IncompleteBuffer(need, _)) => {
                    self.need_more(feed, need + 8, MAX_BLOCK, "block")?
                }
                Err(e) => return Err(self.pcapng_error(feed, e).into()),
            }
        };
        // A section's interface ids -> the reader's interfaces.
        let mut section: Vec<usize> = Vec::new();
        let mut blocks: u64 = 0;
        loop {
            if self.ended(feed)? {
                break;
            }
            let data = feed.data();
            let (next, block) = match parser.next_block(data) {
                Ok(x) => x,
                Err(PcapNgParseError::IncompleteBuffer(need, _)) => {
                    self.need_more(feed, need + 8, MAX_BLOCK, "block")?;
                    continue;
                }
                Err(e) => return Err(self.pcapng_error(feed, e).into()),
            };
            let used = data.len() - next.len();
            self.pcapng_block(feed, w, v, &mut section, block)?;
            feed.consume(used);
            blocks += 1;
            if blocks.is_multiple_of(65536) {
                v.progress(feed.raw_position());
            }
        }
        Ok(())
    }

    /// One pcapng block.
    fn pcapng_block<V: Visitor>(
        &self,
        feed: &Feed<'_>,
        w: &mut Walk,
        v: &mut V,
        section: &mut Vec<usize>,
        block: Block<'_>,
    ) -> Result<(), V::Error> {
        let lengths = |data: &[u8], orig: u32| -> Result<(), FormatError> {
            if data.len() > MAX_CAPLEN as usize || (orig as usize) < data.len() {
                return Err(self.corrupt(
                    feed,
                    format!(
                        "packet with captured length {} and original length {orig}",
                        data.len()
                    ),
                ));
            }
            Ok(())
        };
        match block {
            Block::SectionHeader(_) => section.clear(),
            Block::InterfaceStatistics(isb) => {
                for o in &isb.options {
                    if let InterfaceStatisticsOption::Common(CommonOption::CustomUtf8Copiable(c)) =
                        o
                        && c.pen == ours::PEN
                    {
                        v.metadata(self.metadata_option(feed, &c.value)?)?;
                    }
                }
            }
            Block::CustomCopiable(cb) if cb.pen == ours::PEN => {
                // Custom data is padded to 32 bits; JSON has no NUL.
                let payload = cb.payload.as_ref();
                let end = payload.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                let json =
                    std::str::from_utf8(&payload[..end]).map_err(|_| FormatError::NotSamples {
                        path: self.path.clone(),
                        reason: format!(
                            "malformed pktsample metadata block at byte offset {}",
                            feed.offset()
                        ),
                    })?;
                v.metadata(self.metadata_option(feed, json)?)?;
            }
            Block::InterfaceDescription(idb) => {
                let i = w.add(v, interface_from_idb(&idb, section.len()))?;
                section.push(i);
            }
            Block::EnhancedPacket(epb) => {
                // The parser checked the interface id against the section.
                let iface = section[epb.interface_id as usize];
                let data = borrowed(epb.data);
                lengths(data, epb.original_len)?;
                let mut p = Packet {
                    timestamp_ns: i64::try_from(epb.timestamp.as_nanos())
                        .map_err(|_| self.corrupt(feed, "timestamp beyond year 2262"))?,
                    iface,
                    orig_len: epb.original_len,
                    data,
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
                                self.corrupt(feed, "malformed pktsample packet option")
                            })?;
                            p.ingress_ifindex = po.ingress_ifindex;
                            p.routed_ifindex = po.routed_ifindex;
                        }
                        _ => {}
                    }
                }
                w.deliver(v, p)?;
            }
            Block::SimplePacket(spb) => {
                // No timestamp: the previous packet's (documented). The
                // parser checked that the section has an interface 0.
                let data = borrowed(spb.data);
                lengths(data, spb.original_len)?;
                let p = Packet {
                    timestamp_ns: w.last_ns,
                    iface: section[0],
                    orig_len: spb.original_len,
                    data,
                    direction: Direction::Unknown,
                    ingress_ifindex: None,
                    routed_ifindex: None,
                };
                w.deliver(v, p)?;
            }
            Block::Packet(pb) => {
                // The obsolete packet block (pcapng drafts before 1.0).
                let iface = *section.get(pb.interface_id as usize).ok_or_else(|| {
                    self.corrupt(
                        feed,
                        format!("packet block for undeclared interface {}", pb.interface_id),
                    )
                })?;
                let data = borrowed(pb.data);
                lengths(data, pb.original_len)?;
                let p = Packet {
                    timestamp_ns: i64::try_from(pb.timestamp.as_nanos())
                        .map_err(|_| self.corrupt(feed, "timestamp beyond year 2262"))?,
                    iface,
                    orig_len: pb.original_len,
                    data,
                    direction: Direction::Unknown,
                    ingress_ifindex: None,
                    routed_ifindex: None,
                };
                w.deliver(v, p)?;
            }
            // Statistics and name resolution are not samples; pktsample's
            // statistics travel in the section metadata. Unknown block types
            // are skipped, as the pcapng specification asks of readers.
            _ => {}
        }
        Ok(())
    }
}

/// Why a pass over the window of whole records ended.
enum Stop {
    /// Nothing left in the window.
    Drained,
    /// The next record needs this many bytes.
    Need(usize),
    /// The next record is corrupt.
    Bad(String),
}

/// Packet data, which the parsers borrow from the feed.
fn borrowed(d: Cow<'_, [u8]>) -> &[u8] {
    match d {
        Cow::Borrowed(d) => d,
        Cow::Owned(_) => unreachable!("parser borrows from the feed"),
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
