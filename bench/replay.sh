#!/usr/bin/env bash
# Benchmark: offline replay against tcpdump's plain read of the same file.
# Generates a ~1 GB pcap of small packets (once, cached in $BENCH_DIR), checks
# that pktsample's answer is right (packets seen = packets generated; samples
# consistent with Binomial(M, 1/N)), then times both with hyperfine in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/pktsample-bench}
PACKETS=${PACKETS:-13000000}
mkdir -p "$BENCH_DIR"
cargo build --release --quiet --workspace --bins
P=target/release/pktsample
IN=$BENCH_DIR/small-$PACKETS.pcap
if [ ! -s "$IN" ]; then
  target/release/tracegen --mix small --format pcap --packets "$PACKETS" --seed 7 \
    -o "$IN" --truth "$IN.truth.json"
fi
echo "input: $IN ($(du -h "$IN" | cut -f1), $PACKETS packets)"

# The answer first: a fast wrong answer is no benchmark.
for rate in 1 1000; do
  out=$BENCH_DIR/r$rate.parquet
  $P capture --replay "$IN" -r "$rate" --seed 1 -q -o "$out" --force > "$BENCH_DIR/r$rate.txt"
  python3 - "$BENCH_DIR/r$rate.txt" "$PACKETS" "$rate" <<'PY'
import math, re, sys
text = open(sys.argv[1]).read()
m, rate = int(sys.argv[2]), int(sys.argv[3])
seen = int(re.search(r"read\s+(\d+) packets", text).group(1))
n = int(re.search(r"sampled\s+(\d+) packets", text).group(1))
assert seen == m, f"packets seen {seen} != {m}"
mean, sd = m / rate, math.sqrt(m / rate * (1 - 1 / rate))
assert abs(n - mean) <= 4 * sd + (0 if rate > 1 else 0), f"{n} samples, expected {mean}±4*{sd}"
print(f"rate {rate}: {seen} seen, {n} samples (expected {mean:.0f} ± {sd:.0f})")
PY
done

hyperfine --warmup 1 --runs ${RUNS:-5} --export-markdown "$BENCH_DIR/replay.md" \
  -n "tcpdump -r (plain read)" "tcpdump -r $IN -w /dev/null 2>/dev/null" \
  -n "pktsample replay 1-in-1000" "$P capture --replay $IN -r 1000 --seed 1 -q -o $BENCH_DIR/h1000.parquet --force" \
  -n "pktsample replay 1-in-1" "$P capture --replay $IN -r 1 --seed 1 -q -o $BENCH_DIR/h1.parquet --force"
cat "$BENCH_DIR/replay.md"
