//! Parsers of argument values (times, sizes, interfaces, rotation), each
//! with an error that says what a good value looks like.

use pktsample_capture::live::{IfaceSpec, Rotate};

pub(crate) fn parse_time(s: &str) -> Result<i64, String> {
    pktsample_schemas::meta::parse_rfc3339_ns(s)
        .ok_or_else(|| format!("'{s}' is not an RFC 3339 time like 2026-11-21T05:00:00Z"))
}

/// `100MB`, `1GiB`, `4096`: a byte count.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size like 100MB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "unknown unit in '{s}' (use B, KB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
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
