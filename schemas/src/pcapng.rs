//! The pcapng encoding of a samples file.
//!
//! Standard blocks carry everything Wireshark and tshark understand:
//! - a section header with hardware, OS and application;
//! - one interface description per (interface, sampling rate), with `if_name`,
//!   `if_tsresol` = 9 (nanoseconds), `if_MACaddr`, and the rate in
//!   `if_description`;
//! - enhanced packet blocks with original length = `pkt_len`, the captured
//!   header bytes, and the direction in `epb_flags`;
//! - at the end, one interface statistics block per interface with
//!   `isb_starttime`, `isb_endtime`, `isb_ifrecv` (packets seen),
//!   `isb_ifdrop` (drops) and `isb_usrdeliv` (samples).
//!
//! What pcapng has no standard place for travels in custom options and a
//! custom block under [`PEN`], so that `convert` is lossless: the kernel
//! ifindex, MTU and sampling rate of each interface (a JSON custom option on
//! the interface block), the ingress/routed ifindex of a packet (a binary
//! custom option), and the full metadata document (a JSON custom option on the
//! last statistics block, written when the counters are final).
//!
//! Written with pcap-file 3 (not by hand) because it encodes timestamps by each
//! interface's `if_tsresol`; see the workspace `Cargo.toml` for why not 2.0.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};
use std::time::Duration;

use pcap_file::pcapng::blocks::block_common::PcapNgBlock;
use pcap_file::pcapng::blocks::custom::{CustomBinaryOption, CustomBlock, CustomUtf8Option};
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption, InterfaceTsResolution,
};
use pcap_file::pcapng::blocks::interface_statistics::{
    InterfaceStatisticsBlock, InterfaceStatisticsOption,
};
use pcap_file::pcapng::blocks::opt_common::CommonOption;
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::{PcapNgWriteError, PcapNgWriter};
use pcap_file::{DataLink, Endianness};
use serde::{Deserialize, Serialize};

use crate::meta::{CaptureMetadata, InterfaceMeta};
use crate::record::SampleRow;

/// Private Enterprise Number under which pktsample's custom options and block
/// are written. 32473 is IANA's number reserved for documentation and examples
/// (RFC 5612); it stays until the project registers its own.
pub const PEN: u32 = 32473;

/// Largest custom option value (the option length is 16 bits, and the PEN
/// takes four of them).
const MAX_OPTION_LEN: usize = 65535 - 4;

/// Per-interface option (JSON): what the interface block has no field for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfaceOption {
    pub ifindex: u32,
    pub sampling_rate: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
}

impl IfaceOption {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("serializes")
    }
    pub fn decode(s: &str) -> Option<Self> {
        serde_json::from_str::<Self>(s)
            .ok()
            .filter(|o| o.sampling_rate >= 1)
    }
}

/// Per-packet option (binary): a presence byte, then the ingress and routed
/// ifindex as little-endian u32 (zero when absent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketOption {
    pub ingress_ifindex: Option<u32>,
    pub routed_ifindex: Option<u32>,
}

impl PacketOption {
    pub fn encode(&self) -> [u8; 9] {
        let mut b = [0u8; 9];
        b[0] = u8::from(self.ingress_ifindex.is_some())
            | (u8::from(self.routed_ifindex.is_some()) << 1);
        b[1..5].copy_from_slice(&self.ingress_ifindex.unwrap_or(0).to_le_bytes());
        b[5..9].copy_from_slice(&self.routed_ifindex.unwrap_or(0).to_le_bytes());
        b
    }
    pub fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != 9 || b[0] & !0b11 != 0 {
            return None;
        }
        let v = |r: std::ops::Range<usize>| u32::from_le_bytes(b[r].try_into().unwrap());
        Some(PacketOption {
            ingress_ifindex: (b[0] & 1 != 0).then(|| v(1..5)),
            routed_ifindex: (b[0] & 2 != 0).then(|| v(5..9)),
        })
    }
}

pub fn format_mac(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for o in out.iter_mut() {
        *o = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn duration_ns(ns: i64) -> io::Result<Duration> {
    u64::try_from(ns).map(Duration::from_nanos).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("timestamp {ns} ns is before 1970 and cannot be stored in pcapng"),
        )
    })
}

