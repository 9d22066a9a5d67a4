//! Reading one database file, whatever its format: the format is detected
//! from the content (gzip is unwrapped first), never from the name.
//!
//! Text formats are parsed by hand (each is a line of a few fields; the CSV
//! variant goes through the `csv` crate for quoting). Every line either
//! parses or fails the load with its file and line number: a half-read
//! database would mis-attribute traffic silently.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{IpNet, Ipv4Net, Ipv4Subnets, Ipv6Net, Ipv6Subnets};
use prefix_trie::PrefixMap;

use crate::error::AsnError;

/// Database formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// MaxMind DB (GeoLite2-ASN, DB-IP ASN, IPinfo ASN).
    Mmdb,
    /// `start end asn [country] [name]` ranges: iptoasn's ip2asn TSV,
    /// ip-location-db's `start,end,asn,org` CSV (addresses or integers).
    Ranges,
    /// CAIDA RouteViews pfx2as: `prefix<TAB>length<TAB>asn`.
    Pfx2as,
    /// `prefix/len asn [name]` lines (pyasn's .dat files, GeoLite2-ASN CSV).
    Prefixes,
    /// A JSON object of AS names, `{"13335": "CLOUDFLARENET", ...}` (pyasn's
    /// asnames.json): names only, no prefixes.
    Names,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Mmdb => "MaxMind DB",
            Format::Ranges => "ranges",
            Format::Pfx2as => "pfx2as",
            Format::Prefixes => "prefix list",
            Format::Names => "AS names",
        }
    }
}

/// What one file contributed.
#[derive(Clone, Debug)]
pub struct FileSummary {
    pub path: PathBuf,
    pub format: Format,
    /// Lines, ranges or networks read.
    pub entries: u64,
    /// Prefixes in the file's table (ranges are split into prefixes).
    pub v4_prefixes: u64,
    pub v6_prefixes: u64,
    pub names: u64,
    /// Counted anomalies that did not stop the load.
    pub warnings: Vec<String>,
}

/// A file's prefixes and names, before they are layered over the others.
pub(crate) struct Loaded {
    pub v4: PrefixMap<Ipv4Net, u32>,
    pub v6: PrefixMap<Ipv6Net, u32>,
    pub names: HashMap<u32, String>,
    pub summary: FileSummary,
}

/// Counted anomalies of one file, with the first line each happened on.
#[derive(Default)]
pub(crate) struct Anomalies {
    duplicates: (u64, usize),
    multi_origin: (u64, usize),
    overlaps: (u64, usize),
    pub no_asn: u64,
}

fn count(c: &mut (u64, usize), line: usize) {
    if c.0 == 0 {
        c.1 = line;
    }
    c.0 += 1;
}

pub(crate) struct Builder<'p> {
    path: &'p Path,
    v4: PrefixMap<Ipv4Net, u32>,
    v6: PrefixMap<Ipv6Net, u32>,
    names: HashMap<u32, String>,
    pub entries: u64,
    pub an: Anomalies,
    /// (start, end, line) of range files, to find overlaps.
    ranges: Vec<(u128, u128, bool, usize)>,
}

impl<'p> Builder<'p> {
    pub fn new(path: &'p Path) -> Self {
        Builder {
            path,
            v4: PrefixMap::new(),
            v6: PrefixMap::new(),
            names: HashMap::new(),
            entries: 0,
            an: Anomalies::default(),
            ranges: Vec::new(),
        }
    }

    pub fn prefix(&mut self, net: IpNet, asn: u32, line: usize) {
        let old = match net {
            IpNet::V4(n) => self.v4.insert(n.trunc(), asn),
            IpNet::V6(n) => self.v6.insert(n.trunc(), asn),
        };
        if old.is_some_and(|o| o != asn) {
            count(&mut self.an.duplicates, line);
        }
    }

    pub fn name(&mut self, asn: u32, name: &str) {
        let name = name.trim();
        if asn != 0 && !name.is_empty() && name != "Not routed" {
            match self.names.get_mut(&asn) {
                Some(n) if n == name => {}
                Some(n) => *n = name.to_string(),
                None => {
                    self.names.insert(asn, name.to_string());
                }
            }
        }
    }

