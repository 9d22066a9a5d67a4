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
//!
//! Speed: a mapped file is populated a little ahead of the parser on a
//! thread of its own (module `prefetch`); pcap records and plain pcapng enhanced
//! packet blocks are read straight from the window (modules `pcap`, `epb`), every
//! other block through pcap-file, which stays the reference both fast paths
//! are tested and fuzzed against ([`CaptureReader::reference`]); compressed
//! input is decompressed ahead on a thread of its own ([`crate::feed`]).

mod epb;
mod pcap;
mod pcapng;
mod prefetch;
mod transcript;

pub use transcript::{Event, Transcript};

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use memmap2::Mmap;

use crate::decode::{cooked, linktype};
use crate::error::FormatError;
use crate::feed::{Compression, Feed, decompress, decompressor};
use crate::meta::{CaptureMetadata, Direction};

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
    mut raw: crate::feed::Source,
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
    /// pcapng enhanced packet blocks read by the fast path (the rest of the
    /// blocks went through pcap-file).
    pub fast_blocks: u64,
    /// Records whose original (wire) length is below their captured length
    /// or above 256 KiB: a lying length, skipped so that it never reaches a
    /// total.
    pub bad_lengths: u64,
    /// pcapng custom blocks and options of other programs (under our PEN
    /// but without our marker, or under another PEN), skipped.
    pub foreign_custom: u64,
}

/// A pcap or pcapng file, memory-mapped or (compressed) streamed.
pub struct CaptureReader {
    path: PathBuf,
    map: Option<Backing>,
    kind: FileKind,
    compression: Compression,
    file_len: u64,
    /// Read pcapng through pcap-file only, without the fast path.
    reference: bool,
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
        if p.orig_len > MAX_CAPLEN || (p.orig_len as usize) < p.data.len() {
            self.stats.bad_lengths += 1;
            return Ok(());
        }
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
            reference: false,
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
            reference: false,
        })
    }

    /// Read pcapng blocks through pcap-file only (the reference the fast
    /// path is tested against); the same packets, slower.
    pub fn reference(mut self) -> Self {
        self.reference = true;
        self
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
        let reached = AtomicU64::new(0);
        let done = AtomicBool::new(false);
        std::thread::scope(|sc| {
            if let (Some(Backing::Map(m)), Compression::None) = (&self.map, self.compression)
                && m.len() >= prefetch::MIN_FILE
            {
                sc.spawn(|| prefetch::run(m, &reached, &done));
            }
            let r = self.walk(v, &reached);
            done.store(true, Ordering::Relaxed);
            r
        })
    }

    fn walk<V: Visitor>(&self, v: &mut V, reached: &AtomicU64) -> Result<ReadStats, V::Error> {
        let mut feed = match (&self.map, self.compression) {
            (Some(m), Compression::None) => Feed::mapped(m.bytes(), Some(reached)),
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