/// A pcap-file write error as the I/O error it is (or wraps).
fn io_err(e: PcapNgWriteError) -> io::Error {
    match e {
        PcapNgWriteError::Io(e) => e,
        e => io::Error::new(io::ErrorKind::InvalidData, crate::error::chain(&e)),
    }
}

/// Block boundaries kept behind the newest: enough to cover what a 1 MiB
/// write buffer may hold unwritten.
const BOUNDARY_SPAN: u64 = 4 << 20;

/// The metadata as a block written by hand in the native byte order (as
/// the section header declares), to close a file whose blocks were cut
/// short by a full disk after its last whole block: an interface statistics
/// block of interface 0 carrying it as a custom option, as [`PcapngSampleWriter::finish`]
/// writes it (Wireshark shows a custom block as a packet); a custom block
/// when it is larger than an option holds.
pub fn metadata_block(meta: &CaptureMetadata) -> Vec<u8> {
    const CUSTOM_BLOCK_COPIABLE: u32 = 0x0000_0BAD;
    const INTERFACE_STATISTICS: u32 = 5;
    const OPT_CUSTOM_UTF8: u16 = 2988;
    let json = padded_json(meta);
    let mut body = Vec::with_capacity(json.len() + 32);
    let ty = if json.len() <= MAX_OPTION_LEN {
        // interface id, timestamp (high, low), one option, end of options.
        body.extend_from_slice(&[0u8; 12]);
        body.extend_from_slice(&OPT_CUSTOM_UTF8.to_ne_bytes());
        body.extend_from_slice(&((json.len() + 4) as u16).to_ne_bytes());
        body.extend_from_slice(&PEN.to_ne_bytes());
        body.extend_from_slice(&json);
        body.extend_from_slice(&[0u8; 4]);
        INTERFACE_STATISTICS
    } else {
        body.extend_from_slice(&PEN.to_ne_bytes());
        body.extend_from_slice(&json);
        CUSTOM_BLOCK_COPIABLE
    };
    let len = (12 + body.len()) as u32;
    let mut b = Vec::with_capacity(len as usize);
    b.extend_from_slice(&ty.to_ne_bytes());
    b.extend_from_slice(&len.to_ne_bytes());
    b.extend_from_slice(&body);
    b.extend_from_slice(&len.to_ne_bytes());
    b
}

/// Whether a custom option's or block's text is pktsample's metadata: our
/// marker is the document's `"tool":"pktsample"` member (every version
/// wrote it), not the PEN, which other programs use too.
pub fn is_metadata(text: &str) -> bool {
    text.trim_start().starts_with('{') && text.contains(r#""tool":"pktsample""#)
}

/// The metadata JSON padded with spaces to 32 bits, so that no reader has to
/// tell padding from data (custom blocks have no length of their own).
fn padded_json(meta: &CaptureMetadata) -> Vec<u8> {
    let mut j = meta.to_json().into_bytes();
    while !j.len().is_multiple_of(4) {
        j.push(b' ');
    }
    j
}

/// An interface block to write, unless one exists for (ifindex, rate).
#[derive(Clone, Copy)]
struct NewIface<'a> {
    ifindex: u32,
    name: &'a str,
    rate: u32,
    mac: Option<&'a str>,
    mtu: Option<u32>,
    link_type: u32,
}

impl<'a> NewIface<'a> {
    fn from_meta(i: &'a InterfaceMeta) -> Self {
        NewIface {
            ifindex: i.ifindex,
            name: &i.name,
            rate: i.sampling_rate,
            mac: i.mac.as_deref(),
            mtu: i.mtu,
            link_type: i.link_type,
        }
    }
}

/// Writes samples as pcapng.
pub struct PcapngSampleWriter<W: Write> {
    w: PcapNgWriter<W>,
    /// Offsets where recent blocks end (the newest last), so that a file cut
    /// short by a full disk can be closed at a whole block.
    ends: VecDeque<u64>,
    /// (ifindex, sampling rate) -> interface id in the file.
    ids: HashMap<(u32, u32), u32>,
    ifaces: Vec<(u32, u32)>,
    snaplen: u32,
}

