//! The fast pcap and pcapng paths against pcap-file's (the reference): on any input,
//! the same interfaces, packets, metadata and end, or both refuse to open.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pktsample_schemas::input::{CaptureReader, Transcript};

fuzz_target!(|data: &[u8]| {
    let open = || CaptureReader::from_bytes(Path::new("fuzz"), data.to_vec());
    let (fast, reference) = match (open(), open()) {
        (Ok(a), Ok(b)) => (Transcript::of(&a), Transcript::of(&b.reference())),
        (Err(a), Err(b)) => return assert_eq!(a.to_string(), b.to_string()),
        _ => unreachable!("the same bytes"),
    };
    assert_eq!(fast.events, reference.events);
    match (&fast.end, &reference.end) {
        (Some(Ok(a)), Some(Ok(b))) => {
            assert_eq!((a.packets, &a.skipped), (b.packets, &b.skipped))
        }
        (a, b) => assert_eq!(a, b),
    }
});
