//! MaxMind DB files (GeoLite2-ASN, DB-IP, IPinfo): detected by the
//! metadata marker near the end, every network iterated with `maxminddb`
//! and fed to the same table builder as the text formats.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Deserialize;

use crate::error::AsnError;
use crate::load::{Builder, Format, Loaded, parse_asn};

const MMDB_MARKER: &[u8] = b"\xab\xcd\xefMaxMind.com";

pub(crate) fn is_mmdb(b: &[u8]) -> bool {
    let tail = &b[b.len().saturating_sub(128 * 1024)..];
    tail.windows(MMDB_MARKER.len()).any(|w| w == MMDB_MARKER)
}

/// The ASN fields of the common MaxMind-format ASN databases: MaxMind and
/// DB-IP (`autonomous_system_number`/`_organization`), IPinfo (`asn` as
/// "AS13335", `name` or `as_name`).
#[derive(Deserialize, Default)]
struct MmdbRecord {
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(default)]
    autonomous_system_organization: Option<String>,
    #[serde(default)]
    asn: Option<AsnValue>,
    #[serde(default)]
    as_name: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AsnValue {
    Num(u32),
    Str(String),
}

pub(crate) fn load_mmdb(path: &Path, bytes: Vec<u8>) -> Result<Loaded, AsnError> {
    let corrupt = |e: maxminddb::MaxMindDbError| AsnError::Corrupt {
        path: path.into(),
        what: format!("MaxMind DB: {e}"),
    };
    let r = maxminddb::Reader::from_source(bytes).map_err(corrupt)?;
    let db_type = r.metadata().database_type.clone();
    let v6_tree = r.metadata().ip_version == 6;
    let mut b = Builder::new(path);
    let mut with_asn = 0u64;
    for item in r.networks(Default::default()).map_err(corrupt)? {
        let item = item.map_err(corrupt)?;
        let net = item.network().map_err(corrupt)?;
        let rec: MmdbRecord = item.decode().map_err(corrupt)?.unwrap_or_default();
        b.entries += 1;
        let asn = match (&rec.autonomous_system_number, &rec.asn) {
            (Some(n), _) => Some(*n),
            (None, Some(AsnValue::Num(n))) => Some(*n),
            (None, Some(AsnValue::Str(s))) => Some(parse_asn(s).map(|(n, _)| n).ok_or_else(
                || AsnError::Corrupt {
                    path: path.into(),
                    what: format!("network {net}: AS number '{s}' is not a number"),
                },
            )?),
            (None, None) => None,
        };
        let Some(asn) = asn else {
            b.an.no_asn += 1;
            if with_asn == 0 && b.entries >= 100 {
                break;
            }
            continue;
        };
        with_asn += 1;
        let name = rec
            .autonomous_system_organization
            .or(rec.as_name)
            .or(rec.name);
        if let Some(n) = &name {
            b.name(asn, n);
        }
        let net = match (net.network(), net.prefix()) {
            (IpAddr::V4(a), len) => IpNet::V4(Ipv4Net::new(a, len).expect("valid prefix")),
            (IpAddr::V6(a), len) => {
                let x = u128::from(a);
                if v6_tree && len >= 96 && x >> 32 == 0 {
                    // The IPv4 subtree of an IPv6 database (::a.b.c.d/96+n).
                    IpNet::V4(
                        Ipv4Net::new(Ipv4Addr::from(x as u32), len - 96).expect("valid prefix"),
                    )
                } else {
                    IpNet::V6(Ipv6Net::new(a, len).expect("valid prefix"))
                }
            }
        };
        b.prefix(net, asn, 0);
    }
    if with_asn == 0 {
        return Err(AsnError::Unsupported {
            path: path.into(),
            what: format!(
                "MaxMind DB of type '{db_type}' has no AS number field (autonomous_system_number or asn): pass an ASN database such as GeoLite2-ASN"
            ),
        });
    }
    Ok(b.finish(Format::Mmdb))
}