fn shb_options(meta: &CaptureMetadata) -> Vec<SectionHeaderOption<'static>> {
    let arch = std::env::consts::ARCH;
    vec![
        SectionHeaderOption::Hardware(Cow::Owned(arch.to_string())),
        SectionHeaderOption::OS(Cow::Owned(format!("Linux {}", meta.kernel))),
        SectionHeaderOption::UserApplication(Cow::Owned(format!(
            "{} {}",
            meta.tool, meta.tool_version
        ))),
    ]
}

fn shb_of(meta: &CaptureMetadata) -> SectionHeaderBlock<'static> {
    SectionHeaderBlock {
        endianness: Endianness::native(),
        major_version: 1,
        minor_version: 0,
        section_length: -1,
        options: shb_options(meta),
    }
}

impl<W: Write> PcapngSampleWriter<W> {
    /// Start a file; interfaces already in `meta` get their blocks at once.
    pub fn new(out: W, meta: &CaptureMetadata) -> io::Result<Self> {
        let w = PcapNgWriter::with_section_header(out, shb_of(meta)).map_err(io_err)?;
        let mut me = PcapngSampleWriter {
            w,
            ends: VecDeque::new(),
            ids: HashMap::new(),
            ifaces: Vec::new(),
            snaplen: meta.snaplen.max(1),
        };
        // The section header's length, from an empty section.
        let shb_len = {
            let mut probe = Vec::new();
            PcapNgWriter::with_section_header(&mut probe, shb_of(meta)).map_err(io_err)?;
            probe.len() as u64
        };
        me.ends.push_back(shb_len);
        for i in &meta.interfaces {
            me.add_interface(&NewIface::from_meta(i))?;
        }
        Ok(me)
    }

    /// Write a block and note where it ends.
    fn block<'a, B: PcapNgBlock<'a>>(&mut self, b: B) -> io::Result<()> {
        let n = self.w.write_pcapng_block(b).map_err(io_err)? as u64;
        let end = self.ends.back().copied().unwrap_or(0) + n;
        self.ends.push_back(end);
        while self.ends.len() > 2 && self.ends[1] + BOUNDARY_SPAN < end {
            self.ends.pop_front();
        }
        Ok(())
    }

    /// The end of the last whole block at or before `len` bytes (what a file
    /// cut at `len` can be truncated to), if one is known.
    pub fn block_end_within(&self, len: u64) -> Option<u64> {
        self.ends.iter().rev().find(|&&e| e <= len).copied()
    }

    pub fn get_mut(&mut self) -> &mut W {
        self.w.get_mut()
    }

