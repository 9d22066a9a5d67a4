#!/usr/bin/env python3
"""Independent checks of pktsample output with pyarrow, DuckDB, polars, pandas.

Usage:
  check.py truth SAMPLES.parquet TRUTH.json [--ignore-truncated]
      At sampling rate 1, the samples must equal the generator's truth:
      totals and counts per IP version, IP protocol, EtherType, VLAN,
      interface/direction, truncated frames and the time span. Counted with
      DuckDB SQL; read also with polars and pandas; metadata with pyarrow.
  check.py count SAMPLES.parquet
      Print the number of rows (DuckDB).
  check.py report REPORT.json SCHEMA.json
      Validate an analyze JSON report against the documented JSON Schema.
  check.py sql SAMPLES.parquet QUERY
      Print a DuckDB query's rows as JSON (the table is `s`).
"""
import json
import sys

import duckdb
import pandas as pd
import polars as pl
import pyarrow.compute as pc
import pyarrow.parquet as pq

failures = []


# tracegen's link names -> LINKTYPE_* values.
LINKTYPES = {"ethernet": 1, "sll": 113, "sll2": 276, "raw": 101, "ipv4": 228, "ipv6": 229, "null": 0, "loop": 108,
             "ppp": 9, "chdlc": 104, "ppi": 192}


def expect(what, got, want):
    if got != want:
        failures.append(f"{what}: got {got!r}, want {want!r}")


def counts(con, sql):
    return {
        str(k): {"packets": int(p), "bytes": int(b)}
        for k, p, b in con.execute(sql).fetchall()
    }


def truth(path, truth_path, ignore_truncated=False):
    t = json.load(open(truth_path))
    con = duckdb.connect()
    con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet('{path}')")
    p, b = con.execute("SELECT count(*), coalesce(sum(pkt_len), 0) FROM s").fetchone()
    expect("total", {"packets": p, "bytes": int(b)}, t["total"])
    expect(
        "ip_version",
        counts(con, "SELECT coalesce(CAST(ip_version AS VARCHAR), 'none'), count(*), sum(pkt_len) FROM s GROUP BY 1"),
        t["ip_version"],
    )
    expect(
        "ip_proto",
        counts(con, "SELECT ip_proto, count(*), sum(pkt_len) FROM s WHERE ip_proto IS NOT NULL GROUP BY 1"),
        t["ip_proto"],
    )
    expect(
        "eth_type",
        counts(con, "SELECT eth_type, count(*), sum(pkt_len) FROM s GROUP BY 1"),
        t["eth_type"],
    )
    expect(
        "vlan",
        counts(con, "SELECT vlan, count(*), sum(pkt_len) FROM s WHERE vlan IS NOT NULL GROUP BY 1"),
        t["vlan"],
    )
    expect(
        "interface",
        counts(con, "SELECT ifname || '/' || direction, count(*), sum(pkt_len) FROM s GROUP BY 1"),
        t["interface"],
    )
    (trunc,) = con.execute("SELECT count(*) FROM s WHERE cap_len < pkt_len").fetchone()
    if not ignore_truncated:
        expect("truncated", trunc, t["truncated"])
    (bad,) = con.execute("SELECT count(*) FROM s WHERE octet_length(header) <> cap_len").fetchone()
    expect("header length = cap_len", bad, 0)

    table = pq.read_table(path)
    if table.num_rows:
        expect("first timestamp (ns)", pc.min(table["timestamp"]).value, t["first_ns"])
        expect("last timestamp (ns)", pc.max(table["timestamp"]).value, t["last_ns"])
    meta = json.loads(pq.read_metadata(path).metadata[b"pktsample"])
    expect("schema_version", meta["schema_version"], "1.5")
    for k in ("src", "dst"):
        if t.get(f"{k}_addr"):
            expect(
                f"{k}_addr",
                counts(con, f"SELECT {k}_addr, count(*), sum(pkt_len) FROM s WHERE {k}_addr IS NOT NULL GROUP BY 1"),
                t[f"{k}_addr"],
            )
    # The 1.1 AS columns: present (null unless enriched) with their types.
    expect("src_as type", str(table.schema.field("src_as").type), "uint32")
    expect("src_as_name type", str(table.schema.field("src_as_name").type), "dictionary<values=string, indices=int32, ordered=0>")
    # The 1.2 link type column: the trace's link type on every row, and in
    # the metadata of every interface with packets.
    expect("link_type type", str(table.schema.field("link_type").type), "uint16")
    link = LINKTYPES[(t.get("spec") or {}).get("link", "ethernet")]
    rows = [r[0] for r in con.execute("SELECT DISTINCT link_type FROM s").fetchall()]
    expect("link_type values", rows, [link] if table.num_rows else [])
    expect(
        "metadata link_type",
        sorted({i["link_type"] for i in meta["interfaces"] if i["directions"]}),
        [link] if table.num_rows else [],
    )
    seen = sum(d["packets_seen"] for i in meta["interfaces"] for d in i["directions"].values())
    samples = sum(d["samples"] for i in meta["interfaces"] for d in i["directions"].values())
    expect("metadata packets_seen", seen, t["total"]["packets"])
    expect("metadata samples", samples, t["total"]["packets"])

    df = pl.read_parquet(path)
    expect("polars rows", df.height, t["total"]["packets"])
    expect("polars bytes", int(df["pkt_len"].sum() or 0), t["total"]["bytes"])
    pdf = pd.read_parquet(path)
    expect("pandas rows", len(pdf), t["total"]["packets"])
    expect("polars src_as dtype", str(df["src_as"].dtype), "UInt32")
    expect("pandas src_as_name dtype", str(pdf["src_as_name"].dtype), "category")
    expect("pandas ipv6 rows", int((pdf["ip_version"] == 6).sum()), t["ip_version"].get("6", {}).get("packets", 0))


def main():
    cmd = sys.argv[1]
    if cmd == "truth":
        truth(sys.argv[2], sys.argv[3], "--ignore-truncated" in sys.argv[4:])
    elif cmd == "report":
        import jsonschema

        jsonschema.validate(
            json.load(open(sys.argv[2])),
            json.load(open(sys.argv[3])),
            format_checker=jsonschema.FormatChecker(),
        )
    elif cmd == "sql":
        con = duckdb.connect()
        con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet('{sys.argv[2]}')")
        print(json.dumps([list(r) for r in con.execute(sys.argv[3]).fetchall()], default=str))
        return
    elif cmd == "count":
        (n,) = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{sys.argv[2]}')").fetchone()
        print(n)
    else:
        sys.exit(f"unknown command {cmd}")
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
