//! pcapng files built block by block, for inputs no generator writes.

use std::path::Path;

use arrow_array::cast::AsArray;

use super::{concat, fixture, read_all};

/// Writes a pcapng file block by block with pcap-file.
pub fn pcapng_with(path: &Path, blocks: &[pcap_file::pcapng::Block<'_>]) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = pcap_file::pcapng::PcapNgWriter::new(f).unwrap();
    for b in blocks {
        w.write_block(b).unwrap();
    }
}

pub fn idb(linktype: u32, name: &'static str) -> pcap_file::pcapng::Block<'static> {
    use pcap_file::pcapng::blocks::interface_description::*;
    pcap_file::pcapng::Block::InterfaceDescription(InterfaceDescriptionBlock {
        linktype: pcap_file::DataLink::from(linktype),
        snaplen: 0,
        options: vec![InterfaceDescriptionOption::IfName(name.into())],
    })
}

pub fn epb(iface: u32, ns: u64, data: &[u8]) -> pcap_file::pcapng::Block<'static> {
    use pcap_file::pcapng::blocks::enhanced_packet::*;
    pcap_file::pcapng::Block::EnhancedPacket(EnhancedPacketBlock {
        interface_id: iface,
        timestamp: std::time::Duration::from_nanos(ns),
        original_len: data.len() as u32,
        data: data.to_vec().into(),
        options: vec![],
    })
}

/// The frames of a trace (Ethernet), to build files by hand.
pub fn frames(name: &str, n: usize) -> Vec<Vec<u8>> {
    let (b, _) = read_all(&fixture(name));
    let b = concat(&b);
    let h = b.column_by_name("header").unwrap().as_binary::<i32>();
    (0..n).map(|i| h.value(i).to_vec()).collect()
}