    fn range(&mut self, start: IpAddr, end: IpAddr, asn: u32, line: usize) -> Result<(), AsnError> {
        match (start, end) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                if a > b {
                    return Err(AsnError::line(
                        self.path,
                        line,
                        format!("range start {a} is after its end {b}"),
                    ));
                }
                self.ranges
                    .push((u32::from(a) as u128, u32::from(b) as u128, false, line));
                for n in Ipv4Subnets::new(a, b, 0) {
                    self.prefix(IpNet::V4(n), asn, line);
                }
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                if a > b {
                    return Err(AsnError::line(
                        self.path,
                        line,
                        format!("range start {a} is after its end {b}"),
                    ));
                }
                self.ranges.push((u128::from(a), u128::from(b), true, line));
                for n in Ipv6Subnets::new(a, b, 0) {
                    self.prefix(IpNet::V6(n), asn, line);
                }
            }
            (a, b) => {
                return Err(AsnError::line(
                    self.path,
                    line,
                    format!("range {a} - {b} mixes IPv4 and IPv6"),
                ));
            }
        }
        Ok(())
    }

    pub fn finish(mut self, format: Format) -> Loaded {
        // Overlapping ranges: the more specific prefix wins where they
        // overlap (and the later line for the very same prefix), which is
        // rarely what the file meant: count and report them.
        self.ranges.sort_unstable();
        let mut last: Option<(bool, u128)> = None;
        let ranges = std::mem::take(&mut self.ranges);
        for (s, e, v6, line) in ranges {
            if let Some((lv6, le)) = last
                && lv6 == v6
                && s <= le
            {
                count(&mut self.an.overlaps, line);
                last = Some((v6, le.max(e)));
            } else {
                last = Some((v6, e));
            }
        }
        let f = self.path.display();
        let mut warnings = Vec::new();
        let a = &self.an;
        if a.overlaps.0 > 0 {
            warnings.push(format!(
                "{f}: {} ranges overlap an earlier one (first at line {}); where they overlap the more specific prefix wins",
                a.overlaps.0, a.overlaps.1
            ));
        } else if a.duplicates.0 > 0 {
            warnings.push(format!(
                "{f}: {} prefixes are listed again with another origin (first at line {}); the last line wins",
                a.duplicates.0, a.duplicates.1
            ));
        }
        if a.multi_origin.0 > 0 {
            warnings.push(format!(
                "{f}: {} prefixes have several origins (multi-origin or AS set, first at line {}); each is attributed to the first AS listed",
                a.multi_origin.0, a.multi_origin.1
            ));
        }
        if a.no_asn > 0 {
            warnings.push(format!(
                "{f}: {} networks have no AS number and were skipped",
                a.no_asn
            ));
        }
        Loaded {
            summary: FileSummary {
                path: self.path.into(),
                format,
                entries: self.entries,
                v4_prefixes: self.v4.len() as u64,
                v6_prefixes: self.v6.len() as u64,
                names: self.names.len() as u64,
                warnings,
            },
            v4: self.v4,
            v6: self.v6,
            names: self.names,
        }
    }
}

/// Read, unwrap gzip, detect and parse one file.
pub(crate) fn load_file(path: &Path) -> Result<Loaded, AsnError> {
    let io = |err| AsnError::Io {
        path: path.into(),
        err,
    };
    let mut bytes = std::fs::read(path).map_err(io)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .map_err(|e| AsnError::Corrupt {
                path: path.into(),
                what: format!("gzip stream: {e}"),
            })?;
        bytes = out;
    }
    if bytes.is_empty() {
        return Err(AsnError::Unsupported {
            path: path.into(),
            what: "the file is empty: pass an mmdb, ip2asn TSV, ip-location-db CSV or pfx2as file"
                .into(),
        });
    }
    if crate::mmdb::is_mmdb(&bytes) {
        return crate::mmdb::load_mmdb(path, bytes);
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| AsnError::Unsupported {
        path: path.into(),
        what: format!(
            "neither a MaxMind DB (no metadata marker: a truncated .mmdb loses it) nor text (invalid UTF-8 at byte {}): pass an mmdb, ip2asn TSV, ip-location-db CSV or pfx2as file",
            e.valid_up_to()
        ),
    })?;
    load_text(path, text)
}

