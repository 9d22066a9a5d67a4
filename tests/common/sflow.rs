//! sFlow datagrams as a collector's capture holds them: UDP in IPv4 in
//! Ethernet, whole or in fragments.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapWriter};

fn ipv4(payload_len: usize, id: u16, frag: u16) -> Vec<u8> {
    let total = (20 + payload_len) as u16;
    let mut h = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        (id >> 8) as u8,
        id as u8,
        (frag >> 8) as u8,
        frag as u8,
        64,
        17,
        0,
        0,
        192,
        0,
        2,
        10,
        192,
        0,
        2,
        20,
    ];
    let sum = h
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum::<u32>();
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    h[10..12].copy_from_slice(&sum.to_be_bytes());
    h
}

fn ethernet() -> Vec<u8> {
    vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]
}

fn udp(payload: &[u8], port: u16) -> Vec<u8> {
    let udp = (8 + payload.len()) as u16;
    let mut u = vec![0xC0, 0x01];
    u.extend_from_slice(&port.to_be_bytes());
    u.extend_from_slice(&[(udp >> 8) as u8, udp as u8, 0, 0]);
    u.extend_from_slice(payload);
    u
}

/// The datagram as an Ethernet/IPv4/UDP frame to `port`.
pub fn frame_to(payload: &[u8], port: u16) -> Vec<u8> {
    let u = udp(payload, port);
    let mut f = ethernet();
    f.extend(ipv4(u.len(), 1, 0x4000));
    f.extend(u);
    f
}

/// The datagram as an Ethernet/IPv4/UDP frame to port 6343.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    frame_to(payload, 6343)
}

/// The datagram in IPv4 fragments of at most `mtu` bytes of IP packet.
pub fn fragments(payload: &[u8], id: u16, mtu: usize) -> Vec<Vec<u8>> {
    let u = udp(payload, 6343);
    let step = (mtu - 20) & !7;
    let mut out = Vec::new();
    for (i, c) in u.chunks(step).enumerate() {
        let off = (i * step / 8) as u16;
        let more = if (i + 1) * step < u.len() { 0x2000 } else { 0 };
        let mut f = ethernet();
        f.extend(ipv4(c.len(), id, more | off));
        f.extend_from_slice(c);
        out.push(f);
    }
    out
}

/// Frames into a pcap, a millisecond apart.
pub fn write_frames(path: &Path, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::new(File::create(path).unwrap()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_packet(
            &PcapPacket::new(
                Duration::from_millis(1_700_000_000_000 + i as u64),
                f.len() as u32,
                f,
            )
            .unwrap(),
        )
        .unwrap();
    }
}

/// Datagrams into a pcap, each in one frame.
pub fn write_pcap(path: &Path, datagrams: &[Vec<u8>]) {
    let frames: Vec<Vec<u8>> = datagrams.iter().map(|d| frame(d)).collect();
    write_frames(path, &frames);
}
