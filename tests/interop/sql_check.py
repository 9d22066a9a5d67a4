"""Run `pktsample sql` queries on an engine and compare each section with
`pktsample analyze --format json` of the same dataset.

Usage: sql_check.py ENGINE QUERIES.json REPORT.json
  ENGINE: duckdb | chdb | spark (one session for all the queries)

Each section's rows are matched by their key fields. The samples and every
point estimate must equal analyze's to 1e-9 (relative); the interval
bounds to 1e-9 where the SQL is exact and within the documented bound
(docs/sql.md) where it approximates a quantile: BOUND_TOL relative to the
row's estimate. Prints, as JSON, each section's largest deviations.
"""

import json
import math
import sys

EXACT = 1e-9
# The approximated quantiles' bound (docs/sql.md), relative to the estimate.
BOUND_TOL = float(sys.argv[4]) if len(sys.argv) > 4 else 0.05

KEYS = {
    "summary": [],
    "ip_versions": ["ip_version"],
    "eth_types": ["eth_type"],
    "ip_protocols": ["ip_proto"],
    "top_sources": ["address"],
    "top_destinations": ["address"],
    "packet_sizes": ["min"],
}


def run_duckdb(stmts):
    import duckdb
    c = duckdb.connect()
    out = {}
    for s in stmts:
        cur = c.execute(s["sql"])
        if s["section"] == "setup":
            continue
        cols = [d[0] for d in cur.description]
        out[s["section"]] = [dict(zip(cols, r)) for r in cur.fetchall()]
    return out


def run_chdb(stmts):
    from chdb import session
    sess = session.Session()
    out = {}
    for s in stmts:
        if s["section"] == "setup":
            sess.query(s["sql"])
            continue
        res = sess.query(s["sql"], "JSONEachRow")
        text = res.bytes().decode() if hasattr(res, "bytes") else str(res)
        out[s["section"]] = [json.loads(l) for l in text.splitlines() if l.strip()]
    return out


def run_spark(stmts):
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[2]").appName("pktsample-sql")
             .config("spark.ui.enabled", "false")
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    out = {}
    try:
        for s in stmts:
            df = spark.sql(s["sql"])
            if s["section"] == "setup":
                continue
            out[s["section"]] = [json.loads(j) for j in df.toJSON().collect()]
    finally:
        spark.stop()
    return out


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300) if a != b else 0.0


def compare(section, rows, want, fails):
    keys = KEYS[section]
    if section == "summary":
        want = [want]
    key = lambda r: tuple(str(r[k]) for k in keys)
    got = {key(r): r for r in rows}
    exp = {key(r): r for r in want}
    if set(got) != set(exp):
        fails.append(f"{section}: rows {sorted(set(got) ^ set(exp))[:5]} differ")
    worst = {"estimate": 0.0, "bound": 0.0}
    for k in sorted(set(got) & set(exp)):
        g, e = got[k], exp[k]
        if int(g["samples"]) != int(e["samples"]):
            fails.append(f"{section} {k}: samples {g['samples']} != {e['samples']}")
        for m in ("packets", "bytes"):
            ge, ee = g[m], e[m]
            d = rel(float(ge["estimate"]), float(ee["estimate"]))
            worst["estimate"] = max(worst["estimate"], d)
            if d > EXACT:
                fails.append(f"{section} {k} {m}: estimate {ge['estimate']} != {ee['estimate']}")
            for b in ("low", "high"):
                # Relative to the bound (a low near 0: to the estimate).
                scale = max(abs(float(ee[b])), abs(float(ee["estimate"])) * 0.1, 1e-300)
                db = abs(float(ge[b]) - float(ee[b])) / scale
                worst["bound"] = max(worst["bound"], db)
                if db > BOUND_TOL:
                    fails.append(f"{section} {k} {m}: {b} {ge[b]} vs analyze {ee[b]} (relative {db:.2e})")
        for f in ("name", "max"):
            if f in e and str(g.get(f)) != str(e[f]):
                fails.append(f"{section} {k}: {f} {g.get(f)} != {e[f]}")
    # Rows in analyze's order (ties by key may differ).
    order = [float(r["packets"]["estimate"]) for r in rows]
    if any(a < b for a, b in zip(order, order[1:])) and section not in ("packet_sizes",):
        fails.append(f"{section}: not ordered by packets")
    return worst


def main():
    engine, qpath, rpath = sys.argv[1:4]
    stmts = json.load(open(qpath))
    report = json.load(open(rpath))
    got = {"duckdb": run_duckdb, "chdb": run_chdb, "spark": run_spark}[engine](stmts)
    fails, worst = [], {}
    for section, rows in got.items():
        want = report.get(section)
        if want is None:
            fails.append(f"{section}: not in the analyze report")
            continue
        worst[section] = compare(section, rows, want, fails)
    if fails:
        print("\n".join(fails[:30]), file=sys.stderr)
        sys.exit(1)
    print(json.dumps(worst))


if __name__ == "__main__":
    main()
