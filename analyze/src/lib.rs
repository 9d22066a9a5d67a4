//! Analysis of samples files: scaled traffic estimates, each with a 95 %
//! confidence interval.
//!
//! Reads Parquet and pcapng samples (and plain captures, as rate 1) only
//! through `pktsample-schemas`, never the capture side. [`engine`] aggregates
//! in parallel, [`estimate`] turns sums into estimates with the estimators of
//! [`stats`], and [`mod@report`] renders them as a table, JSON, CSV or Markdown.

#![forbid(unsafe_code)]

pub mod catalog;
pub mod engine;
pub mod error;
pub mod estimate;
pub mod inputs;
pub mod names;
pub mod report;
pub mod section;
pub mod sql;
pub mod stats;

pub use catalog::report;
pub use engine::{Analysis, Query, run};
pub use error::AnalyzeError;
pub use report::{Render, Report};
pub use section::{Section, Sections};
