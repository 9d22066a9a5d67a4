#!/usr/bin/env bash
# Benchmark: per-AS attribution on real-size tables (Debian's python3-pyasn
# ships them: ipasn_20140513.dat.gz, 512,621 IPv4 prefixes; ipasn6_20151101.dat.gz,
# 606,138 IPv4 + 27,693 IPv6 prefixes).
#  1. Load time, memory and single-core lookups/s (asn/examples/asn_bench.rs),
#     each table's answers checked first against pyasn's own radix tree on
#     20,000 random addresses; load time side by side with pyasn in hyperfine.
#  2. The full analyze report with and without the per-AS sections on a
#     20-million-row samples file of public addresses (tracegen --mix public:
#     an edge link, local prefixes to 65,536 remote addresses per family), in
#     one hyperfine run, after checking that the per-AS rows add up to the
#     total. Also: the same with the AS pairs left out, and the table load
#     alone (DB loaded, no per-AS section), to show where the time goes.
#  3. Enrichment: replaying 5 million packets to Parquet at 1-in-1 with and
#     without --asn-db.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/pktsample-bench}
ROWS=${ROWS:-20000000}
DATA=${PYASN_DATA:-/usr/lib/python3/dist-packages/data}
V4=$DATA/ipasn_20140513.dat.gz
V6=$DATA/ipasn6_20151101.dat.gz
SYSPY=/usr/bin/python3
[ -s "$V4" ] && [ -s "$V6" ] || { echo "needs Debian's python3-pyasn (apt-get install python3-pyasn)"; exit 1; }
mkdir -p "$BENCH_DIR"
cargo build --release --quiet --workspace --bins --examples
P=$PWD/target/release/pktsample
B=$PWD/target/release/examples/asn_bench

echo "== tables: load, memory, lookups (one core)"
for t in "$V4" "$V6" "$V4 $V6"; do
  echo "-- $t"
  # shellcheck disable=SC2086
  $B "$BENCH_DIR/check.txt" $t
  if [ "$t" != "$V4 $V6" ]; then
    # The answer: the same ASN as pyasn for every checked address.
    $SYSPY - "$t" "$BENCH_DIR/check.txt" <<'PY'
import sys, pyasn
db = pyasn.pyasn(sys.argv[1])
bad = n = 0
for line in open(sys.argv[2]):
    addr, ours = line.split()
    theirs = db.lookup(addr)[0]
    # pyasn answers AS 0 entries as 0; we report them as unrouted (None).
    theirs = "None" if theirs in (None, 0) else str(theirs)
    n += 1
    if ours != theirs:
        bad += 1
        if bad <= 5:
            print("differs:", addr, ours, theirs)
print(f"checked against pyasn: {n - bad}/{n} addresses agree")
sys.exit(1 if bad else 0)
PY
  fi
done
hyperfine --warmup 1 --runs ${RUNS:-5} --export-markdown "$BENCH_DIR/asn-load.md" \
  -n "pyasn (C radix tree) load $(basename "$V4")" "$SYSPY -c 'import pyasn; pyasn.pyasn(\"$V4\")'" \
  -n "pktsample-asn load $(basename "$V4")" "env LOAD_ONLY=1 $B /dev/null $V4"
cat "$BENCH_DIR/asn-load.md"

echo "== analyze with and without the per-AS sections"
DB="--asn-db $V4 --asn-db $V6"
BASE=summary,ip-versions,protocols,interfaces,top-sources,top-destinations,time-series,packet-sizes
# Two files of the same traffic: pcapng (two interfaces, three directions:
# six strata, and the remote-AS sections have work) and pcap (one stratum,
# no direction: the lightest baseline).
for fmt in pcapng pcap; do
  S=$BENCH_DIR/public-$fmt-$ROWS.parquet
  if [ ! -s "$S" ]; then
    IN=$BENCH_DIR/public-$ROWS.$fmt
    target/release/tracegen --mix public --format $fmt --nanos --packets "$ROWS" --seed 17 -o "$IN"
    $P capture --replay "$IN" -r 1 --seed 1 -q -o "$S" --force > /dev/null
    rm -f "$IN"
  fi
  echo "-- input: $S ($(du -h "$S" | cut -f1))"
  # The answer first: every IP sample is in exactly one source AS row
  # (labels included), so the rows add up to the IP total.
  $P analyze "$S" -q --format json $DB --top 100000000 --by summary,ip-versions,src-as \
    | $SYSPY -c '
import json, sys
r = json.load(sys.stdin)
ip = sum(v["samples"] for v in r["ip_versions"] if v["ip_version"] != "non-ip")
rows = r["source_as"]
s = sum(x["samples"] for x in rows)
print(f"source AS rows: {len(rows)}; their samples {s}, IP samples {ip}")
sys.exit(0 if s == ip else 1)'
  /usr/bin/time -f "pktsample peak RSS with per-AS sections: %M KiB" $P analyze "$S" -q --format json $DB > /dev/null
  hyperfine --warmup 1 --runs ${RUNS:-5} --export-markdown "$BENCH_DIR/asn-analyze-$fmt.md" \
    -n "analyze, all sections" "$P analyze $S -q --format json" \
    -n "analyze, all sections + per-AS (2 tables)" "$P analyze $S -q --format json $DB" \
    -n "  same, without AS pairs" "$P analyze $S -q --format json $DB --by $BASE,src-as,dst-as,remote-as,as-ipv6" \
    -n "  tables loaded, no per-AS section" "$P analyze $S -q --format json $DB --by $BASE"
  cat "$BENCH_DIR/asn-analyze-$fmt.md"
done

echo "== enrichment: replay to Parquet at 1-in-1 with and without the AS columns"
E=$BENCH_DIR/public-5M.pcap
[ -s "$E" ] || target/release/tracegen --mix public --format pcap --packets 5000000 --seed 3 -o "$E"
hyperfine --warmup 1 --runs ${RUNS:-5} --export-markdown "$BENCH_DIR/asn-enrich.md" \
  -n "replay -r 1" "$P capture --replay $E -r 1 --seed 1 -q -o $BENCH_DIR/e1.parquet --force" \
  -n "replay -r 1 --asn-db (2 tables)" "$P capture --replay $E -r 1 --seed 1 -q -o $BENCH_DIR/e2.parquet --force $DB"
cat "$BENCH_DIR/asn-enrich.md"
rm -f "$BENCH_DIR/e1.parquet" "$BENCH_DIR/e2.parquet"
