//! The pktsample samples format: the public, versioned contract between
//! capture, analyze and notebooks.
//!
//! It exists as its own crate so that capture and analyze share exactly one
//! definition of the schema ([`schema`]), of the metadata ([`meta`]), of header
//! decoding ([`decode`]) and of the Parquet and pcapng encodings ([`samples`],
//! [`pcapng`], [`input`]) without depending on each other.

pub mod addr_text;
pub mod attribute;
mod columns;
pub mod convert;
pub mod dataset;
pub mod decode;
pub mod enrichment;
pub mod error;
pub mod feed;
pub mod foreign;
pub mod guard;
pub mod input;
pub mod meta;
pub mod output;
pub mod pcapng;
pub mod policy;
pub mod record;
pub mod salvage;
pub mod samples;
pub mod schema;
pub mod sflow;
pub mod writer;

pub use attribute::{Attribute, Context};
pub use enrichment::Enrichment;
pub use error::FormatError;
pub use meta::{CaptureMetadata, Direction, DirectionStats, InterfaceMeta, METADATA_KEY, Source};
pub use policy::PolicyCheck;
pub use record::{
    Enrich, EnrichCache, SampleBatchBuilder, SampleColumns, SampleRow, conform, enrich,
};
pub use samples::{open_parquet, read_samples};
pub use schema::{SCHEMA_VERSION, samples_schema, schema_dump};
pub use writer::{OutputFormat, SampleWriter, WriterOptions};