/// An AS number field: `13335`, `AS13335`, asdot `1.10`; multi-origin
/// `a_b` and AS sets `{a,b}` give the first AS listed. Returns (asn,
/// several origins).
pub(crate) fn parse_asn(s: &str) -> Option<(u32, bool)> {
    let s = s.trim();
    // The common case: plain digits.
    if !s.is_empty() && s.len() <= 10 && s.bytes().all(|c| c.is_ascii_digit()) {
        return s.parse().ok().map(|n| (n, false));
    }
    let multi = s.contains(['_', ',', '{']);
    let first = s.split(['_', ',', '{', '}', ' ']).find(|p| !p.is_empty())?;
    let first = first
        .strip_prefix("AS")
        .or_else(|| first.strip_prefix("as"))
        .unwrap_or(first);
    let n = match first.split_once('.') {
        Some((hi, lo)) => {
            let (hi, lo): (u16, u16) = (hi.parse().ok()?, lo.parse().ok()?);
            ((hi as u32) << 16) | lo as u32
        }
        None => first.parse().ok()?,
    };
    Some((n, multi))
}

/// A range bound: an address, or an integer (IPv4 up to 2^32-1, else IPv6).
fn parse_bound(s: &str, force_v6: bool) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(a) = s.parse::<IpAddr>() {
        return Some(a);
    }
    let n: u128 = s.parse().ok()?;
    Some(if force_v6 || n > u32::MAX as u128 {
        IpAddr::V6(Ipv6Addr::from(n))
    } else {
        IpAddr::V4(Ipv4Addr::from(n as u32))
    })
}

fn parse_range(f0: &str, f1: &str) -> Option<(IpAddr, IpAddr)> {
    let (a, b) = (parse_bound(f0, false)?, parse_bound(f1, false)?);
    // Integers: one bound above 2^32 makes both IPv6.
    match (a, b) {
        (IpAddr::V4(_), IpAddr::V6(_)) if f0.trim().parse::<u128>().is_ok() => {
            Some((parse_bound(f0, true)?, b))
        }
        _ => Some((a, b)),
    }
}

fn is_pfx_len(s: &str) -> bool {
    s.trim().parse::<u8>().is_ok_and(|l| l <= 128) && s.trim().parse::<IpAddr>().is_err()
}

/// Which text format a data line is.
fn detect(fields: &[&str]) -> Option<Format> {
    let f0 = fields.first()?.trim();
    let f1 = fields.get(1)?.trim();
    if f0.contains('/') {
        return f0.parse::<IpNet>().ok().map(|_| Format::Prefixes);
    }
    if f0.parse::<IpAddr>().is_ok() && is_pfx_len(f1) && fields.len() >= 3 {
        return Some(Format::Pfx2as);
    }
    if fields.len() >= 3 && parse_range(f0, f1).is_some() {
        return Some(Format::Ranges);
    }
    None
}

/// Split a tab- or space-separated line: tabs when it has any (names then
/// keep their spaces), else runs of whitespace.
fn split_ws(line: &str) -> Vec<&str> {
    if line.contains('\t') {
        line.split('\t').collect()
    } else {
        line.split_whitespace().collect()
    }
}

fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#') || t.starts_with(';')
}

fn looks_like_header(fields: &[&str]) -> bool {
    fields.iter().all(|f| {
        let f = f.trim().trim_matches('"');
        !f.is_empty()
            && f.chars()
                .all(|c| c.is_ascii_alphabetic() || c == '_' || c == ' ')
    })
}

