//! JSON: the versioned contract (`schemas/report-v1.md`).

use std::io::Write;

use super::{Render, Report};

pub struct Json;

impl Render for Json {
    fn render(&self, r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, r)?;
        writeln!(out)
    }
}
