#!/usr/bin/env python3
"""The group-bys of pktsample analyze's sections, in DuckDB (2 threads), for
bench-analyze. Scaled estimates (sum of sampling_rate) without intervals.
Usage: duckdb_queries.py SAMPLES.parquet"""
import sys

import duckdb

path = sys.argv[1]
con = duckdb.connect()
con.execute("SET threads TO 2")
con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet('{path}')")
queries = {
    "summary": "SELECT count(*), sum(sampling_rate), sum(pkt_len::BIGINT * sampling_rate), min(timestamp)::VARCHAR, max(timestamp)::VARCHAR FROM s",
    "ip_versions": "SELECT ip_version, count(*), sum(sampling_rate), sum(pkt_len::BIGINT * sampling_rate) FROM s GROUP BY 1",
    "protocols": "SELECT ip_proto, count(*), sum(sampling_rate), sum(pkt_len::BIGINT * sampling_rate) FROM s GROUP BY 1",
    "top_sources": "SELECT src_addr, count(*), sum(sampling_rate) AS p, sum(pkt_len::BIGINT * sampling_rate) FROM s GROUP BY 1 ORDER BY p DESC LIMIT 10",
    "top_destinations": "SELECT dst_addr, count(*), sum(sampling_rate) AS p, sum(pkt_len::BIGINT * sampling_rate) FROM s GROUP BY 1 ORDER BY p DESC LIMIT 10",
    "per_minute": "SELECT epoch_ns(timestamp) // 60000000000 AS t, count(*), sum(sampling_rate), sum(pkt_len::BIGINT * sampling_rate) FROM s GROUP BY 1 ORDER BY 1",
    "distinct_addresses": "SELECT ip_version, count(DISTINCT a) FROM (SELECT ip_version, src_addr AS a FROM s UNION ALL SELECT ip_version, dst_addr FROM s) GROUP BY 1",
    "interfaces": "SELECT ifname, direction, count(*), sum(sampling_rate), sum(pkt_len::BIGINT * sampling_rate) FROM s GROUP BY 1, 2",
}
out = {k: con.execute(q).fetchall() for k, q in queries.items()}
if "--print" in sys.argv:
    for k, v in out.items():
        print(k, v[:3])