fn load_text(path: &Path, text: &str) -> Result<Loaded, AsnError> {
    if text.trim_start().starts_with('{') {
        return load_names(path, text);
    }
    let mut b = Builder::new(path);
    // The first data line decides the format and the separator.
    let mut lines = text.lines().enumerate().filter(|(_, l)| !is_comment(l));
    let Some((first_no, first)) = lines.next() else {
        return Err(AsnError::Unsupported {
            path: path.into(),
            what: "no data lines (only comments or blank lines)".into(),
        });
    };
    let csv = !first.contains('\t') && first.contains(',');
    fn fields(l: &str, csv: bool) -> Vec<Cow<'_, str>> {
        if csv {
            csv_fields(l)
        } else {
            split_ws(l).into_iter().map(Cow::Borrowed).collect()
        }
    }
    let fields_of = |l| fields(l, csv);
    let f = fields_of(first);
    let fr: Vec<&str> = f.iter().map(|c| c.as_ref()).collect();
    let (format, header) = match detect(&fr) {
        Some(fm) => (fm, false),
        None if looks_like_header(&fr) => {
            // A header line (GeoLite2 CSV, some ip-location-db exports).
            let second = text
                .lines()
                .enumerate()
                .skip(first_no + 1)
                .find(|(_, l)| !is_comment(l));
            let d = second.and_then(|(_, l)| {
                let f = fields_of(l);
                detect(&f.iter().map(|c| c.as_ref()).collect::<Vec<_>>())
            });
            match d {
                Some(fm) => (fm, true),
                None => {
                    return Err(AsnError::line(
                        path,
                        second.map_or(first_no, |s| s.0) + 1,
                        "no data line after the header",
                    ));
                }
            }
        }
        None => {
            return Err(AsnError::line(
                path,
                first_no + 1,
                format!("not an ASN database line: '{}'", clip(first)),
            ));
        }
    };
    let all = std::iter::once((first_no, first)).chain(lines);
    for (i, (no, line)) in all.enumerate() {
        if header && i == 0 {
            continue;
        }
        let line_no = no + 1;
        // The common case of pyasn and GeoLite2-like lists: `prefix/len<TAB>asn`,
        // without allocating.
        if format == Format::Prefixes
            && !csv
            && let Some((p, a)) = line.split_once('\t')
            && !a.contains('\t')
            && let (Ok(net), Some((asn, false))) = (p.trim().parse::<IpNet>(), parse_asn(a))
        {
            b.entries += 1;
            b.prefix(net, asn, line_no);
            continue;
        }
        let f = fields_of(line);
        let f: Vec<&str> = f.iter().map(|s| s.trim()).collect();
        b.entries += 1;
        parse_line(&mut b, format, &f, line, line_no)?;
    }
    let loaded = b.finish(format);
    let mut loaded = loaded;
    if !text.ends_with('\n') && !text.is_empty() {
        loaded.summary.warnings.push(format!(
            "{}: the last line ({}) has no line ending: the file may be truncated",
            path.display(),
            text.lines().count()
        ));
    }
    Ok(loaded)
}

fn clip(s: &str) -> String {
    let t: String = s.chars().take(60).collect();
    if t.len() < s.len() {
        format!("{t}…")
    } else {
        t
    }
}

