//! Shared by the targets that need a file: the input in a temporary file
//! (in memory under /dev/shm where there is one).

use std::io::Write;

pub fn temp_file(data: &[u8]) -> tempfile::NamedTempFile {
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
    f
}
