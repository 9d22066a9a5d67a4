#!/usr/bin/env bash
# Benchmark: Kubernetes context with 100,000 pods and 10,000 services
# (fixtures/tracegen's k8sgen: Deployments' pods in 200 namespaces, the
# first 1,024 holding the edge mix's local addresses).
#  1. The snapshot: load time and single-core lookups/s of pod addresses,
#     outside addresses and Calico interfaces (k8s/examples/k8s_bench.rs).
#  2. Enrichment per sample: convert of the 10 M-row edge samples with and
#     without --k8s (the Kubernetes columns filled row by row), one
#     hyperfine run; the difference over the rows is the cost per sample.
#  3. analyze of the same samples: the default report, and with --k8s and
#     its sections, one hyperfine run; peak RSS of each.
#  4. The policy what-if on the same samples: 600 policies (every
#     namespace default-denies ingress and egress, then allows its own pods
#     in, the world in on TCP 80/443, and out to the world but 10/8 on TCP
#     443 and UDP 53): analyze --by summary,denied against --by
#     summary,workload-pairs (the same attribution without judging).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/pktsample-bench}
ROWS=${ROWS:-10000000}
RUNS=${RUNS:-3}
PY=${PKTSAMPLE_PYTHON:-$PWD/.venv/bin/python}
mkdir -p "$BENCH_DIR"
cargo build --release --quiet --workspace --bins --examples
P=$PWD/target/release/pktsample
C=$BENCH_DIR/cluster-100k.json
[ -s "$C" ] || target/release/k8sgen --pods 100000 --services 10000 -o "$C"
S=$BENCH_DIR/samples-edge-$ROWS.parquet
if [ ! -s "$S" ]; then
  target/release/tracegen --mix edge --format pcap --packets "$ROWS" --seed 13 -o "$BENCH_DIR/edge.pcap"
  $P capture --replay "$BENCH_DIR/edge.pcap" -r 1 --seed 1 -q -o "$S" --force > /dev/null
  rm -f "$BENCH_DIR/edge.pcap"
fi
T=2023-11-14T22:00:00Z
echo "== snapshot ($(du -h "$C" | cut -f1))"
target/release/examples/k8s_bench "$C"
echo "== enrichment per sample: convert $ROWS rows"
hyperfine --warmup 1 --runs "$RUNS" -N \
  -n plain "$P convert $S -o $BENCH_DIR/conv.parquet --force" \
  -n k8s "$P convert $S -o $BENCH_DIR/conv-k8s.parquet --force --k8s $C --k8s-time $T"
# The answer first: the local side of the trace resolved to pods.
"$PY" - "$BENCH_DIR/conv-k8s.parquet" <<'PYEOF'
import sys, duckdb
n, pods = duckdb.sql(f"SELECT count(*), count(*) FILTER (src_pod IS NOT NULL OR dst_pod IS NOT NULL) FROM '{sys.argv[1]}'").fetchall()[0]
print(f"rows {n}, with a pod on one side {pods} ({100*pods/n:.1f}%)")
assert pods > 0.5 * n, "the edge trace's local side should be pods"
PYEOF
echo "== analyze $ROWS rows"
hyperfine --warmup 1 --runs "$RUNS" -N \
  -n default "$P analyze $S -q" \
  -n k8s "$P analyze $S -q --k8s $C --k8s-time $T" \
  -n k8s-only "$P analyze $S -q --k8s $C --k8s-time $T --by summary,namespaces,workloads,namespace-pairs,workload-pairs,leaving"
for args in "" "--k8s $C --k8s-time $T"; do
  echo "peak RSS analyze ${args:+--k8s}: $("$PY" bench/peak_rss.py -- $P analyze $S -q $args)"
done
NP=$BENCH_DIR/netpol-600.json
"$PY" - "$NP" <<'PYEOF'
import json, sys
items = []
for n in range(200):
    ns = f"ns-{n}"
    meta = lambda name: {"namespace": ns, "name": name}
    items.append({"kind": "NetworkPolicy", "metadata": meta("default-deny"),
                  "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}})
    items.append({"kind": "NetworkPolicy", "metadata": meta("allow-in"),
                  "spec": {"podSelector": {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                           "ingress": [{"from": [{"podSelector": {}}]},
                                       {"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}],
                                        "ports": [{"port": 80}, {"port": 443}]}]}})
    items.append({"kind": "NetworkPolicy", "metadata": meta("allow-out"),
                  "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                           "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}, {"ipBlock": {"cidr": "::/0"}}],
                                       "ports": [{"port": 443}, {"protocol": "UDP", "port": 53}]}]}})
json.dump({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicyList", "items": items}, open(sys.argv[1], "w"))
PYEOF
echo "== policy what-if: $ROWS rows, 600 policies"
# The answer first: something is denied, and not everything.
"$P" analyze "$S" -q --k8s "$C" --k8s-time $T --k8s-policy "$NP" --by summary,denied --format json -o "$BENCH_DIR/denied.json" --force
"$PY" - "$BENCH_DIR/denied.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
t = r["denied_total"]
print(f"denied {t['packets']['estimate']:.0f} packets ({100*t['share_packets']['estimate']:.1f}% of all), {len(r['denied'])} detail rows")
assert 0 < t["share_packets"]["estimate"] < 1, t
PYEOF
hyperfine --warmup 1 --runs "$RUNS" -N \
  -n pairs "$P analyze $S -q --k8s $C --k8s-time $T --by summary,workload-pairs" \
  -n denied "$P analyze $S -q --k8s $C --k8s-time $T --k8s-policy $NP --by summary,denied"
echo "peak RSS analyze --by summary,denied: $("$PY" bench/peak_rss.py -- $P analyze $S -q --k8s $C --k8s-time $T --k8s-policy $NP --by summary,denied)"
