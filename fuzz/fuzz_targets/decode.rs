//! The header decoder of every link type (and of unknown ones) on any
//! bytes: never a panic, and the fields it gives are consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pktsample_schemas::decode::{cooked, decode_link, linktype};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let lt = match linktype::SUPPORTED.get(sel as usize % 9) {
        Some(&lt) => lt,
        None => u32::from(sel),
    };
    let d = decode_link(lt, bytes);
    if d.ip_version.is_none() {
        assert!(d.src_addr.is_none() && d.ip_proto.is_none());
    }
    if d.src_port.is_some() {
        assert!(d.ip_proto.is_some());
    }
    let _ = cooked(lt, bytes);
});
