"""Run `pktsample sql` queries on an engine and compare each section with
`pktsample analyze --format json` of the same dataset.

Usage: sql_check.py ENGINE BOUND NAME QUERIES.json REPORT.json [NAME QUERIES REPORT ...]
  ENGINE: duckdb | chdb | chdb-mergetree | spark | spark-cluster (one session for
  every scenario's queries; chdb-mergetree: the parts loaded into MergeTree
  tables first, see MERGETREE; spark-cluster: a standalone master and two
  workers, see Cluster)

Every section of the report the queries cover must come back from the
engine (the per-AS sections, asn_databases aside: metadata, not rows).

Each section's rows are matched by their key fields. The samples and every
point estimate must equal analyze's to 1e-9 (relative); the interval
bounds to 1e-9 where the SQL is exact and within the documented bound
(docs/sql.md) where it approximates a quantile: BOUND_TOL relative to the
row's estimate. Prints, as JSON, each section's largest deviations.
"""

import json
import math
import os
import sys
import tempfile
import time

EXACT = 1e-9
# The approximated quantiles' bound (docs/sql.md), relative to the estimate.
BOUND_TOL = float(sys.argv[2])

KEYS = {
    "summary": [],
    "ipv6_share": [],
    "ip_versions": ["ip_version"],
    "eth_types": ["eth_type"],
    "ip_protocols": ["ip_proto"],
    "services": ["transport", "port"],
    "interfaces": ["host", "ifname", "direction"],
    "top_sources": ["address"],
    "top_destinations": ["address"],
    "top_pairs": ["source", "destination"],
    "top_flows": ["ip_proto", "source", "source_port", "destination", "destination_port"],
    "connections": ["port"],
    "connections_by_remote_as": ["label"],
    "packet_sizes": ["min"],
    "time_series": ["start"],
    "time_series_protocols": ["start", "class"],
    "source_as": ["label"],
    "destination_as": ["label"],
    "remote_as": ["label"],
    "as_pairs": ["source.label", "destination.label"],
    "as_ipv6": ["label"],
    "source_namespaces": ["name"],
    "destination_namespaces": ["name"],
    "remote_namespaces": ["name"],
    "source_workloads": ["name"],
    "destination_workloads": ["name"],
    "remote_workloads": ["name"],
    "namespace_pairs": ["source", "destination"],
    "workload_pairs": ["source", "destination"],
    "leaving_workloads": ["name"],
    "leaving_as": ["source", "destination.label"],
}

# Estimate records besides packets and bytes, by section (dotted paths).
RECORDS = {
    "summary": ["pps", "bps", "unseen.packets", "unseen.bytes"],
    "ipv6_share": [],
    "time_series": ["pps", "bps", "ipv6_share.packets", "ipv6_share.bytes"],
    "as_ipv6": ["share_packets", "share_bytes"],
}

# Other fields that must be equal (numbers to EXACT).
FIELDS = {
    "summary": ["start", "end", "duration_seconds", "sampling_rates", "packets_seen",
                "drops", "drop_share", "packets_exact", "unseen.samples"],
    "interfaces": ["sampling_rates", "packets_seen", "drops"],
    "services": ["name"],
    "top_pairs": ["low_confidence"],
    "top_flows": ["name", "low_confidence"],
    "connections": ["transport", "name"],
    "connections_by_remote_as": ["asn", "name"],
    "eth_types": ["name"],
    "ip_protocols": ["name"],
    "packet_sizes": ["max"],
    "time_series": ["interval_seconds"],
    "source_as": ["asn", "name"],
    "destination_as": ["asn", "name"],
    "remote_as": ["asn", "name"],
    "as_pairs": ["source.asn", "source.name", "destination.asn", "destination.name"],
    "as_ipv6": ["asn", "name"],
    **{k: ["in_cluster"] for k in ["source_namespaces", "destination_namespaces", "remote_namespaces",
                                   "source_workloads", "destination_workloads", "remote_workloads",
                                   "leaving_workloads"]},
    "leaving_as": ["destination.asn", "destination.name"],
}

