#!/usr/bin/env python3
"""Rewrite a samples file as another tool would, dropping pktsample's
metadata (tests/foreign.rs).

Usage: rewrite.py TOOL IN OUT [WHERE]
  duckdb   COPY (SELECT * FROM IN [WHERE ...]) TO OUT: plain strings for the
           dictionaries, timestamps in microseconds
  polars   read and write with polars: large strings (string views)
  pyarrow  the same table, schema metadata removed, integers widened to
           int64 (as pandas round trips do), timestamps in microseconds
           without a zone
  subset   DuckDB, only timestamp, pkt_len and sampling_rate
  negative DuckDB, pkt_len made negative (as int64)
"""
import sys

tool, src, dst = sys.argv[1:4]
where = sys.argv[4] if len(sys.argv) > 4 else ""
if tool in ("duckdb", "subset", "negative"):
    import duckdb

    cols = {
        "duckdb": "*",
        "subset": "timestamp, pkt_len, sampling_rate",
        "negative": "* REPLACE (pkt_len::BIGINT - 100000 AS pkt_len)",
    }[tool]
    duckdb.connect().execute(
        f"COPY (SELECT {cols} FROM read_parquet('{src}') {where}) TO '{dst}' (FORMAT parquet)"
    )
elif tool == "polars":
    import polars as pl

    pl.read_parquet(src).write_parquet(dst)
elif tool == "pyarrow":
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pq.read_table(src)
    fields = []
    for f in t.schema:
        if pa.types.is_unsigned_integer(f.type) or (pa.types.is_integer(f.type) and f.type.bit_width < 64):
            fields.append(pa.field(f.name, pa.int64(), f.nullable))
        elif pa.types.is_timestamp(f.type):
            fields.append(pa.field(f.name, pa.timestamp("us"), f.nullable))
        else:
            fields.append(f.remove_metadata() if hasattr(f, "remove_metadata") else f)
    t = t.cast(pa.schema(fields)).replace_schema_metadata(None)
    pq.write_table(t, dst, store_schema=False)
else:
    sys.exit(f"unknown tool {tool}")
