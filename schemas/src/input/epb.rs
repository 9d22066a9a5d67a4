//! The fast path for enhanced packet blocks: read straight from the window,
//! without building pcap-file's block (its option vector, its `Duration`).
//!
//! Why by hand: pcap-file parses every block whole, which costs more than
//! sampling needs; at 1-in-1000 a replay needs a packet's length, interface,
//! direction and timestamp and nothing else. pcap-file stays the reference:
//! [`parse`] takes only a block it can read exactly as pcap-file would — a
//! whole enhanced packet block of the current section, on an interface whose
//! clock is a whole number of nanoseconds per tick, whose options are only
//! `epb_flags` and pktsample's own packet option, well formed — and returns
//! `None` for anything else (another block, a partial one, any doubt), which
//! the caller then hands to pcap-file. Both paths give the same packets
//! (tested on every fixture, and fuzzed against each other).

use pcap_file::Endianness;
use pcap_file::pcapng::PcapNgParser;
use pcap_file::pcapng::blocks::block_common::ENHANCED_PACKET_BLOCK;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock;
use pcap_file::pcapng::blocks::opt_common::CUSTOM_BINARY_OPTION_COPIABLE;

use crate::meta::Direction;
use crate::pcapng::{PEN, PacketOption};

/// An interface's clock: nanoseconds per tick and the `if_tsoffset` in
/// seconds, when a tick is a whole number of nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    ns_per_tick: u64,
    offset_s: i64,
}

impl Clock {
    /// The clock of an interface, if pcap-file's decoding of its timestamps
    /// is exactly `ticks × ns_per_tick` (decimal resolutions down to 1 ns,
    /// binary ones down to 2^-9 s).
    pub fn of(idb: &InterfaceDescriptionBlock<'_>) -> Option<Clock> {
        let r = idb.ts_resolution();
        let one = u64::try_from(r.decode_timestamp(1).as_nanos()).ok()?;
        // A large tick count, to catch rounding (2^-10 s is 976562.5 ns).
        let big: u64 = 0x0000_ffff_ffff_fff3;
        let exact = r.decode_timestamp(big).as_nanos() == u128::from(big) * u128::from(one);
        (one > 0 && exact).then_some(Clock {
            ns_per_tick: one,
            offset_s: idb.ts_offset(),
        })
    }

    /// Nanoseconds since the epoch, as pcap-file decodes them, if that fits
    /// an i64 (else pcap-file's path reports the error).
    #[inline]
    fn ns(self, ticks: u64) -> Option<i64> {
        let t = u128::from(ticks) * u128::from(self.ns_per_tick);
        let off = u128::from(self.offset_s.unsigned_abs()) * 1_000_000_000;
        let t = if self.offset_s >= 0 {
            t + off
        } else {
            t.checked_sub(off)?
        };
        i64::try_from(t).ok()
    }
}

/// One enhanced packet block, read. A record of its own rather than a
/// `Packet` with the interface id in `iface`: that measured 4 ns a packet
/// slower (a fifth of the walk).
#[derive(Clone, Copy, Debug)]
pub struct Epb<'a> {
    pub interface_id: u32,
    pub timestamp_ns: i64,
    pub orig_len: u32,
    pub data: &'a [u8],
    pub direction: Direction,
    pub ingress_ifindex: Option<u32>,
    pub routed_ifindex: Option<u32>,
}

#[inline]
fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let x: [u8; 4] = b[at..at + 4].try_into().expect("4 bytes");
    if big {
        u32::from_be_bytes(x)
    } else {
        u32::from_le_bytes(x)
    }
}

#[inline]
fn u16_at(b: &[u8], at: usize, big: bool) -> u16 {
    let x: [u8; 2] = b[at..at + 2].try_into().expect("2 bytes");
    if big {
        u16::from_be_bytes(x)
    } else {
        u16::from_le_bytes(x)
    }
}

/// Padding to 32 bits.
#[inline]
fn padded(n: usize) -> usize {
    n + (4 - n % 4) % 4
}

/// The enhanced packet block at the start of `src`, and what follows it; or
/// `None` when pcap-file has to read it (see the module's documentation).
/// `clocks` are the clocks of the section's interfaces.
#[inline]
pub fn parse<'a>(
    parser: &PcapNgParser,
    clocks: &[Option<Clock>],
    src: &'a [u8],
) -> Option<(&'a [u8], Epb<'a>)> {
    let big = parser.section().endianness == Endianness::Big;
    if src.len() < 12 || u32_at(src, 0, big) != ENHANCED_PACKET_BLOCK {
        return None;
    }
    let len = u32_at(src, 4, big) as usize;
    if !len.is_multiple_of(4)
        || len < 32
        || src.len() < len
        || u32_at(src, len - 4, big) as usize != len
    {
        return None;
    }
    let body = &src[8..len - 4];
    let interface_id = u32_at(body, 0, big);
    let clock = (*clocks.get(interface_id as usize)?)?;
    if interface_id as usize >= parser.interfaces().len() {
        return None;
    }
    let ticks = (u64::from(u32_at(body, 4, big)) << 32) | u64::from(u32_at(body, 8, big));
    let timestamp_ns = clock.ns(ticks)?;
    let cap = u32_at(body, 12, big) as usize;
    let orig_len = u32_at(body, 16, big);
    let rest = &body[20..];
    if (orig_len as usize) < cap || rest.len() < padded(cap) {
        return None;
    }
    let mut e = Epb {
        interface_id,
        timestamp_ns,
        orig_len,
        data: &rest[..cap],
        direction: Direction::Unknown,
        ingress_ifindex: None,
        routed_ifindex: None,
    };
    let mut opts = &rest[padded(cap)..];
    while !opts.is_empty() {
        if opts.len() < 4 {
            return None;
        }
        let (code, n) = (u16_at(opts, 0, big), u16_at(opts, 2, big) as usize);
        if code == 0 {
            break;
        }
        if opts.len() - 4 < padded(n) {
            return None;
        }
        let value = &opts[4..4 + n];
        match code {
            // epb_flags
            2 if n == 4 => e.direction = Direction::from_epb_flags(u32_at(value, 0, big)),
            CUSTOM_BINARY_OPTION_COPIABLE if n >= 4 && u32_at(value, 0, big) == PEN => {
                let po = PacketOption::decode(&value[4..])?;
                e.ingress_ifindex = po.ingress_ifindex;
                e.routed_ifindex = po.routed_ifindex;
            }
            _ => return None,
        }
        opts = &opts[4 + padded(n)..];
    }
    Some((&src[len..], e))
}
