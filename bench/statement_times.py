#!/usr/bin/env python3
"""Where the generated SQL's time goes on DuckDB: each statement of
`pktsample sql --dialect duckdb --format json` run in one connection, in
order, with its wall time (the setup's fills included).

Usage: statement_times.py QUERIES.json"""
import json
import sys
import time

import duckdb

c = duckdb.connect()
c.execute("SET TimeZone = 'UTC'")
for s in json.load(open(sys.argv[1])):
    t = time.time()
    r = c.execute(s["sql"])
    rows = "" if s["section"] == "setup" else f", {len(r.fetchall())} rows"
    head = s["sql"].split(" AS ")[0][:60].replace("\n", " ") if s["section"] == "setup" else s["section"]
    print(f"{time.time() - t:8.2f} s  {head}{rows}", flush=True)
