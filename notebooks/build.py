#!/usr/bin/env python3
"""Writes example.ipynb (outputs stripped) from the cells below: edit here,
run `python notebooks/build.py`, commit both."""
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

cells = [
    new_markdown_cell(
        """# pktsample samples in a notebook

Samples files are Parquet with a documented schema (`schemas/README.md`) and
the capture metadata (pools, rates, interfaces) in the file's key-value
metadata. This notebook loads them with **polars** and **DuckDB**, reads the
metadata with **pyarrow**, computes the IPv6 share and the bytes per IP
protocol **with their 95 % intervals** by the formulas of
`schemas/report-v1.md` (in `pktsample_nb.py`), checks that they equal
`pktsample analyze --format json`, and plots a time series with its bands.

It runs on a bundled fixture: `fixtures/asn.pcapng` sampled 1-in-8, with the
AS columns filled from `fixtures/asn/fixture.mmdb`."""
    ),
    new_code_cell(
        """import json, os, subprocess, tempfile
from pathlib import Path

import duckdb
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl
import pyarrow.parquet as pq

import pktsample_nb as nb

ROOT = Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()
BIN = os.environ.get("PKTSAMPLE_BIN", str(ROOT / "target/release/pktsample"))
work = Path(tempfile.mkdtemp())
samples = work / "samples.parquet"
subprocess.run([BIN, "capture", "--replay", str(ROOT / "fixtures/asn.pcapng"), "-r", "8", "--seed", "4",
                "--asn-db", str(ROOT / "fixtures/asn/fixture.mmdb"), "-q", "-o", str(samples)],
               check=True, capture_output=True)
report = json.loads(subprocess.run([BIN, "analyze", str(samples), "--format", "json", "-q",
                                    "--asn-db", str(ROOT / "fixtures/asn/fixture.mmdb")],
                                   check=True, capture_output=True, text=True).stdout)
samples"""
    ),
    new_markdown_cell("## Loading: polars and DuckDB read the file as it is"),
    new_code_cell(
        """df = pl.read_parquet(samples)
print(df.shape)
df.select("timestamp", "ifname", "direction", "sampling_rate", "pkt_len", "ip_version", "src_addr", "src_as", "src_as_name").head(5)"""
    ),
    new_code_cell(
        """duckdb.sql(f\"\"\"
  SELECT ip_proto, count(*) AS samples, sum(sampling_rate) AS ht_packets
  FROM read_parquet('{samples}') GROUP BY ALL ORDER BY samples DESC
\"\"\").df()"""
    ),
    new_markdown_cell(
        """## The metadata: pools, rates, interfaces (pyarrow)

`packets_seen` is each interface's and direction's exact pool: every packet
the sampler looked at. With it, a stratum's packet total is exact and a
subset's is `packets_seen / samples × (samples in the subset)`."""
    ),
    new_code_cell(
        """meta = nb.metadata(samples)
pools = [(i["name"], d, i["sampling_rate"], s["packets_seen"], s["samples"], s["drops"])
         for i in meta["interfaces"] for d, s in i["directions"].items()]
pl.DataFrame(pools, schema=["interface", "direction", "rate", "packets_seen", "samples", "drops"], orient="row")"""
    ),
    new_markdown_cell(
        """## Estimates with intervals, checked against `pktsample analyze`

Strata are interface × direction × rate. The IPv6 share gets Wilson's
interval on the effective sample size; bytes get Fay & Feuer's gamma
interval with the largest frame a group's unseen packets can plausibly be
(`schemas/report-v1.md`)."""
    ),
    new_code_cell(
        """pdf = df.to_pandas()
st = nb.Strata(pdf, meta)
ip = lambda g: g[g.ip_version.notna()]
v6 = lambda g: g[g.ip_version == 6]
for by in ("packets", "bytes"):
    ours = st.share(v6, ip, by_bytes=(by == "bytes"))
    theirs = report["ipv6_share"][by]
    print(f"IPv6 share of {by}: {ours['estimate']:.4f} [{ours['low']:.4f}, {ours['high']:.4f}]")
    assert nb.close(ours, theirs), (ours, theirs)"""
    ),
    new_code_cell(
        """rows = []
for r in report["ip_protocols"]:
    p = r["ip_proto"]
    n, ours = st.bytes_of(lambda g, p=p: g[g.ip_proto == p])
    assert n == r["samples"], (p, n, r["samples"])
    assert nb.close(ours, r["bytes"]), (p, ours, r["bytes"])
    rows.append((r["name"] or str(p), n, ours["estimate"], ours["low"], ours["high"]))
pl.DataFrame(rows, schema=["protocol", "samples", "bytes", "low", "high"], orient="row")"""
    ),
    new_markdown_cell(
        """## Per origin AS (the AS columns)

Point estimates by source AS from the rows (each sample weighs
`packets_seen / samples` of its stratum), equal to analyze's `source_as`."""
    ),
    new_code_cell(
        """w = {k: nb.weight(d) or 1.0 for k, d in st.designs.items()}
pdf["w"] = [w[k] for k in zip(pdf.ifindex, pdf.direction.astype(str), pdf.sampling_rate)]
by_as = pdf[pdf.src_as.notna()].groupby("src_as")["w"].sum()
checked = 0
for r in report["source_as"]:
    if r["asn"] is not None:
        assert abs(by_as[r["asn"]] - r["packets"]["estimate"]) < 1e-6 * r["packets"]["estimate"], r
        checked += 1
assert checked > 0
pl.DataFrame([(r["label"], r["name"], r["samples"], r["packets"]["estimate"]) for r in report["source_as"]],
             schema=["AS", "name", "samples", "packets"], orient="row")"""
    ),
    new_markdown_cell("## A time series with its 95 % band"),
    new_code_cell(
        """ts = report["time_series"]["buckets"]
t = [b["start"] for b in ts]
est = [b["bps"]["estimate"] / 1e6 for b in ts]
lo = [b["bps"]["low"] / 1e6 for b in ts]
hi = [b["bps"]["high"] / 1e6 for b in ts]
fig, ax = plt.subplots(figsize=(8, 3))
x = range(len(t))
ax.fill_between(x, lo, hi, alpha=0.3, label="95 % interval")
ax.plot(x, est, label="estimate")
ax.set_xlabel(f"bucket ({report['time_series']['interval_seconds']} s)")
ax.set_ylabel("Mbit/s")
ax.legend()
fig.savefig(work / "bps.png")
print("plotted", len(ts), "buckets")"""
    ),
]
nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
nbformat.write(nb, __file__.replace("build.py", "example.ipynb"))
