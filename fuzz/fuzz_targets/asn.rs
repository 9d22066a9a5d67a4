//! Every IP-to-AS database format (MaxMind DB, range TSV/CSV, pfx2as,
//! prefix lists, AS-name JSON, gzip of any): a table or an error naming the
//! file; never a panic. Lookups on a loaded table stay in range.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use pktsample_asn::AsDb;

fuzz_target!(|data: &[u8]| {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let mut f = tempfile::Builder::new()
        .prefix("pktsample-fuzz-")
        .tempfile_in(dir)
        .expect("temp file");
    f.write_all(data).expect("write");
    if let Ok(db) = AsDb::load(&[f.path().to_path_buf()]) {
        for a in ["192.0.2.1", "2001:db8::1", "8.8.8.8", "::"] {
            let o = db.lookup(a.parse().unwrap());
            let _ = db.origin_name(o);
        }
    }
});
