//! pcap and pcapng, plain or gzip/zstd compressed, of every link type: the
//! reader either walks the file or returns an error; every packet it hands
//! out decodes (by its interface's link type) without a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pktsample_schemas::decode::{cooked, decode_link};
use pktsample_schemas::input::{CaptureReader, Interface, Packet, Visitor};
use pktsample_schemas::{FormatError, SampleBatchBuilder, SampleRow};

struct Walk {
    ifaces: Vec<Interface>,
    rows: SampleBatchBuilder,
}

impl Visitor for Walk {
    type Error = FormatError;

    fn interface(&mut self, index: usize, i: &Interface) -> Result<(), FormatError> {
        assert_eq!(index, self.ifaces.len());
        self.ifaces.push(i.clone());
        Ok(())
    }

    fn packet(&mut self, p: &Packet<'_>) -> Result<(), FormatError> {
        let i = &self.ifaces[p.iface];
        assert!(p.data.len() as u64 <= u64::from(p.orig_len));
        let _ = decode_link(i.linktype, p.data);
        let _ = cooked(i.linktype, p.data);
        self.rows.push(&SampleRow {
            timestamp_ns: p.timestamp_ns,
            ifindex: i.ifindex,
            ifname: &i.name,
            direction: p.direction,
            sampling_rate: i.sampling_rate,
            pkt_len: p.orig_len,
            header: &p.data[..p.data.len().min(256)],
            ingress_ifindex: p.ingress_ifindex,
            routed_ifindex: p.routed_ifindex,
            link_type: i.linktype,
        });
        if self.rows.len() >= 1024 {
            self.rows.finish();
        }
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(r) = CaptureReader::from_bytes(Path::new("fuzz"), data.to_vec()) else {
        return;
    };
    let mut w = Walk {
        ifaces: Vec::new(),
        rows: SampleBatchBuilder::new(),
    };
    if let Ok(stats) = r.read(&mut w) {
        assert!(stats.packets > 0 || stats.skipped.is_empty());
    }
    w.rows.finish();
});
