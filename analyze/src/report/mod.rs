//! The report: one data model, rendered by one small module per format.
//!
//! The JSON rendering is a documented, versioned contract
//! (`schemas/report-v1.md`, `schemas/report-v1.schema.json`): every estimate
//! is `{"estimate", "low", "high"}` (a 95 % interval) and every breakdown row
//! has its key fields, `samples`, `packets` and `bytes`. Which members a
//! section fills, under which title, is [`crate::catalog`]'s to say.

mod csv;
mod format;
mod html;
mod json;
mod markdown;
mod model;
mod table;
pub mod text;

use std::io::Write;

pub use self::csv::Csv;
pub use self::format::{hosts_text, interval_text, share_text, si, unreliable_text, unseen_text};
pub use self::html::Html;
pub use self::json::Json;
pub use self::markdown::Markdown;
pub use self::model::*;
pub use self::table::Table;
pub use self::text::{Chart, TextRow, TextSection};

/// Version of the JSON report contract.
pub const REPORT_VERSION: &str = "1.8";

/// A rendering of a report.
pub trait Render {
    fn render(&self, r: &Report, out: &mut dyn Write) -> std::io::Result<()>;
}
