//! The bytes of a capture file as the parsers see them: the whole memory map
//! of a plain file, or a bounded window over a decompressed stream.
//!
//! pcap-file's parsers work on slices and say when a record needs more bytes
//! than the slice holds; [`Feed`] answers by reading more of the stream into
//! its window. A mapped file is one window that never grows, so both cases
//! share one parsing loop, and a compressed input (gzip or zstd, detected
//! from its magic) is read streaming, never whole into memory: the window is
//! bounded by the largest record the readers accept, so a zip bomb costs
//! time, not memory.

use std::cell::Cell;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use crate::error::FormatError;

/// Compression of a file, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn detect(magic: &[u8]) -> Compression {
        match magic {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            _ => Compression::None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Counts the bytes read from the compressed file, for progress.
struct Counting<R> {
    inner: R,
    n: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.set(self.n.get() + k as u64);
        Ok(k)
    }
}

/// A decompressing reader, and the count of compressed bytes it has read.
pub type Decompressor = (Box<dyn Read>, Rc<Cell<u64>>);

/// A decompressing reader over `path`.
pub fn decompressor(path: &Path, c: Compression) -> Result<Decompressor, FormatError> {
    let f = File::open(path).map_err(|e| FormatError::io(path, e))?;
    decompress(Box::new(f), path, c)
}

/// A decompressing reader over `raw` (the contents of `path`).
pub fn decompress(
    raw: Box<dyn Read>,
    path: &Path,
    c: Compression,
) -> Result<Decompressor, FormatError> {
    let n = Rc::new(Cell::new(0));
    let raw = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: raw,
            n: n.clone(),
        },
    );
    let r: Box<dyn Read> = match c {
        // Several gzip members one after another (`cat a.gz b.gz`) are one stream.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| FormatError::io(path, e))?,
        ),
        Compression::None => Box::new(raw),
    };
    Ok((r, n))
}

/// Bytes read from the stream at a time.
const CHUNK: usize = 1 << 20;

/// The unparsed bytes of a capture.
pub enum Feed<'m> {
    Mapped {
        all: &'m [u8],
        pos: usize,
    },
    Stream {
        inner: Box<dyn Read>,
        raw: Rc<Cell<u64>>,
        buf: Vec<u8>,
        pos: usize,
        /// Stream offset of `buf[0]`.
        base: u64,
        eof: bool,
    },
}

impl<'m> Feed<'m> {
    pub fn mapped(all: &'m [u8]) -> Self {
        Feed::Mapped { all, pos: 0 }
    }

    pub fn stream(inner: Box<dyn Read>, raw: Rc<Cell<u64>>) -> Self {
        Feed::Stream {
            inner,
            raw,
            buf: Vec::new(),
            pos: 0,
            base: 0,
            eof: false,
        }
    }

    /// The bytes not yet consumed (those read so far, for a stream).
    pub fn data(&self) -> &[u8] {
        match self {
            Feed::Mapped { all, pos } => &all[*pos..],
            Feed::Stream { buf, pos, .. } => &buf[*pos..],
        }
    }

    /// Offset of `data()[0]` in the (decompressed) file.
    pub fn offset(&self) -> u64 {
        match self {
            Feed::Mapped { pos, .. } => *pos as u64,
            Feed::Stream { pos, base, .. } => base + *pos as u64,
        }
    }

    /// Bytes of the file on disk read so far, for progress.
    pub fn raw_position(&self) -> u64 {
        match self {
            Feed::Mapped { pos, .. } => *pos as u64,
            Feed::Stream { raw, .. } => raw.get(),
        }
    }

    pub fn consume(&mut self, n: usize) {
        match self {
            Feed::Mapped { pos, .. } | Feed::Stream { pos, .. } => *pos += n,
        }
    }

    /// Try to have at least `want` unparsed bytes. Ok(false) when nothing
    /// more could be read: the file ends here.
    pub fn more(&mut self, want: usize) -> std::io::Result<bool> {
        let Feed::Stream {
            inner,
            buf,
            pos,
            base,
            eof,
            ..
        } = self
        else {
            return Ok(false);
        };
        if *eof {
            return Ok(false);
        }
        // Keep only the unparsed tail.
        if *pos > 0 {
            buf.drain(..*pos);
            *base += *pos as u64;
            *pos = 0;
        }
        let before = buf.len();
        let target = want.max(before + 1);
        while buf.len() < target {
            let len = buf.len();
            let room = (target - len).max(CHUNK);
            buf.resize(len + room, 0);
            let got = loop {
                match inner.read(&mut buf[len..]) {
                    Ok(k) => break k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        buf.truncate(len);
                        return Err(e);
                    }
                }
            };
            buf.truncate(len + got);
            if got == 0 {
                *eof = true;
                break;
            }
        }
        Ok(buf.len() > before)
    }
}
