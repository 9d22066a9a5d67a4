//! The sFlow v5 decoder on any datagram: an error or a datagram, never a
//! panic or a huge allocation; what it reads, written again, reads the same.
//! Each input is also tried behind a valid datagram header (version 5, an
//! IPv4 agent), so that mutations reach the samples and records at once.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pktsample_schemas::sflow::{decode, encode};

fn check(b: &[u8]) {
    if let Ok(d) = decode(b) {
        let again = decode(&encode(&d)).expect("an encoded datagram decodes");
        assert_eq!(again.samples, d.samples);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut b = vec![0, 0, 0, 5, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    b.extend_from_slice(data);
    check(&b);
});
