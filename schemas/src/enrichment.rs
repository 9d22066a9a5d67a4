//! What fills a file's enrichment columns as it is written: the AS columns
//! (an ASN database) and the Kubernetes columns (cluster snapshots), with
//! the caches a writer keeps across its batches.

use std::sync::Arc;

use arrow_array::RecordBatch;

use crate::attribute::{Attribute, AttributeCache, attribute};
use crate::meta::CaptureMetadata;
use crate::record::{Enrich, EnrichCache, enrich};

/// The enrichments of an output (none by default).
#[derive(Clone, Debug, Default)]
pub struct Enrichment {
    pub asn: Option<Arc<dyn Enrich>>,
    pub k8s: Option<Arc<dyn Attribute>>,
}

/// The caches of one writer.
#[derive(Default)]
pub struct EnrichCaches {
    asn: EnrichCache,
    k8s: AttributeCache,
}

impl Enrichment {
    pub fn is_empty(&self) -> bool {
        self.asn.is_none() && self.k8s.is_none()
    }

    /// The batch with its enrichment columns filled.
    pub fn apply(&self, b: &RecordBatch, c: &mut EnrichCaches) -> RecordBatch {
        let b = match &self.asn {
            Some(e) => enrich(b, e.as_ref(), &mut c.asn),
            None => b.clone(),
        };
        match &self.k8s {
            Some(k) => attribute(&b, k.as_ref(), &mut c.k8s),
            None => b,
        }
    }

    /// Name the databases and snapshots in the file's metadata.
    pub fn describe(&self, meta: &mut CaptureMetadata) {
        if let Some(e) = &self.asn {
            meta.asn_databases = e.describe();
        }
        if let Some(k) = &self.k8s {
            meta.k8s_snapshots = k.describe();
        }
    }
}
