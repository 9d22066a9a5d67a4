//! Every IP-to-AS database format (MaxMind DB, range TSV/CSV, pfx2as,
//! prefix lists, AS-name JSON, gzip of any): a table or an error naming the
//! file; never a panic. Lookups on a loaded table stay in range.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;
use pktsample_asn::AsDb;

fuzz_target!(|data: &[u8]| {
    let f = common::temp_file(data);
    if let Ok(db) = AsDb::load(&[f.path().to_path_buf()]) {
        for a in ["192.0.2.1", "2001:db8::1", "8.8.8.8", "::"] {
            let o = db.lookup(a.parse().unwrap());
            let _ = db.origin_name(o);
        }
    }
});