# Sections not sorted by packets.
UNSORTED = {"packet_sizes", "time_series", "time_series_protocols", "ipv6_share", "summary"}


def get(r, path):
    for p in path.split("."):
        if r is None:
            return None
        r = r.get(p)
    return r


def expected(report, section):
    """The report-v1 rows a SQL section's rows map onto."""
    if section in ("summary", "ipv6_share"):
        return [report[section]] if section in report else None
    if section == "time_series":
        ts = report.get("time_series")
        if ts is None:
            return None
        return [dict(b, interval_seconds=ts["interval_seconds"]) for b in ts["buckets"]]
    if section == "time_series_protocols":
        ts = report.get("time_series")
        if ts is None:
            return None
        return [dict(c, start=b["start"]) for b in ts["buckets"] for c in b.get("protocols", [])]
    return report.get(section)


def same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return rel(float(a), float(b)) <= EXACT
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is None and b is None
    return str(a) == str(b)


def run_duckdb(stmts):
    import duckdb
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    out = {}
    for s in stmts:
        cur = c.execute(s["sql"])
        if s["section"] == "setup":
            continue
        cols = [d[0] for d in cur.description]
        out[s["section"]] = [dict(zip(cols, r)) for r in cur.fetchall()]
    return out


# docs/sql.md, "A ClickHouse cluster": the parts loaded into MergeTree
# tables (a shard's `samples_local`), the views over them.
MERGETREE = {
    "samples": ["CREATE TABLE samples_local ENGINE = MergeTree PARTITION BY date "
                "ORDER BY (host, ifname, direction, sampling_rate, timestamp) EMPTY AS "
                "SELECT *, _file AS file_ FROM file('{glob}', Parquet) SETTINGS {settings}",
                "INSERT INTO samples_local SELECT *, _file AS file_ FROM file('{glob}', Parquet) "
                "SETTINGS {settings}",
                "CREATE VIEW samples AS SELECT * FROM samples_local"],
    "pools": ["CREATE TABLE pools_local ENGINE = MergeTree ORDER BY tuple() EMPTY AS "
              "SELECT * FROM file('{glob}', Parquet)",
              "INSERT INTO pools_local SELECT * FROM file('{glob}', Parquet)",
              "CREATE VIEW pools AS SELECT * FROM pools_local"],
}


def mergetree(sql):
    """The statements that replace a setup view by a MergeTree table."""
    import re
    m = re.match(r"CREATE VIEW (samples|pools) AS SELECT .* FROM file\('([^']*)', Parquet\)(?: SETTINGS (.*))?$", sql)
    if not m:
        return [sql]
    return [q.format(glob=m.group(2), settings=m.group(3)) for q in MERGETREE[m.group(1)]]


def run_chdb(stmts, tables=False):
    from chdb import session
    sess = session.Session()
    out = {}
    for s in stmts:
        if s["section"] == "setup":
            for q in mergetree(s["sql"]) if tables else [s["sql"]]:
                sess.query(q)
            continue
        res = sess.query(s["sql"], "JSONEachRow")
        text = res.bytes().decode() if hasattr(res, "bytes") else str(res)
        out[s["section"]] = [json.loads(l) for l in text.splitlines() if l.strip()]
    return out


SPARK = None
CLUSTER = None
WAREHOUSE = tempfile.TemporaryDirectory(prefix="pktsample-spark-")


