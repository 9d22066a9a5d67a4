#!/usr/bin/env python3
"""Tests of pktsample_nb.py (run by tests/notebook.rs, or by hand with
PKTSAMPLE_BIN set): known values of its intervals, and its estimates on a
file without metadata (Horvitz-Thompson) against `pktsample analyze`."""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from scipy import stats

sys.path.insert(0, str(Path(__file__).parent))
import pktsample_nb as nb  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = os.environ.get("PKTSAMPLE_BIN", str(ROOT / "target/release/pktsample"))


def test_equal_weights_give_garwood():
    # 7 Poisson counts of weight 10 (variance w²·x, largest weight 10):
    # Fay & Feuer's interval is Garwood's on the count, scaled.
    e = nb.Est(value=70.0, var=700.0, n=7, observed=7.0, strata=2, wmax=10.0)
    i = nb.gamma_interval(e)
    lo = stats.chi2.ppf(0.025, 14) / 2 * 10
    hi = stats.chi2.ppf(0.975, 16) / 2 * 10
    assert abs(i["low"] - lo) < 1e-6 * lo and abs(i["high"] - hi) < 1e-6 * hi, (i, lo, hi)


def test_a_census_is_exact():
    d = nb.Design(n=50, pool=50, rate=1)
    e = nb.stratum_total(d, 20, 2000.0, 200000.0, 0.0)
    assert (e.value, e.var) == (2000.0, 0.0)
    assert nb.byte_interval(e) == {"estimate": 2000.0, "low": 2000.0, "high": 2000.0}
    s = nb.share([(d, (50, 50, 20, 20, 50))])
    assert s == {"estimate": 0.4, "low": 0.4, "high": 0.4}


def test_wilson_stays_in_bounds():
    for p, n in [(0.0, 5), (1.0, 5), (0.5, 1), (0.01, 1000)]:
        lo, hi = nb.wilson(p, n)
        assert 0.0 <= lo <= p <= hi <= 1.0, (p, n, lo, hi)


def test_rows_without_metadata_match_analyze():
    work = Path(tempfile.mkdtemp())
    s = work / "s.parquet"
    subprocess.run([BIN, "capture", "--replay", str(ROOT / "fixtures/mixed.pcapng"), "-r", "5", "--seed", "9",
                    "-q", "-o", str(s)], check=True, capture_output=True)
    # The same rows, metadata dropped: Horvitz-Thompson by each row's rate.
    t = pq.read_table(s).replace_schema_metadata(None)
    bare = work / "bare.parquet"
    pq.write_table(t, bare, store_schema=False)
    r = json.loads(subprocess.run([BIN, "analyze", str(bare), "--format", "json", "-q"], check=True,
                                  capture_output=True, text=True).stdout)
    df = pd.read_parquet(bare)
    st = nb.Strata(df, nb.metadata(bare))
    assert all(d.pool is None for d in st.designs.values())
    ip = lambda g: g[g.ip_version.notna()]  # noqa: E731
    v6 = lambda g: g[g.ip_version == 6]  # noqa: E731
    for by in ("packets", "bytes"):
        ours = st.share(v6, ip, by_bytes=(by == "bytes"))
        assert nb.close(ours, r["ipv6_share"][by]), (by, ours, r["ipv6_share"][by])
    for row in r["ip_protocols"]:
        p = row["ip_proto"]
        n, ours = st.bytes_of(lambda g, p=p: g[g.ip_proto == p])
        assert n == row["samples"] and nb.close(ours, row["bytes"]), (p, ours, row["bytes"])


if __name__ == "__main__":
    tests = [v for k, v in sorted(globals().items()) if k.startswith("test_")]
    for f in tests:
        f()
        print("ok", f.__name__)
    print(len(tests), "passed")
