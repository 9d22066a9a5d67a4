//! pcapng: enhanced packet blocks walked straight from the window (see
//! [`epb`]), every other block through pcap-file's parser, which also keeps
//! the section's state (byte order, interfaces, timestamp resolutions).

use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::interface_statistics::InterfaceStatisticsOption;
use pcap_file::pcapng::blocks::opt_common::CommonOption;
use pcap_file::pcapng::{Block, PcapNgParseError, PcapNgParser};

use super::{
    CaptureReader, Interface, MAX_BLOCK, MAX_CAPLEN, Packet, Visitor, Walk, borrowed, epb,
};
use crate::error::FormatError;
use crate::feed::Feed;
use crate::meta::{CaptureMetadata, Direction};
use crate::pcapng::{self as ours, IfaceOption, PacketOption};

/// The current section: its interface ids -> the reader's interfaces, and
/// their clocks for the fast path.
#[derive(Default)]
struct Section {
    ifaces: Vec<usize>,
    ts: Vec<Option<epb::Clock>>,
}

/// A packet's captured length, checked: the detail of the error when it
/// cannot be (a lying original length is counted and skipped by the walk).
fn lengths(data: &[u8], orig: u32) -> Result<(), String> {
    if data.len() > MAX_CAPLEN as usize {
        return Err(format!(
            "packet with captured length {} and original length {orig}",
            data.len()
        ));
    }
    Ok(())
}

impl CaptureReader {
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

    pub(super) fn read_pcapng<V: Visitor>(
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
        let mut s = Section::default();
        let mut blocks: u64 = 0;
        loop {
            if self.ended(feed)? {
                break;
            }
            if !self.reference {
                // Enhanced packet blocks straight from the window, as long as
                // they are whole and plain (see `epb`); anything else goes to
                // the reference parser below, one block at a time.
                let data = feed.data();
                let mut rest = data;
                let mut bad = None;
                while let Some((next, e)) = epb::parse(&parser, &s.ts, rest) {
                    let p = Packet {
                        timestamp_ns: e.timestamp_ns,
                        iface: s.ifaces[e.interface_id as usize],
                        orig_len: e.orig_len,
                        data: e.data,
                        direction: e.direction,
                        ingress_ifindex: e.ingress_ifindex,
                        routed_ifindex: e.routed_ifindex,
                    };
                    if let Err(detail) = lengths(p.data, p.orig_len) {
                        bad = Some(detail);
                        break;
                    }
                    w.deliver(v, p)?;
                    w.stats.fast_blocks += 1;
                    rest = next;
                    blocks += 1;
                    if blocks.is_multiple_of(65536) {
                        v.progress(feed.position(data.len() - rest.len()));
                    }
                }
                let used = data.len() - rest.len();
                feed.consume(used);
                if let Some(detail) = bad {
                    return Err(self.corrupt(feed, detail).into());
                }
                if used > 0 {
                    continue;
                }
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
            self.pcapng_block(feed, w, v, &mut s, block)?;
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
        s: &mut Section,
        block: Block<'_>,
    ) -> Result<(), V::Error> {
        let lengths =
            |data: &[u8], orig: u32| lengths(data, orig).map_err(|d| self.corrupt(feed, d));
        match block {
            Block::SectionHeader(_) => {
                s.ifaces.clear();
                s.ts.clear();
            }
            Block::InterfaceStatistics(isb) => {
                for o in &isb.options {
                    if let InterfaceStatisticsOption::Common(CommonOption::CustomUtf8Copiable(c)) =
                        o
                        && c.pen == ours::PEN
                    {
                        if ours::is_metadata(&c.value) {
                            v.metadata(self.metadata_option(feed, &c.value)?)?;
                        } else {
                            w.stats.foreign_custom += 1;
                        }
                    }
                }
            }
            Block::CustomNonCopiable(_) => w.stats.foreign_custom += 1,
            Block::CustomCopiable(cb) => {
                // Custom data is padded to 32 bits; JSON has no NUL. Ours is
                // known by its marker, not by the PEN alone (the PEN is the
                // one IANA lists for examples: other programs write it too).
                let payload = cb.payload.as_ref();
                let end = payload.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                match std::str::from_utf8(&payload[..end]) {
                    Ok(json) if cb.pen == ours::PEN && ours::is_metadata(json) => {
                        v.metadata(self.metadata_option(feed, json)?)?;
                    }
                    _ => w.stats.foreign_custom += 1,
                }
            }
            Block::InterfaceDescription(idb) => {
                let i = w.add(v, interface_from_idb(&idb, s.ifaces.len()))?;
                s.ifaces.push(i);
                s.ts.push(epb::Clock::of(&idb));
            }
            Block::EnhancedPacket(epb) => {
                // The parser checked the interface id against the section.
                let iface = s.ifaces[epb.interface_id as usize];
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
                            // Another program's option under the same PEN
                            // is skipped and counted.
                            match PacketOption::decode(&c.value) {
                                Some(po) => {
                                    p.ingress_ifindex = po.ingress_ifindex;
                                    p.routed_ifindex = po.routed_ifindex;
                                }
                                None => w.stats.foreign_custom += 1,
                            }
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
                    iface: s.ifaces[0],
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
                let iface = *s.ifaces.get(pb.interface_id as usize).ok_or_else(|| {
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
