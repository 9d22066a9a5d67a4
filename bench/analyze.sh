#!/usr/bin/env bash
# Benchmark: pktsample analyze (every section, intervals included) against
# DuckDB (Python, 2 threads) running the equivalent queries
# (bench/duckdb_queries.py: summary, IP versions, protocols, top sources, top
# destinations, per-minute series, distinct addresses, interfaces) on the
# same files, side by side in one hyperfine run per case. Each case checks
# first that both agree on the totals, and measures both tools' peak RSS.
# Needs the interop venv (.ci/run makes .venv) and hyperfine.
#
# Cases (CASES, default all four):
#   small  20 M rows of minimum-size frames between few addresses
#   edge   10 M rows of edge-shaped traffic (tracegen --mix edge: millions
#          of distinct addresses)
#   parts  7,200 files: edge-shaped rows cut into a month of hourly parts
#          from ten hosts, 1,000 rows each
#   rows   25, 50 and 100 M rows of edge-shaped traffic (time linear in
#          rows), and 100 M under --memory-limit 1GiB (same report)
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/pktsample-bench}
CASES=${CASES:-small edge parts rows}
RUNS=${RUNS:-5}
PY=${PKTSAMPLE_PYTHON:-$PWD/.venv/bin/python}
mkdir -p "$BENCH_DIR"
cargo build --release --quiet --workspace --bins
P=$PWD/target/release/pktsample
OUT=$BENCH_DIR/analyze-results.md
: > "$OUT"

# samples MIX ROWS: a rate-1 samples file of ROWS rows (made once).
samples() {
  local mix=$1 rows=$2
  local s=$BENCH_DIR/samples-$mix-$rows.parquet in=$BENCH_DIR/$mix-$rows.pcap
  if [ ! -s "$s" ]; then
    target/release/tracegen --mix "$mix" --format pcap --packets "$rows" --seed 13 -o "$in"
    $P capture --replay "$in" -r 1 --seed 1 -q -o "$s" --force > /dev/null
    rm -f "$in"
  fi
  echo "$s"
}

# peak COMMAND...: peak RSS in MiB.
peak() {
  /usr/bin/time -f "%M" "$@" 2>&1 > /dev/null | tail -1 | awk '{printf "%.0f", $1 / 1024}'
}

# compare NAME INPUT [ANALYZE FLAGS...]: totals, peak RSS, then hyperfine.
compare() {
  local name=$1 input=$2
  shift 2
  local ours theirs
  ours=$($P analyze "$input" -q --format json --by summary "$@" | "$PY" -c 'import json,sys; r=json.load(sys.stdin)["summary"]; print(int(r["packets"]["estimate"]), int(r["bytes"]["estimate"]))')
  theirs=$("$PY" -c "import duckdb; print(*duckdb.connect().execute(\"SELECT sum(sampling_rate), sum(pkt_len::BIGINT * sampling_rate) FROM read_parquet('$input')\").fetchone())")
  echo "$name: pktsample totals $ours; DuckDB totals $theirs"
  [ "$ours" = "$theirs" ] || { echo "totals differ"; exit 1; }
  local rss_ours rss_duck
  rss_ours=$(peak $P analyze "$input" -q --format json "$@")
  rss_duck=$(peak "$PY" bench/duckdb_queries.py "$input")
  hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$BENCH_DIR/analyze-$name.md" \
    -n "DuckDB, 8 queries, 2 threads ($name)" "$PY bench/duckdb_queries.py '$input'" \
    -n "pktsample analyze, all sections ($name)" "$P analyze '$input' -q --format json $*"
  {
    echo "### $name"
    echo
    cat "$BENCH_DIR/analyze-$name.md"
    echo
    echo "peak RSS: pktsample $rss_ours MiB, DuckDB $rss_duck MiB"
    echo
  } >> "$OUT"
}

for c in $CASES; do
  case $c in
    small) compare small "$(samples small 20000000)" ;;
    edge) compare edge "$(samples edge 10000000)" ;;
    parts)
      d=$BENCH_DIR/parts-7200
      if [ ! -s "$d/part-7199.parquet" ]; then
        rm -rf "$d"
        target/release/parts "$(samples edge 10000000)" -o "$d" --rows 1000 --hosts 10 --hourly --parts 7200
      fi
      # The address tables' share of the peak: the same files without the
      # sections that need addresses.
      base=$(peak $P analyze "$d" -q --format json --by summary,protocols,interfaces,time-series,packet-sizes)
      compare parts "$d/*.parquet"
      echo "without the address sections: peak RSS $base MiB" >> "$OUT"
      echo >> "$OUT"
      ;;
    rows)
      for n in 25000000 50000000 100000000; do
        compare "rows-$n" "$(samples edge $n)"
      done
      s=$(samples edge 100000000)
      $P analyze "$s" -q --format json > "$BENCH_DIR/rows-default.json"
      rss=$(peak $P analyze "$s" -q --format json --memory-limit 1GiB -o "$BENCH_DIR/rows-1g.json" --force)
      cmp "$BENCH_DIR/rows-default.json" "$BENCH_DIR/rows-1g.json"
      hyperfine --runs 1 --export-markdown "$BENCH_DIR/analyze-limit.md" \
        -n "pktsample analyze, 100 M rows, --memory-limit 1GiB" "$P analyze '$s' -q --format json --memory-limit 1GiB"
      {
        echo "### 100 M rows under --memory-limit 1GiB (report identical to the default run)"
        echo
        cat "$BENCH_DIR/analyze-limit.md"
        echo
        echo "peak RSS: $rss MiB"
        echo
      } >> "$OUT"
      ;;
    *) echo "unknown case $c"; exit 2 ;;
  esac
done
cat "$OUT"
