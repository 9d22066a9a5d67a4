//! Reading a datagram: a cursor over big-endian words that never reads past
//! the end, and never past the length a sample or record declares.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use super::*;

/// A datagram that cannot be read, with the byte offset of the fault.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SflowError {
    #[error("sFlow version {0}, not 5")]
    Version(u32),
    #[error("truncated at byte {at}: {what} needs {need} more bytes")]
    Truncated {
        what: &'static str,
        at: usize,
        need: usize,
    },
    #[error("at byte {at}: {what} of {len} bytes overruns the {left} left")]
    Overrun {
        what: &'static str,
        at: usize,
        len: u64,
        left: usize,
    },
    #[error("at byte {at}: address type {kind}, neither IPv4 (1) nor IPv6 (2)")]
    AddressType { at: usize, kind: u32 },
}

/// Bytes of a compact flow sample before its records, the least a sample
/// can be.
const MIN_SAMPLE: usize = 8;

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
    /// Where the enclosing sample or record ends.
    end: usize,
}

impl<'a> Cursor<'a> {
    fn need(&self, n: usize, what: &'static str) -> Result<(), SflowError> {
        if self.end - self.at < n {
            return Err(SflowError::Truncated {
                what,
                at: self.at,
                need: n - (self.end - self.at),
            });
        }
        Ok(())
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, SflowError> {
        self.need(4, what)?;
        let v = u32::from_be_bytes(self.b[self.at..self.at + 4].try_into().expect("4 bytes"));
        self.at += 4;
        Ok(v)
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, SflowError> {
        Ok((u64::from(self.u32(what)?) << 32) | u64::from(self.u32(what)?))
    }

    fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SflowError> {
        self.need(n, what)?;
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        Ok(s)
    }

    /// Opaque data: a length and the bytes, padded to a word.
    fn opaque(&mut self, what: &'static str) -> Result<&'a [u8], SflowError> {
        let at = self.at;
        let n = self.u32(what)? as usize;
        let padded = n.checked_add(3).map(|p| p & !3).unwrap_or(usize::MAX);
        if padded > self.end - self.at {
            return Err(SflowError::Overrun {
                what,
                at,
                len: n as u64,
                left: self.end - self.at,
            });
        }
        let s = &self.b[self.at..self.at + n];
        self.at += padded;
        Ok(s)
    }

    fn address(&mut self, what: &'static str) -> Result<IpAddr, SflowError> {
        let at = self.at;
        match self.u32(what)? {
            1 => {
                let b: [u8; 4] = self.bytes(4, what)?.try_into().expect("4 bytes");
                Ok(IpAddr::V4(Ipv4Addr::from(b)))
            }
            2 => {
                let b: [u8; 16] = self.bytes(16, what)?.try_into().expect("16 bytes");
                Ok(IpAddr::V6(Ipv6Addr::from(b)))
            }
            kind => Err(SflowError::AddressType { at, kind }),
        }
    }

    /// A count of items of at least `min` bytes each: at most what is left
    /// could hold (an absurd count is an overrun, not an allocation).
    fn count(&mut self, min: usize, what: &'static str) -> Result<usize, SflowError> {
        let at = self.at;
        let n = self.u32(what)?;
        let left = self.end - self.at;
        if (n as usize).saturating_mul(min) > left {
            return Err(SflowError::Overrun {
                what,
                at,
                len: u64::from(n) * min as u64,
                left,
            });
        }
        Ok(n as usize)
    }

    /// A (format, length) header and a cursor over its body; this cursor
    /// moves past it.
    fn section(&mut self, what: &'static str) -> Result<(u32, Cursor<'a>), SflowError> {
        let format = self.u32(what)?;
        let at = self.at;
        let len = self.u32(what)? as usize;
        if len > self.end - self.at {
            return Err(SflowError::Overrun {
                what,
                at,
                len: len as u64,
                left: self.end - self.at,
            });
        }
        let body = Cursor {
            b: self.b,
            at: self.at,
            end: self.at + len,
        };
        self.at += len;
        Ok((format, body))
    }
}

/// An interface of a compact flow sample: two format bits and 30 of value.
fn compact_port(v: u32) -> Port {
    match (v >> 30, v & 0x3FFF_FFFF) {
        (0, INTERNAL) => Port::Internal,
        (0, i) => Port::Index(i),
        (1, r) => Port::Discard(r),
        (_, n) => Port::Multiple(n),
    }
}

/// An interface of an expanded flow sample: a format word and a value.
fn expanded_port(format: u32, v: u32) -> Port {
    match format {
        0 if v == INTERNAL => Port::Internal,
        0 => Port::Index(v),
        1 => Port::Discard(v),
        _ => Port::Multiple(v),
    }
}

/// Read one datagram (a UDP payload).
pub fn decode(b: &[u8]) -> Result<Datagram, SflowError> {
    let mut c = Cursor {
        b,
        at: 0,
        end: b.len(),
    };
    let v = c.u32("version")?;
    if v != 5 {
        return Err(SflowError::Version(v));
    }
    let agent = c.address("agent address")?;
    let sub_agent = c.u32("sub-agent id")?;
    let sequence = c.u32("sequence number")?;
    let uptime_ms = c.u32("uptime")?;
    let n = c.count(MIN_SAMPLE, "sample count")?;
    let mut d = Datagram {
        agent,
        sub_agent,
        sequence,
        uptime_ms,
        samples: Vec::with_capacity(n),
        skipped: Skipped::default(),
    };
    for _ in 0..n {
        let (format, mut s) = c.section("sample")?;
        match format {
            1 | 3 => {
                let f = flow_sample(&mut s, format == 3, &mut d.skipped)?;
                d.samples.push(Sample::Flow(f));
            }
            2 | 4 => {
                let f = counter_sample(&mut s, format == 4, &mut d.skipped)?;
                d.samples.push(Sample::Counters(f));
            }
            _ => d.skipped.samples += 1,
        }
    }
    Ok(d)
}

fn source(c: &mut Cursor, expanded: bool) -> Result<Source, SflowError> {
    Ok(if expanded {
        Source {
            kind: c.u32("source id type")?,
            index: c.u32("source id index")?,
        }
    } else {
        let v = c.u32("source id")?;
        Source {
            kind: v >> 24,
            index: v & 0x00FF_FFFF,
        }
    })
}

fn flow_sample(c: &mut Cursor, expanded: bool, sk: &mut Skipped) -> Result<FlowSample, SflowError> {
    let sequence = c.u32("flow sample sequence number")?;
    let source = source(c, expanded)?;
    let sampling_rate = c.u32("sampling rate")?;
    let sample_pool = c.u32("sample pool")?;
    let drops = c.u32("drops")?;
    let (input, output) = if expanded {
        let (fi, vi) = (c.u32("input format")?, c.u32("input")?);
        let (fo, vo) = (c.u32("output format")?, c.u32("output")?);
        (expanded_port(fi, vi), expanded_port(fo, vo))
    } else {
        (
            compact_port(c.u32("input")?),
            compact_port(c.u32("output")?),
        )
    };
    let mut f = FlowSample {
        expanded,
        sequence,
        source,
        sampling_rate,
        sample_pool,
        drops,
        input,
        output,
        header: None,
        gateway: None,
    };
    let n = c.count(8, "flow record count")?;
    for _ in 0..n {
        let (format, mut r) = c.section("flow record")?;
        match format {
            1 => {
                let protocol = r.u32("header protocol")?;
                let frame_length = r.u32("frame length")?;
                let stripped = r.u32("stripped")?;
                let bytes = r.opaque("sampled header")?.to_vec();
                f.header = Some(RawHeader {
                    protocol,
                    frame_length,
                    stripped,
                    bytes,
                });
            }
            1003 => f.gateway = Some(gateway(&mut r)?),
            _ => sk.records += 1,
        }
    }
    Ok(f)
}

fn gateway(r: &mut Cursor) -> Result<Gateway, SflowError> {
    let next_hop = Some(r.address("next hop")?);
    let router_as = r.u32("router AS")?;
    let src_as = r.u32("source AS")?;
    let src_peer_as = r.u32("source peer AS")?;
    let mut dst_as_path = Vec::new();
    let segments = r.count(8, "AS path segments")?;
    for _ in 0..segments {
        let _kind = r.u32("AS path segment type")?;
        let n = r.count(4, "AS path segment length")?;
        for _ in 0..n {
            dst_as_path.push(r.u32("AS")?);
        }
    }
    let n = r.count(4, "communities")?;
    let communities = (0..n)
        .map(|_| r.u32("community"))
        .collect::<Result<_, _>>()?;
    let local_pref = r.u32("local preference")?;
    Ok(Gateway {
        next_hop,
        router_as,
        src_as,
        src_peer_as,
        dst_as_path,
        communities,
        local_pref,
    })
}

fn counter_sample(
    c: &mut Cursor,
    expanded: bool,
    sk: &mut Skipped,
) -> Result<CounterSample, SflowError> {
    let sequence = c.u32("counter sample sequence number")?;
    let source = source(c, expanded)?;
    let mut s = CounterSample {
        expanded,
        sequence,
        source,
        interface: None,
        ethernet: None,
    };
    let n = c.count(8, "counter record count")?;
    for _ in 0..n {
        let (format, mut r) = c.section("counter record")?;
        match format {
            1 => s.interface = Some(if_counters(&mut r)?),
            2 => {
                let mut e = EthCounters::default();
                for v in &mut e.0 {
                    *v = r.u32("Ethernet counter")?;
                }
                s.ethernet = Some(e);
            }
            _ => sk.records += 1,
        }
    }
    Ok(s)
}

fn if_counters(r: &mut Cursor) -> Result<IfCounters, SflowError> {
    Ok(IfCounters {
        if_index: r.u32("ifIndex")?,
        if_type: r.u32("ifType")?,
        if_speed: r.u64("ifSpeed")?,
        if_direction: r.u32("ifDirection")?,
        if_status: r.u32("ifStatus")?,
        in_octets: r.u64("ifInOctets")?,
        in_ucast: r.u32("ifInUcastPkts")?,
        in_multicast: r.u32("ifInMulticastPkts")?,
        in_broadcast: r.u32("ifInBroadcastPkts")?,
        in_discards: r.u32("ifInDiscards")?,
        in_errors: r.u32("ifInErrors")?,
        in_unknown_protos: r.u32("ifInUnknownProtos")?,
        out_octets: r.u64("ifOutOctets")?,
        out_ucast: r.u32("ifOutUcastPkts")?,
        out_multicast: r.u32("ifOutMulticastPkts")?,
        out_broadcast: r.u32("ifOutBroadcastPkts")?,
        out_discards: r.u32("ifOutDiscards")?,
        out_errors: r.u32("ifOutErrors")?,
        promiscuous: r.u32("ifPromiscuousMode")?,
    })
}