    fn add_interface(&mut self, i: &NewIface<'_>) -> io::Result<u32> {
        let NewIface {
            ifindex,
            name,
            rate,
            mac,
            mtu,
            link_type,
        } = *i;
        if let Some(id) = self.ids.get(&(ifindex, rate)) {
            return Ok(*id);
        }
        let mut options = vec![
            InterfaceDescriptionOption::IfName(Cow::Owned(name.to_string())),
            InterfaceDescriptionOption::IfDescription(Cow::Owned(format!(
                "pktsample: sampling 1-in-{rate}, ifindex {ifindex}"
            ))),
            InterfaceDescriptionOption::IfTsResol(InterfaceTsResolution::NANO),
        ];
        if let Some(m) = mac.and_then(parse_mac) {
            options.push(InterfaceDescriptionOption::IfMacAddr(Cow::Owned(
                m.to_vec(),
            )));
        }
        options.push(InterfaceDescriptionOption::Common(
            CommonOption::CustomUtf8Copiable(CustomUtf8Option {
                pen: PEN,
                value: Cow::Owned(
                    IfaceOption {
                        ifindex,
                        sampling_rate: rate,
                        mtu,
                    }
                    .encode(),
                ),
            }),
        ));
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::from(link_type),
            snaplen: self.snaplen,
            options,
        };
        self.block(idb)?;
        let id = self.ifaces.len() as u32;
        self.ids.insert((ifindex, rate), id);
        self.ifaces.push((ifindex, rate));
        Ok(id)
    }

    pub fn write(&mut self, r: &SampleRow<'_>) -> io::Result<()> {
        let id = self.add_interface(&NewIface {
            ifindex: r.ifindex,
            name: r.ifname,
            rate: r.sampling_rate,
            mac: None,
            mtu: None,
            link_type: r.link_type,
        })?;
        let mut options = Vec::with_capacity(2);
        let flags = r.direction.epb_flags();
        if flags != 0 {
            options.push(EnhancedPacketOption::Flags(flags));
        }
        if r.ingress_ifindex.is_some() || r.routed_ifindex.is_some() {
            let po = PacketOption {
                ingress_ifindex: r.ingress_ifindex,
                routed_ifindex: r.routed_ifindex,
            };
            options.push(EnhancedPacketOption::Common(
                CommonOption::CustomBinaryCopiable(CustomBinaryOption {
                    pen: PEN,
                    value: Cow::Owned(po.encode().to_vec()),
                }),
            ));
        }
        let epb = EnhancedPacketBlock {
            interface_id: id,
            timestamp: duration_ns(r.timestamp_ns)?,
            original_len: r.pkt_len,
            data: Cow::Borrowed(r.header),
            options,
        };
        self.block(epb)
    }

    /// Write the statistics blocks and the metadata block (then take the
    /// sink with [`PcapngSampleWriter::into_inner`]).
    pub fn finish(&mut self, meta: &CaptureMetadata) -> io::Result<()> {
        // Interfaces in the metadata that never had a sample still get a block,
        // so their statistics are visible.
        for i in &meta.interfaces {
            self.add_interface(&NewIface::from_meta(i))?;
        }
        let (start, end) = meta.time_range_ns();
        let json = meta.to_json();
        // The metadata rides in the last statistics block, as a custom option:
        // Wireshark 4.0 shows a custom *block* as an extra packet. An option
        // holds at most 65535 bytes; a larger document (hundreds of
        // interfaces) falls back to a custom block.
        let in_option = json.len() <= MAX_OPTION_LEN && !self.ifaces.is_empty();
        let last = self.ifaces.len().saturating_sub(1);
        for (id, &(ifindex, rate)) in self.ifaces.clone().iter().enumerate() {
            let t = meta
                .interface(ifindex, rate)
                .map(|im| im.total())
                .unwrap_or_default();
            let mut options = Vec::new();
            if let Some(s) = start {
                options.push(InterfaceStatisticsOption::IsbStartTime(duration_ns(s)?));
            }
            if let Some(e) = end {
                options.push(InterfaceStatisticsOption::IsbEndTime(duration_ns(e)?));
            }
            options.push(InterfaceStatisticsOption::IsbIfRecv(t.packets_seen));
            options.push(InterfaceStatisticsOption::IsbIfDrop(t.drops));
            options.push(InterfaceStatisticsOption::IsbUsrDeliv(t.samples));
            if in_option && id == last {
                options.push(InterfaceStatisticsOption::Common(
                    CommonOption::CustomUtf8Copiable(CustomUtf8Option {
                        pen: PEN,
                        value: Cow::Borrowed(&json),
                    }),
                ));
            }
            let isb = InterfaceStatisticsBlock {
                interface_id: id as u32,
                timestamp: duration_ns(end.or(start).unwrap_or(0))?,
                options,
            };
            self.block(isb)?;
        }
        if !in_option {
            let cb: CustomBlock<'_, true> = CustomBlock {
                pen: PEN,
                payload: Cow::Owned(padded_json(meta)),
            };
            self.block(cb)?;
        }
        Ok(())
    }

    pub fn into_inner(self) -> W {
        self.w.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_option_round_trip() {
        for po in [
            PacketOption::default(),
            PacketOption {
                ingress_ifindex: Some(7),
                routed_ifindex: None,
            },
            PacketOption {
                ingress_ifindex: Some(0),
                routed_ifindex: Some(u32::MAX),
            },
        ] {
            assert_eq!(PacketOption::decode(&po.encode()), Some(po));
        }
        assert_eq!(PacketOption::decode(&[4, 0, 0, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(PacketOption::decode(&[0; 8]), None);
    }

    #[test]
    fn mac_round_trip() {
        let m = [2, 0, 0xab, 0, 0, 0xff];
        assert_eq!(parse_mac(&format_mac(&m)), Some(m));
        assert_eq!(parse_mac("02:00"), None);
        assert_eq!(parse_mac("02:00:00:00:00:00:00"), None);
    }
}
