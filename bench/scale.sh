#!/usr/bin/env bash
# Benchmark: the report on a 100 M-row partitioned dataset (24 hourly parts
# x 4 hosts, edge-shaped traffic: millions of addresses), by `pktsample
# analyze` and by the queries `pktsample sql` prints, run on DuckDB, chDB
# (embedded ClickHouse) and Spark local[2], one after the other in one run,
# each beside the plain GROUP BY queries of the same sections on the same
# engine (the baseline of issue 27's targets).
# Each engine's run is checked against analyze's report (every key, sample
# count, estimate and bound: tests/interop/sql_check.py), so a wrong answer
# fails the benchmark. Prints wall time and peak RSS of the process tree
# (Spark's JVM included) per engine.
#
#   ROWS      rows in the dataset (default 100000000)
#   SECTIONS  the report's sections (default: the default ones)
#   ENGINES   default "analyze duckdb duckdb-plain chdb chdb-plain spark
#             spark-plain": ENGINE runs the generated SQL, ENGINE-plain the
#             baseline (bench/plain_queries.py: the same sections as plain
#             GROUP BY queries without intervals, on the same views)
#             Rollups: "rollup" (pktsample rollup --again: every part),
#             "analyze-fixed" (analyze --no-rollup of the sections rollups
#             answer: FIXED) and "analyze-rollup" (the same from the
#             rollups, which must give the same report, byte for byte),
#             and on the engines "ENGINE-fixed" (the generated SQL of those
#             sections over the samples) and "ENGINE-rollup" (the same with
#             `sql --rollup`), both checked against analyze-fixed's report
#             "spark-cluster" runs the generated SQL on a standalone
#             cluster (a master and two workers, each its own JVM)
#   LIMIT     seconds an engine may take before it is stopped and reported
#             as not finishing (default 1800)
# Needs the interop venv (.ci/run makes .venv) and, for Spark, Java.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/pktsample-bench}
ROWS=${ROWS:-100000000}
SECTIONS=${SECTIONS:-summary,ip-versions,protocols,interfaces,top-sources,top-destinations,time-series,packet-sizes}
FIXED=${FIXED:-summary,protocols,interfaces,time-series,packet-sizes}
ENGINES=${ENGINES:-rollup analyze-fixed analyze-rollup analyze duckdb duckdb-plain chdb chdb-plain spark spark-plain}
PY=${PKTSAMPLE_PYTHON:-$PWD/.venv/bin/python}
LIMIT=${LIMIT:-1800}
export SPARK_DRIVER_MEMORY=${SPARK_DRIVER_MEMORY:-12g}
# spark-cluster (a master and two workers, tests/interop/sql_check.py's
# Cluster): each worker's and executor's memory.
export SPARK_WORKER_MEMORY=${SPARK_WORKER_MEMORY:-6g} SPARK_EXECUTOR_MEMORY=${SPARK_EXECUTOR_MEMORY:-5g}
mkdir -p "$BENCH_DIR"
cargo build --release --quiet --workspace --bins
P=$PWD/target/release/pktsample
s=$BENCH_DIR/samples-edge-$ROWS.parquet
if [ ! -s "$s" ]; then
  target/release/tracegen --mix edge --format pcap --packets "$ROWS" --seed 13 -o "$BENCH_DIR/edge.pcap"
  $P capture --replay "$BENCH_DIR/edge.pcap" -r 1 --seed 1 -q -o "$s" --force > /dev/null
  rm -f "$BENCH_DIR/edge.pcap"
fi
ds=$BENCH_DIR/scale-$ROWS
per=$(( (ROWS + 95) / 96 ))
if [ ! -d "$ds/_pools" ]; then
  rm -rf "$ds"
  target/release/parts "$s" -o "$ds" --rows "$per" --hosts 4 --hourly --parts 96 --dataset
fi
echo "dataset: $ds: $(find "$ds" -path "$ds/_pools" -prune -o -name '*.parquet' -print | wc -l) parts, $(du -sh --exclude=_pools "$ds" | cut -f1)"
OUT=$BENCH_DIR/scale-results.md
: > "$OUT"
rep=$BENCH_DIR/scale-analyze.json
for e in $ENGINES; do
  case $e in
    analyze)
      line=$(bench/tree_rss.py -- $P analyze "$ds" -q --format json --by "$SECTIONS" -o "$rep" --force)
      ;;
    rollup)
      line=$(bench/tree_rss.py -- $P rollup "$ds" --again)
      ;;
    analyze-fixed|analyze-rollup)
      [ -d "$ds/_rollup" ] || $P rollup "$ds" > /dev/null
      no=; [ "$e" = analyze-fixed ] && no=--no-rollup
      line=$(bench/tree_rss.py -- $P analyze "$ds" -q --format json --by "$FIXED" --interval 1h $no -o "$BENCH_DIR/scale-$e.json" --force)
      if [ -s "$BENCH_DIR/scale-analyze-fixed.json" ] && [ -s "$BENCH_DIR/scale-analyze-rollup.json" ]; then
        cmp -s "$BENCH_DIR/scale-analyze-fixed.json" "$BENCH_DIR/scale-analyze-rollup.json" \
          || { echo "$e: the report from rollups differs from the samples'"; exit 1; }
      fi
      ;;
    duckdb-fixed|chdb-fixed|spark-fixed|spark-cluster-fixed|duckdb-rollup|chdb-rollup|spark-rollup|spark-cluster-rollup)
      [ -d "$ds/_rollup" ] || $P rollup "$ds" > /dev/null
      fr=$BENCH_DIR/scale-analyze-fixed.json
      [ -s "$fr" ] || $P analyze "$ds" -q --format json --by "$FIXED" --interval 1h --no-rollup -o "$fr" --force
      en=${e%-*}; d=${en%-cluster}; [ "$en" = chdb ] && d=clickhouse
      ro=; [ "${e#*-}" = rollup ] && ro=--rollup
      q=$BENCH_DIR/scale-$e.sql.json
      $P sql "$ds" --dialect "$d" --by "$FIXED" --interval 1h $ro --format json > "$q"
      line=$(bench/tree_rss.py --limit "$LIMIT" -- "$PY" tests/interop/sql_check.py "$en" 2e-4 scale "$q" "$fr") \
        || line="$line (failed: rerun ENGINES=$e to see why)"
      ;;
    duckdb|chdb|spark|spark-cluster|duckdb-plain|chdb-plain|spark-plain)
      [ -s "$rep" ] || $P analyze "$ds" -q --format json --by "$SECTIONS" -o "$rep" --force
      en=${e%-plain}; d=${en%-cluster}; [ "$en" = chdb ] && d=clickhouse
      q=$BENCH_DIR/scale-$en.sql.json
      $P sql "$ds" --dialect "$d" --by "$SECTIONS" --format json > "$q"
      if [ "$e" = "$en" ]; then
        line=$(bench/tree_rss.py --limit "$LIMIT" -- "$PY" tests/interop/sql_check.py "$en" 2e-4 scale "$q" "$rep") \
          || line="$line (failed: rerun ENGINES=$e to see why)"
      else
        line=$(bench/tree_rss.py --limit "$LIMIT" -- "$PY" bench/plain_queries.py "$en" "$q" "$rep") \
          || line="$line (failed: rerun ENGINES=$e to see why)"
      fi
      ;;
    *) echo "unknown engine $e"; exit 2 ;;
  esac
  echo "$e: $line" | tee -a "$OUT"
done
cat "$OUT"
