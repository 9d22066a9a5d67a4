//! The header decoder of every link type (and of unknown ones) on any
//! bytes, through every shim and tunnel: never a panic, and the fields it
//! gives are consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pktsample_schemas::decode::{cooked, decode_link, linktype};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let lt = match linktype::SUPPORTED.get(sel as usize % (linktype::SUPPORTED.len() + 1)) {
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
    // An inner header only behind a tunnel; the stack is bounded.
    if d.inner.is_some() {
        assert!(d.encap.tunnelled());
    }
    assert!(d.encap.len() <= pktsample_schemas::decode::encap::MAX_LAYERS);
    let _ = d.encap.text();
    let _ = cooked(lt, bytes);
});