class Cluster:
    """A Spark standalone cluster on this machine: one master and two
    workers, each its own JVM, started by pyspark's bundled `spark-class`
    (as `start-master.sh`/`start-worker.sh` would), in a process group of
    their own that `stop` ends."""

    WORKERS = 2

    def __init__(self):
        import pyspark
        import socket
        import subprocess
        self.home = os.path.dirname(pyspark.__file__)
        self.logs = tempfile.TemporaryDirectory(prefix="pktsample-spark-cluster-")
        cls = os.path.join(self.home, "bin", "spark-class")
        env = dict(os.environ, SPARK_HOME=self.home, SPARK_LOCAL_IP="127.0.0.1")

        def port():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return s.getsockname()[1]

        def start(name, args):
            log = open(os.path.join(self.logs.name, name + ".log"), "w")
            return subprocess.Popen([cls, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

        p = port()
        self.url = f"spark://127.0.0.1:{p}"
        self.procs = [start("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                       "--port", str(p), "--webui-port", str(port())])]
        self.work = []
        for i in range(self.WORKERS):
            w = os.path.join(self.logs.name, f"work-{i}")
            os.mkdir(w)
            self.work.append(w)
            self.procs.append(start(f"worker-{i}", [
                "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", "1",
                "--memory", os.environ.get("SPARK_WORKER_MEMORY", "1g"),
                "--webui-port", str(port()), "--work-dir", w, self.url]))

    def wait_for_executors(self, spark, timeout=120):
        """Until both workers run an executor for this application."""
        t0 = time.time()
        while True:
            n = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1
            if n >= self.WORKERS:
                return
            dead = [p.args[1] for p in self.procs if p.poll() is not None]
            if dead or time.time() - t0 > timeout:
                raise SystemExit(f"spark cluster: {n} of {self.WORKERS} executors after "
                                 f"{time.time() - t0:.0f} s; exited: {dead}; logs: {self.tail()}")
            time.sleep(0.5)

    def executors_used(self, app):
        """Workers whose work directory holds an executor of `app`."""
        return sum(os.path.isdir(os.path.join(w, app)) for w in self.work)

    def tail(self):
        out = []
        for f in sorted(os.listdir(self.logs.name)):
            if f.endswith(".log"):
                lines = open(os.path.join(self.logs.name, f)).read().splitlines()
                out.append(f + ": " + " | ".join(l for l in lines if "ERROR" in l or "Exception" in l)[-600:])
        return "; ".join(out)

    def stop(self):
        import signal
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except Exception:
                os.killpg(p.pid, signal.SIGKILL)


def spark_session(master):
    from pyspark.sql import SparkSession
    b = (SparkSession.builder.master(master).appName("pktsample-sql")
         .config("spark.ui.enabled", "false")
         .config("spark.sql.shuffle.partitions", "4")
         .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "2g"))
         # The setup writes the cells as tables: in a directory
         # of this run's, removed at exit.
         .config("spark.sql.warehouse.dir", WAREHOUSE.name))
    if master.startswith("spark://"):
        b = (b.config("spark.executor.memory", os.environ.get("SPARK_EXECUTOR_MEMORY", "768m"))
             .config("spark.executor.cores", "1")
             .config("spark.cores.max", str(Cluster.WORKERS)))
    s = b.getOrCreate()
    s.sparkContext.setLogLevel("ERROR")
    return s


def run_spark_cluster(stmts):
    global SPARK, CLUSTER
    if CLUSTER is None:
        CLUSTER = Cluster()
        SPARK = spark_session(CLUSTER.url)
        CLUSTER.wait_for_executors(SPARK)
    out = run_spark(stmts)
    app = SPARK.sparkContext.applicationId
    used = CLUSTER.executors_used(app)
    if used != Cluster.WORKERS:
        raise SystemExit(f"spark cluster: executors of {app} on {used} of {Cluster.WORKERS} workers")
    return out


def run_spark(stmts):
    global SPARK
    if SPARK is None:
        SPARK = spark_session("local[2]")
    for s in stmts:
        if s["section"] == "setup":
            SPARK.sql(s["sql"])

    def one(s):
        # Spark's JSON leaves out null fields: they are null.
        return s["section"], [json.loads(j) for j in SPARK.sql(s["sql"]).toJSON().collect()]

    # Two at a time: most of a query's time is planning its long
    # expressions, one core each.
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as ex:
        return dict(ex.map(one, [s for s in stmts if s["section"] != "setup"]))


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300) if a != b else 0.0


def compare(section, rows, want, fails):
    keys = KEYS[section]
    key = lambda r: tuple(str(get(r, k)) for k in keys)
    got = {key(r): r for r in rows}
    exp = {key(r): r for r in want}
    if set(got) != set(exp):
        fails.append(f"{section}: rows {sorted(set(got) ^ set(exp))[:5]} differ")
    worst = {"estimate": 0.0, "bound": 0.0, "rows": len(rows)}
    measures = (["packets", "bytes"] if section != "ipv6_share" else ["packets", "bytes"]) + RECORDS.get(section, [])
    for k in sorted(set(got) & set(exp)):
        g, e = got[k], exp[k]
        if "samples" in e and int(g["samples"]) != int(e["samples"]):
            fails.append(f"{section} {k}: samples {g['samples']} != {e['samples']}")
        for m in measures:
            ge, ee = get(g, m), get(e, m)
            if ee is None or ge is None:
                if (ee is None) != (ge is None):
                    fails.append(f"{section} {k} {m}: {ge} vs analyze {ee}")
                continue
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
        for f in FIELDS.get(section, []):
            if not same(get(g, f), get(e, f)):
                fails.append(f"{section} {k}: {f} {get(g, f)!r} != analyze {get(e, f)!r}")
    # Rows in analyze's order (ties by key may differ).
    # The low-confidence rows after the others (top pairs and flows).
    order = [(bool(r.get("low_confidence")), -float(r["packets"]["estimate"]))
             for r in rows if "packets" in r]
    if any(a > b for a, b in zip(order, order[1:])) and section not in UNSORTED:
        fails.append(f"{section}: not ordered by packets")
    return worst


# Report sections the SQL does not give as rows (metadata and sFlow).
NOT_ROWS = {"report_version", "tool_version", "inputs", "filters", "warnings",
            "asn_databases", "calibration", "distinct_addresses", "k8s_snapshots",
            # No SQL form yet (docs/sql.md).
            "encapsulations", "distinct_hosts"}


def check(engine, name, qpath, rpath, fails):
    stmts = json.load(open(qpath))
    report = json.load(open(rpath))
    t0 = time.time()
    got = {"duckdb": run_duckdb, "chdb": run_chdb, "spark": run_spark,
           "spark-cluster": run_spark_cluster,
           "chdb-mergetree": lambda st: run_chdb(st, tables=True)}[engine](stmts)
    worst = {"seconds": round(time.time() - t0, 1)}
    for section, rows in got.items():
        want = expected(report, section)
        if want is None:
            fails.append(f"{name} {section}: not in the analyze report")
            continue
        worst[section] = compare(section, rows, want, fails)
    covered = {k for k in KEYS if k != "time_series_protocols"}
    for section, v in report.items():
        if section in NOT_ROWS or v is None:
            continue
        if section not in covered:
            fails.append(f"{name} {section}: the checker does not know this section")
        elif section not in got:
            fails.append(f"{name} {section}: in the analyze report, not in the SQL's")
    return worst


def main():
    engine = sys.argv[1]
    args = sys.argv[3:]
    fails, worst = [], {}
    try:
        for i in range(0, len(args), 3):
            name, q, r = args[i:i + 3]
            n0 = len(fails)
            worst[name] = check(engine, name, q, r, fails)
            fails[n0:] = [f"{name}: {f}" if not f.startswith(name) else f for f in fails[n0:]]
    finally:
        if SPARK is not None:
            SPARK.stop()
        if CLUSTER is not None:
            CLUSTER.stop()
    if fails:
        print("\n".join(fails[:40]), file=sys.stderr)
        sys.exit(1)
    print(json.dumps(worst))


if __name__ == "__main__":
    main()
