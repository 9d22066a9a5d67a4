//! IP-to-AS attribution for pktsample: which network an address belongs to.
//!
//! Operators want traffic by origin AS, and want to pick (and override) the
//! data source. This crate reads every common free format — MaxMind DB
//! (GeoLite2-ASN, DB-IP, IPinfo), iptoasn / ip-location-db ranges, CAIDA
//! pfx2as and pyasn prefix lists, gzip or plain — detected from the content,
//! into one longest-prefix-match table per address family. Files given
//! later override earlier ones for the same prefix; a more specific prefix
//! always wins. Addresses no database maps are labelled by their
//! special-purpose range ([`Unmapped`]) rather than lumped with real ASes.
//!
//! Analyze and the capture-side enrichment both depend on this crate; it
//! depends on neither.

#![forbid(unsafe_code)]

mod error;
mod flat;
mod load;
mod mmdb;
mod special;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use flat::Flat;
use ipnet::{Ipv4Net, Ipv6Net};

pub use error::AsnError;
pub use load::{FileSummary, Format};
pub use special::{Unmapped, classify};

/// Merge per-file prefix streams (each in prefix order) into one: by first
/// address, then shorter prefix first, then file order, so that on the same
/// prefix the later file comes last and wins. Counts distinct prefixes.
fn merged<'a, K: flat::Addr + 'a>(
    mut its: Vec<impl Iterator<Item = (K, K, u32)> + 'a>,
    distinct: &'a mut usize,
) -> impl Iterator<Item = (K, K, u32)> + 'a {
    let mut heads: Vec<Option<(K, K, u32)>> = its.iter_mut().map(|i| i.next()).collect();
    let mut last: Option<(K, K)> = None;
    std::iter::from_fn(move || {
        // Few files: a linear scan for the smallest head.
        let (i, _) = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.map(|h| (i, (h.0, std::cmp::Reverse(h.1)))))
            .min_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)))?;
        let h = heads[i].take().expect("a head");
        heads[i] = its[i].next();
        if last != Some((h.0, h.1)) {
            *distinct += 1;
            last = Some((h.0, h.1));
        }
        Some(h)
    })
}

/// The origin of an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// A real AS number (never 0).
    As(u32),
    /// No AS: unrouted, or a special-purpose range.
    None(Unmapped),
}

impl Origin {
    pub fn asn(self) -> Option<u32> {
        match self {
            Origin::As(n) => Some(n),
            Origin::None(_) => None,
        }
    }

    /// A compact key: the AS number, or 2^32 + the class.
    pub fn key(self) -> u64 {
        match self {
            Origin::As(n) => n as u64,
            Origin::None(u) => (1 << 32) | u as u64,
        }
    }

    pub fn from_key(k: u64) -> Origin {
        if k >> 32 == 0 {
            Origin::As(k as u32)
        } else {
            Origin::None(Unmapped::ALL[(k & 0xff) as usize])
        }
    }

    /// "AS13335", or the label of an unmapped class ("private", ...).
    pub fn label(self) -> String {
        match self {
            Origin::As(n) => format!("AS{n}"),
            Origin::None(u) => u.label().to_string(),
        }
    }
}

/// All loaded databases as one longest-prefix-match table: built in
/// prefix-trie maps, then flattened for lookups (`flat`).
pub struct AsDb {
    v4: Flat<u32>,
    v6: Flat<u128>,
    prefixes: (usize, usize),
    names: HashMap<u32, String>,
    files: Vec<FileSummary>,
}

impl std::fmt::Debug for AsDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsDb")
            .field("v4", &self.prefixes.0)
            .field("v6", &self.prefixes.1)
            .field("names", &self.names.len())
            .finish()
    }
}

impl AsDb {
    /// Load the files in order: later files override earlier ones for the
    /// same prefix, and their names override earlier names of the same AS.
    pub fn load(paths: &[PathBuf]) -> Result<AsDb, AsnError> {
        // Files parse in parallel, each into its own trie; the tries are
        // then merged in prefix order straight into the lookup table (the
        // later file's value wins on the same prefix).
        let loaded: Vec<Result<load::Loaded, AsnError>> = std::thread::scope(|sc| {
            let handles: Vec<_> = paths
                .iter()
                .map(|p| sc.spawn(move || load::load_file(p)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let loaded: Vec<load::Loaded> = loaded.into_iter().collect::<Result<_, _>>()?;
        let mut names = HashMap::new();
        let mut files = Vec::new();
        let (mut n4, mut n6) = (0usize, 0usize);
        let v4 = Flat::build(merged(
            loaded
                .iter()
                .map(|l| flat::prefixes_of(&l.v4, |p: &Ipv4Net| u32::from(p.network())))
                .collect(),
            &mut n4,
        ));
        let v6 = Flat::build(merged(
            loaded
                .iter()
                .map(|l| flat::prefixes_of(&l.v6, |p: &Ipv6Net| u128::from(p.network())))
                .collect(),
            &mut n6,
        ));
        for l in loaded {
            names.extend(l.names);
            files.push(l.summary);
        }
        if n4 == 0 && n6 == 0 {
            return Err(AsnError::Unsupported {
                path: paths.last().cloned().unwrap_or_default(),
                what: "no prefixes in the given --asn-db files (an AS names file needs a database of prefixes too)".into(),
            });
        }
        Ok(AsDb {
            v4,
            v6,
            prefixes: (n4, n6),
            names,
            files,
        })
    }

    /// The origin AS of an address: the longest matching prefix. AS 0 and
    /// no match are [`Origin::None`], with the special-purpose class of the
    /// address or [`Unmapped::Unrouted`].
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Origin {
        let v = match ip {
            IpAddr::V4(a) => self.v4.get(u32::from(a)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(a4) => self.v4.get(u32::from(a4)),
                None => self.v6.get(u128::from(a)),
            },
        };
        if v != 0 && v != flat::NONE {
            Origin::As(v)
        } else {
            Origin::None(classify(ip).unwrap_or(Unmapped::Unrouted))
        }
    }

    /// The organisation name of an AS, from the last file naming it.
    pub fn name(&self, asn: u32) -> Option<&str> {
        self.names.get(&asn).map(String::as_str)
    }

    /// The name of an origin: the AS's name, or the class label.
    pub fn origin_name(&self, o: Origin) -> Option<&str> {
        match o {
            Origin::As(n) => self.name(n),
            Origin::None(u) => Some(u.label()),
        }
    }

    pub fn files(&self) -> &[FileSummary] {
        &self.files
    }

    /// Counted anomalies of every file, for the report.
    pub fn warnings(&self) -> Vec<String> {
        self.files.iter().flat_map(|f| f.warnings.clone()).collect()
    }

    /// Prefixes in the merged table (IPv4, IPv6).
    pub fn prefixes(&self) -> (usize, usize) {
        self.prefixes
    }

    /// Disjoint intervals of the lookup table (IPv4, IPv6).
    pub fn intervals(&self) -> (usize, usize) {
        (self.v4.intervals(), self.v6.intervals())
    }

    pub fn name_count(&self) -> usize {
        self.names.len()
    }
}
