#!/usr/bin/env python3
"""The baseline of bench-scale: the default report's sections as the plain
`GROUP BY` queries a user would write on the same engine, without
intervals: scaled sums (Σ rate, Σ rate·len) per key, one query per
section, each reading the samples. The views are the generated SQL's own
setup (`samples`, `pools`: the same files, partitions and options), so the
only difference from the generated report is what the queries compute.

Usage: plain_queries.py ENGINE QUERIES.json REPORT.json [--print]
  ENGINE: duckdb | chdb | spark; QUERIES.json: `pktsample sql --format json`
  for that engine (its setup statements are used, its sections are not);
  REPORT.json: analyze's report of the same dataset, whose sample count the
  baseline must equal (a benchmark asserts its answer).
Prints one line: the sections run and their total rows.
"""

import json
import os
import sys

engine, queries, report = sys.argv[1], sys.argv[2], sys.argv[3]
setup = [s["sql"] for s in json.load(open(queries))
         if s["section"] == "setup" and "pk_" not in s["sql"]]

TS = {"duckdb": "epoch_ns(timestamp)", "chdb": "toUnixTimestamp64Nano(timestamp)",
      "spark": "CAST(timestamp AS BIGINT)"}[engine]
DIV = {"duckdb": "{a} // {b}", "chdb": "intDiv({a}, {b})", "spark": "({a} div {b})"}[engine]
P = "sum(CAST(sampling_rate AS DOUBLE)) AS packets"
B = "sum(CAST(sampling_rate AS DOUBLE) * pkt_len) AS bytes"
SIZE = ("CASE WHEN pkt_len <= 63 THEN 0 WHEN pkt_len <= 64 THEN 1 WHEN pkt_len <= 127 THEN 2 "
        "WHEN pkt_len <= 255 THEN 3 WHEN pkt_len <= 511 THEN 4 WHEN pkt_len <= 1023 THEN 5 "
        "WHEN pkt_len <= 1518 THEN 6 ELSE 7 END")
minute = DIV.format(a=TS, b="60000000000")
SECTIONS = {
    "summary": f"SELECT count(*) AS samples, {P}, {B}, min({TS}) AS t0, max({TS}) AS t1 FROM samples",
    "pools": "SELECT host, ifname, direction, sum(packets_seen) AS seen, sum(drops) AS drops FROM pools GROUP BY host, ifname, direction",
    "ipv6_share": f"SELECT ip_version = 6 AS v6, {P}, {B} FROM samples WHERE ip_version IN (4, 6) GROUP BY ip_version = 6",
    "ip_versions": f"SELECT ip_version, count(*) AS samples, {P}, {B} FROM samples GROUP BY ip_version",
    "ip_protocols": f"SELECT ip_proto, count(*) AS samples, {P}, {B} FROM samples GROUP BY ip_proto",
    "interfaces": f"SELECT host, ifname, direction, count(*) AS samples, {P}, {B} FROM samples GROUP BY host, ifname, direction",
    "top_sources": f"SELECT src_addr, count(*) AS samples, {P}, {B} FROM samples WHERE src_addr IS NOT NULL GROUP BY src_addr ORDER BY packets DESC LIMIT 10",
    "top_destinations": f"SELECT dst_addr, count(*) AS samples, {P}, {B} FROM samples WHERE dst_addr IS NOT NULL GROUP BY dst_addr ORDER BY packets DESC LIMIT 10",
    "time_series": f"SELECT {minute} AS t, count(*) AS samples, {P}, {B} FROM samples GROUP BY {minute} ORDER BY t",
    "time_series_protocols": f"SELECT {minute} AS t, ip_proto, count(*) AS samples, {P}, {B} FROM samples GROUP BY {minute}, ip_proto",
    "packet_sizes": f"SELECT {SIZE} AS sc, count(*) AS samples, {P}, {B}, max(pkt_len) AS mx FROM samples GROUP BY {SIZE}",
}


def run_duckdb():
    import duckdb
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    for s in setup:
        c.execute(s)
    return {k: c.execute(q).fetchall() for k, q in SECTIONS.items()}


def run_chdb():
    from chdb import session
    sess = session.Session()
    for s in setup:
        sess.query(s)
    out = {}
    for k, q in SECTIONS.items():
        res = sess.query(q, "JSONEachRow")
        text = res.bytes().decode() if hasattr(res, "bytes") else str(res)
        out[k] = [json.loads(line) for line in text.splitlines() if line.strip()]
    return out


def run_spark():
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[2]").appName("pktsample-plain")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "2g"))
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    for s in setup:
        spark.sql(s)
    return {k: spark.sql(q).collect() for k, q in SECTIONS.items()}


out = {"duckdb": run_duckdb, "chdb": run_chdb, "spark": run_spark}[engine]()
rows = {k: len(v) for k, v in out.items()}
if rows["summary"] != 1 or rows["top_sources"] == 0 or rows["time_series"] == 0:
    sys.exit(f"plain_queries: {engine} gave {rows}: not a report's shape")
def first(v, i):
    r = v[0]
    return r[list(r)[i]] if isinstance(r, dict) else r[i]


want = json.load(open(report))["summary"]["samples"]
got = int(first(out["summary"], 0))
if got != want:
    sys.exit(f"plain_queries: {engine} counted {got} samples, analyze {want}")
if "--print" in sys.argv:
    for k, v in out.items():
        print(k, v[:3])
print(f"{len(out)} queries, {sum(rows.values())} rows")
