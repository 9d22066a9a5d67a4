#!/usr/bin/env bash
# Benchmark: pktsample analyze (every section, intervals included) against
# DuckDB (Python, 2 threads) running the equivalent group-bys (summary, IP
# versions, protocols, top sources, top destinations, per-minute series,
# interfaces) on the same 20-million-row samples file, in one hyperfine run.
# Checks first that both agree on the totals. Needs the interop venv
# (.ci/run makes .venv) and hyperfine.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/pktsample-bench}
ROWS=${ROWS:-20000000}
# small: minimum-size frames between few addresses; edge: millions of
# distinct addresses (tracegen --mix edge), the shape of issue 10.
MIX=${MIX:-small}
PY=${PKTSAMPLE_PYTHON:-$PWD/.venv/bin/python}
mkdir -p "$BENCH_DIR"
cargo build --release --quiet --workspace --bins
P=$PWD/target/release/pktsample
IN=$BENCH_DIR/$MIX-$ROWS.pcap
S=$BENCH_DIR/samples-$MIX-$ROWS.parquet
if [ ! -s "$S" ]; then
  [ -s "$IN" ] || target/release/tracegen --mix "$MIX" --format pcap --packets "$ROWS" --seed 13 -o "$IN"
  # Every packet becomes a sample: a 20M-row samples file.
  $P capture --replay "$IN" -r 1 --seed 1 -q -o "$S" --force > /dev/null
  rm -f "$IN"
fi
echo "input: $S ($(du -h "$S" | cut -f1))"

# The answer first.
ours=$($P analyze "$S" -q --format json --by summary | "$PY" -c 'import json,sys; r=json.load(sys.stdin)["summary"]; print(int(r["packets"]["estimate"]), int(r["bytes"]["estimate"]))')
theirs=$("$PY" -c "import duckdb; print(*duckdb.connect().execute(\"SELECT sum(sampling_rate), sum(pkt_len::BIGINT * sampling_rate) FROM '$S'\").fetchone())")
echo "pktsample totals: $ours; DuckDB totals: $theirs"
[ "$ours" = "$theirs" ] || { echo "totals differ"; exit 1; }

/usr/bin/time -f "pktsample peak RSS: %M KiB" $P analyze "$S" -q --format json > /dev/null
hyperfine --warmup 1 --runs ${RUNS:-5} --export-markdown "$BENCH_DIR/analyze.md" \
  -n "DuckDB, 7 group-bys, 2 threads" "$PY bench/duckdb_queries.py $S" \
  -n "pktsample analyze, all sections" "$P analyze $S -q --format json"
cat "$BENCH_DIR/analyze.md"
