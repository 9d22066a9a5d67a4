//! Classic pcap: the record walk over the feed's window of whole records.

use pcap_file::Endianness;
use pcap_file::pcap::{PcapParseError, PcapParser, PcapTsResolution};

use super::{CaptureReader, Interface, MAX_CAPLEN, Packet, Stop, Visitor, Walk, borrowed};
use crate::decode::linktype;
use crate::error::FormatError;
use crate::feed::Feed;
use crate::meta::Direction;

impl CaptureReader {
    pub(super) fn read_pcap<V: Visitor>(
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
        // The link-type field's top bits give a frame check sequence length
        // (the pcap specification); the link type is the low 16 bits.
        let (lt, fcs) = linktype::split_pcap_field(u32::from(h.datalink));
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
        let big = h.endianness == Endianness::Big;
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
                let parsed = if self.reference {
                    parser.next_raw_packet(rest).map(|(next, raw)| {
                        let data = borrowed(raw.data);
                        (
                            next,
                            Record {
                                ts_sec: raw.ts_sec,
                                ts_frac: raw.ts_frac,
                                incl_len: raw.incl_len,
                                orig_len: raw.orig_len,
                                data,
                            },
                        )
                    })
                } else {
                    record(rest, big)
                };
                let (next, raw) = match parsed {
                    Ok(x) => x,
                    // `need` counts from after the 16-byte record header.
                    Err(PcapParseError::IncompleteBuffer(need, _)) => {
                        break Stop::Need(if rest.len() < 16 { 16 } else { need + 16 });
                    }
                    Err(e) => break Stop::Bad(crate::error::chain(&e)),
                };
                // A lying original length is counted and skipped by the walk;
                // a captured length past any frame is corruption.
                if raw.incl_len > MAX_CAPLEN {
                    break Stop::Bad(format!(
                        "record with captured length {} and original length {}",
                        raw.incl_len, raw.orig_len
                    ));
                }
                let (orig_len, data) = without_fcs(fcs, raw.orig_len, raw.data);
                w.deliver(
                    v,
                    Packet {
                        timestamp_ns: raw.ts_sec as i64 * 1_000_000_000
                            + raw.ts_frac as i64 * frac_ns,
                        iface: 0,
                        orig_len,
                        data,
                        direction: Direction::Unknown,
                        ingress_ifindex: None,
                        routed_ifindex: None,
                    },
                )?;
                rest = next;
                if w.stats.packets.is_multiple_of(65536) {
                    v.progress(feed.position(data.len() - rest.len()));
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
}

/// A record's original length and data without the `fcs` bytes of frame
/// check sequence every packet ends with (as far as they were captured).
#[inline]
fn without_fcs(fcs: u32, orig_len: u32, data: &[u8]) -> (u32, &[u8]) {
    if fcs == 0 {
        return (orig_len, data);
    }
    let orig = orig_len.saturating_sub(fcs);
    (orig, &data[..data.len().min(orig as usize)])
}

/// A record, borrowed from the window.
struct Record<'a> {
    ts_sec: u32,
    ts_frac: u32,
    incl_len: u32,
    orig_len: u32,
    data: &'a [u8],
}

/// The record at the start of `src` and what follows it, as pcap-file's
/// `RawPcapPacket::from_slice` reads it (the same errors), inlined: that
/// call was a sixth of a 1-in-1000 replay.
#[inline]
fn record(src: &[u8], big: bool) -> Result<(&[u8], Record<'_>), PcapParseError> {
    if src.len() < 16 {
        return Err(PcapParseError::IncompleteBuffer(16, src.len()));
    }
    let at = |i: usize| {
        let b: [u8; 4] = src[i..i + 4].try_into().expect("4 bytes");
        if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let (ts_sec, ts_frac, incl_len, orig_len) = (at(0), at(4), at(8), at(12));
    let body = &src[16..];
    let n = incl_len as usize;
    if body.len() < n {
        return Err(PcapParseError::IncompleteBuffer(n, body.len()));
    }
    let r = Record {
        ts_sec,
        ts_frac,
        incl_len,
        orig_len,
        data: &body[..n],
    };
    Ok((&body[n..], r))
}