fn parse_line(
    b: &mut Builder,
    format: Format,
    f: &[&str],
    line: &str,
    no: usize,
) -> Result<(), AsnError> {
    let path = b.path;
    let bad = |what: &str| AsnError::line(path, no, format!("{what}: '{}'", clip(line)));
    let asn_of = |b: &mut Builder, s: &str| -> Result<u32, AsnError> {
        let (n, multi) = parse_asn(s).ok_or_else(|| bad("AS number is not a number"))?;
        if multi {
            count(&mut b.an.multi_origin, no);
        }
        Ok(n)
    };
    match format {
        Format::Ranges => {
            if f.len() < 3 {
                return Err(bad("expected start, end and AS number"));
            }
            let (s, e) =
                parse_range(f[0], f[1]).ok_or_else(|| bad("range bounds are not addresses"))?;
            let asn = asn_of(b, f[2])?;
            // ip2asn: start end asn country name; ip-location-db: start end asn org.
            let name = match f.len() {
                3 => None,
                4 => Some(f[3].to_string()),
                _ => Some(f[4..].join(" ")),
            };
            b.range(s, e, asn, no)?;
            if let Some(n) = name {
                b.name(asn, &n);
            }
        }
        Format::Pfx2as => {
            if f.len() < 3 {
                return Err(bad("expected prefix, length and AS number"));
            }
            let a: IpAddr = f[0].parse().map_err(|_| bad("prefix is not an address"))?;
            let len: u8 = f[1]
                .parse()
                .map_err(|_| bad("prefix length is not a number"))?;
            let net = IpNet::new(a, len).map_err(|_| bad("prefix length too long"))?;
            let asn = asn_of(b, &f[2..].join(","))?;
            b.prefix(net, asn, no);
        }
        Format::Prefixes => {
            if f.len() < 2 {
                return Err(bad("expected prefix/len and AS number"));
            }
            let net: IpNet = f[0].parse().map_err(|_| bad("not a prefix/len"))?;
            let asn = asn_of(b, f[1])?;
            b.prefix(net, asn, no);
            if f.len() > 2 {
                b.name(asn, &f[2..].join(" "));
            }
        }
        Format::Mmdb | Format::Names => unreachable!("not line formats"),
    }
    Ok(())
}

/// One CSV line's fields, with RFC 4180 quoting.
fn csv_fields(line: &str) -> Vec<Cow<'_, str>> {
    if !line.contains('"') {
        return line.split(',').map(Cow::Borrowed).collect();
    }
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(line.as_bytes());
    match r.records().next() {
        Some(Ok(rec)) => rec.iter().map(|f| Cow::Owned(f.to_string())).collect(),
        _ => line.split(',').map(Cow::Borrowed).collect(),
    }
}

fn load_names(path: &Path, text: &str) -> Result<Loaded, AsnError> {
    let m: HashMap<String, String> =
        serde_json::from_str(text).map_err(|e| AsnError::Unsupported {
            path: path.into(),
            what: format!(
                "not a JSON object of AS names like {{\"13335\": \"CLOUDFLARENET\"}} ({e})"
            ),
        })?;
    let mut b = Builder::new(path);
    for (k, v) in m {
        let (asn, _) = parse_asn(&k).ok_or_else(|| AsnError::Unsupported {
            path: path.into(),
            what: format!("AS names: key '{}' is not an AS number", clip(&k)),
        })?;
        b.entries += 1;
        b.name(asn, &v);
    }
    Ok(b.finish(Format::Names))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn_fields() {
        assert_eq!(parse_asn("13335"), Some((13335, false)));
        assert_eq!(parse_asn("AS13335"), Some((13335, false)));
        assert_eq!(parse_asn("1.10"), Some((65546, false)));
        assert_eq!(parse_asn("4200000000"), Some((4_200_000_000, false)));
        assert_eq!(parse_asn("701_702"), Some((701, true)));
        assert_eq!(parse_asn("{3356,1299}"), Some((3356, true)));
        assert_eq!(parse_asn("7018_{1,2}"), Some((7018, true)));
        assert_eq!(parse_asn("x1"), None);
        assert_eq!(parse_asn("99999999999"), None);
        assert_eq!(parse_asn(""), None);
    }

    #[test]
    fn detection() {
        let d = |l: &str| detect(&split_ws(l));
        assert_eq!(d("1.0.0.0\t24\t13335"), Some(Format::Pfx2as));
        assert_eq!(d("2001:200::\t32\t2500"), Some(Format::Pfx2as));
        assert_eq!(d("1.0.0.0/24\t15169"), Some(Format::Prefixes));
        assert_eq!(
            d("1.0.0.0 1.0.0.255 13335 US CLOUDFLARENET"),
            Some(Format::Ranges)
        );
        assert_eq!(d("16777216\t16777471\t13335\tUS\tX"), Some(Format::Ranges));
        assert_eq!(d("hello world"), None);
        let c = csv_fields("1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"");
        assert_eq!(c.len(), 4);
        assert_eq!(c[3], "Cloudflare, Inc.");
    }
}
