//! Parsers of argument values (times, sizes, interfaces, rotation), each
//! with an error that says what a good value looks like.

use pktsample_analyze::{Section, Sections};
use pktsample_capture::live::IfaceSpec;
use pktsample_capture::rotate::Rotate;

pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    pktsample_schemas::meta::parse_rfc3339_ns(s)
        .ok_or_else(|| format!("'{s}' is not an RFC 3339 time like 2026-11-21T05:00:00Z"))
}

/// `100MB`, `1.5GiB`, `4096`: a byte count (KB is 1000 bytes, KiB 1024).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    parse_size::parse_size(s.trim())
        .map_err(|e| format!("'{s}' is not a size like 100MB or 1GiB ({e})"))
}

/// `eth0`, `veth*`, `wg0=100`: an interface (or glob) and its rate.
pub(crate) fn parse_iface(s: &str) -> Result<IfaceSpec, String> {
    let (pattern, rate) = match s.rsplit_once('=') {
        Some((p, r)) => (
            p,
            Some(
                r.parse::<u32>()
                    .map_err(|_| format!("'{r}' in '{s}' is not a sampling rate"))?,
            ),
        ),
        None => (s, None),
    };
    if pattern.is_empty() {
        return Err(format!("'{s}' names no interface"));
    }
    Ok(IfaceSpec {
        pattern: pattern.to_string(),
        rate,
    })
}

pub(crate) fn parse_rotate(s: &str) -> Result<Rotate, String> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(Rotate::Every(d));
    }
    parse_size(s)
        .map(Rotate::Bytes)
        .map_err(|_| format!("'{s}' is neither a time (60s) nor a size (100MB)"))
}

/// `--interval` in ns: longer than 0, within 64 bits.
pub(crate) fn interval_ns(d: Option<std::time::Duration>) -> anyhow::Result<Option<i64>> {
    match d {
        Some(d) if d.is_zero() => anyhow::bail!("--interval must be longer than 0s"),
        Some(d) => Ok(Some(
            i64::try_from(d.as_nanos()).map_err(|_| anyhow::anyhow!("--interval is too long"))?,
        )),
        None => Ok(None),
    }
}

/// The sections `--by` named, or `default` without it.
pub(crate) fn chosen(by: &[Section], default: Sections) -> Sections {
    if by.is_empty() {
        default
    } else {
        by.iter().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size(" 1.5GiB "), Ok(3 << 29));
        assert_eq!(parse_size("512 kb"), Ok(512_000));
        let e = parse_size("12 parsecs").unwrap_err();
        assert!(e.contains("'12 parsecs' is not a size like 100MB"), "{e}");
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999TB").is_err());
    }
}
