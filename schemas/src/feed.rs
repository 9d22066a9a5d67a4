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
//!
//! A stream is decompressed on a thread of its own, a few chunks ahead of
//! the parser (a bounded channel), so reading a compressed capture takes as
//! long as decompressing it, not that plus parsing it.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};

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
    n: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n.fetch_add(k as u64, Ordering::Relaxed);
        Ok(k)
    }
}

/// A reader that can move to the decompressing thread.
pub type Source = Box<dyn Read + Send>;

/// A decompressing reader, and the count of compressed bytes it has read.
pub type Decompressor = (Source, Arc<AtomicU64>);

/// A decompressing reader over `path`.
pub fn decompressor(path: &Path, c: Compression) -> Result<Decompressor, FormatError> {
    let f = File::open(path).map_err(|e| FormatError::io(path, e))?;
    decompress(Box::new(f), path, c)
}

/// A decompressing reader over `raw` (the contents of `path`).
pub fn decompress(raw: Source, path: &Path, c: Compression) -> Result<Decompressor, FormatError> {
    let n = Arc::new(AtomicU64::new(0));
    let raw = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: raw,
            n: n.clone(),
        },
    );
    let r: Source = match c {
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
/// Chunks the decompressing thread may be ahead.
const AHEAD: usize = 4;

/// Decompress `inner` on a thread of its own, in chunks; the channel ends
/// after the last (a short one) or an error.
fn ahead(mut inner: Source) -> Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = sync_channel(AHEAD);
    std::thread::spawn(move || {
        loop {
            let mut chunk = vec![0; CHUNK];
            let mut len = 0;
            let end = loop {
                match inner.read(&mut chunk[len..]) {
                    Ok(0) => break Ok(true),
                    Ok(k) => {
                        len += k;
                        if len == CHUNK {
                            break Ok(false);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            chunk.truncate(len);
            let last = !matches!(end, Ok(false));
            let sent = match end {
                Err(e) => tx.send(Ok(chunk)).and_then(|_| tx.send(Err(e))),
                Ok(_) => tx.send(Ok(chunk)),
            };
            // Stop at the end, or when the reader has gone.
            if last || sent.is_err() {
                break;
            }
        }
    });
    rx
}

/// The unparsed bytes of a capture.
pub enum Feed<'m> {
    Mapped {
        all: &'m [u8],
        pos: usize,
        /// Where the parser has got to, for a prefetcher (see
        /// [`Feed::position`]).
        reached: Option<&'m AtomicU64>,
    },
    Stream {
        chunks: Receiver<std::io::Result<Vec<u8>>>,
        raw: Arc<AtomicU64>,
        buf: Vec<u8>,
        pos: usize,
        /// Stream offset of `buf[0]`.
        base: u64,
        eof: bool,
    },
}

impl<'m> Feed<'m> {
    pub fn mapped(all: &'m [u8], reached: Option<&'m AtomicU64>) -> Self {
        Feed::Mapped {
            all,
            pos: 0,
            reached,
        }
    }

    pub fn stream(inner: Source, raw: Arc<AtomicU64>) -> Self {
        Feed::Stream {
            chunks: ahead(inner),
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
            Feed::Mapped { all, pos, .. } => &all[*pos..],
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
        self.position(0)
    }

    /// Bytes of the file on disk read so far when the parser is `ahead`
    /// bytes into [`Feed::data`]; a mapped file's prefetcher learns it.
    pub fn position(&self, ahead: usize) -> u64 {
        match self {
            Feed::Mapped { pos, reached, .. } => {
                let p = (*pos + ahead) as u64;
                if let Some(r) = reached {
                    r.store(p, Ordering::Relaxed);
                }
                p
            }
            Feed::Stream { raw, .. } => raw.load(Ordering::Relaxed),
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
            chunks,
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
            match chunks.recv() {
                Ok(Ok(chunk)) if buf.is_empty() => *buf = chunk,
                Ok(Ok(chunk)) => buf.extend_from_slice(&chunk),
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    *eof = true;
                    break;
                }
            }
        }
        Ok(buf.len() > before)
    }
}
