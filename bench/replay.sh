#!/usr/bin/env bash
# Benchmark: offline replay of every input format against the tool a user
# would run on the same file, in one hyperfine run per trace:
#   pcap and pcapng at 1-in-1000      vs `tcpdump -r IN -w /dev/null`
#   .pcap.gz and .pcapng.zst          vs `zcat IN` and `zstdcat IN`
#   rate 1 (every packet to Parquet)  samples/s
#   the floor: `dd bs=1M` to /dev/null reading the file from page cache once
# on three traces (generated once, cached in $BENCH_DIR): 13 M minimum-size
# frames (`--mix small`), 10 M edge-shaped ones (`--mix public`: 65,536
# skewed public remote addresses, IPv4 and IPv6) and 10 M VXLAN frames of an
# overlay (`--mix asn --wrap vxlan`, IPv4 and IPv6 inside and out, captured
# at 160 bytes as `tcpdump -s 160` would). BASELINE=path/to/pktsample adds
# that binary's pcap, pcapng and rate-1 runs to each table (a regression
# check against an earlier build, same machine, same run). Checks the answers first
# (packets seen = packets generated in every format; samples within 4 sigma
# of Binomial(M, 1/N); the same samples from every format), then times, then
# peak memory (anonymous apart from the mapped file) with bench/peak_rss.py.
# Needs hyperfine, tcpdump, editcap, gzip, zstd. Page cache warm.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/pktsample-bench}
RUNS=${RUNS:-5}
mkdir -p "$BENCH_DIR"
cargo build --release --quiet --workspace --bins
P=$PWD/target/release/pktsample

trace() { # name packets mix [tracegen flags] -> base path; makes .pcap, .pcapng, .pcap.gz, .pcapng.zst
  local mix=$3 n=$2 b=$BENCH_DIR/$1-$2
  # shellcheck disable=SC2086
  [ -s "$b.pcap" ] || target/release/tracegen --mix "$mix" --format pcap --packets "$n" \
    --seed 7 ${4:-} -o "$b.pcap" --truth "$b.pcap.truth.json"
  [ -s "$b.pcapng" ] || editcap -F pcapng "$b.pcap" "$b.pcapng"
  [ -s "$b.pcap.gz" ] || gzip -1 -c "$b.pcap" > "$b.pcap.gz"
  [ -s "$b.pcapng.zst" ] || zstd -q -1 -T2 "$b.pcapng" -o "$b.pcapng.zst"
  echo "$b"
}

check() { # base packets: the answer first, a fast wrong answer is no benchmark
  local b=$1 m=$2 first=""
  for f in "$b.pcap" "$b.pcapng" "$b.pcap.gz" "$b.pcapng.zst"; do
    $P capture --replay "$f" -r 1000 --seed 1 -q -o "$BENCH_DIR/check.parquet" --force \
      > "$BENCH_DIR/check.txt"
    local got
    got=$(python3 - "$BENCH_DIR/check.txt" "$m" 1000 <<'PY'
import math, re, sys
text = open(sys.argv[1]).read()
m, rate = int(sys.argv[2]), int(sys.argv[3])
seen = int(re.search(r"read\s+(\d+) packets", text).group(1))
n = int(re.search(r"sampled\s+(\d+) packets", text).group(1))
assert seen == m, f"packets seen {seen} != {m}"
mean, sd = m / rate, math.sqrt(m / rate * (1 - 1 / rate))
assert abs(n - mean) <= 4 * sd, f"{n} samples, expected {mean}+-4*{sd}"
print(n)
PY
)
    [ -z "$first" ] && first=$got
    [ "$got" = "$first" ] || { echo "$f: $got samples, $first from the pcap"; exit 1; }
    echo "  $(basename "$f"): $m seen, $got samples at 1-in-1000"
  done
}

run() { # name packets mix [tracegen flags]
  local b
  b=$(trace "$@")
  echo "== $1: $2 packets; pcap $(du -h "$b.pcap" | cut -f1), pcapng $(du -h "$b.pcapng" | cut -f1), gz $(du -h "$b.pcap.gz" | cut -f1), zst $(du -h "$b.pcapng.zst" | cut -f1)"
  check "$b" "$2"
  local o="-r 1000 --seed 1 -q --force -o $BENCH_DIR/out.parquet"
  local base=()
  if [ -n "${BASELINE:-}" ]; then
    base=(-n "baseline pcap 1-in-1000" "$BASELINE capture --replay $b.pcap $o"
          -n "baseline pcapng 1-in-1000" "$BASELINE capture --replay $b.pcapng $o"
          -n "baseline pcap rate 1" "$BASELINE capture --replay $b.pcap -r 1 --seed 1 -q --force -o $BENCH_DIR/out1.parquet")
  fi
  hyperfine -N --warmup 1 --runs "$RUNS" --export-markdown "$BENCH_DIR/replay-$1.md" "${base[@]}" \
    -n "floor: dd pcap" "dd if=$b.pcap of=/dev/null bs=1M" \
    -n "tcpdump -r pcap" "tcpdump -r $b.pcap -w /dev/null" \
    -n "pktsample pcap 1-in-1000" "$P capture --replay $b.pcap $o" \
    -n "floor: dd pcapng" "dd if=$b.pcapng of=/dev/null bs=1M" \
    -n "tcpdump -r pcapng" "tcpdump -r $b.pcapng -w /dev/null" \
    -n "pktsample pcapng 1-in-1000" "$P capture --replay $b.pcapng $o" \
    -n "zcat pcap.gz" "zcat $b.pcap.gz" \
    -n "pktsample pcap.gz 1-in-1000" "$P capture --replay $b.pcap.gz $o" \
    -n "zstdcat pcapng.zst" "zstdcat $b.pcapng.zst" \
    -n "pktsample pcapng.zst 1-in-1000" "$P capture --replay $b.pcapng.zst $o" \
    -n "pktsample pcap rate 1" "$P capture --replay $b.pcap -r 1 --seed 1 -q --force -o $BENCH_DIR/out1.parquet"
  cat "$BENCH_DIR/replay-$1.md"
  for f in pcap pcapng pcap.gz pcapng.zst; do
    echo "pktsample $f 1-in-1000: $(bench/peak_rss.py -- $P capture --replay "$b.$f" $o)"
  done
  echo "pktsample pcap rate 1: $(bench/peak_rss.py -- $P capture --replay "$b.pcap" -r 1 --seed 1 -q --force -o "$BENCH_DIR/out1.parquet")"
  echo "tcpdump -r pcapng: $(bench/peak_rss.py -- tcpdump -r "$b.pcapng" -w /dev/null)"
  echo "zstdcat: $(bench/peak_rss.py -- zstdcat "$b.pcapng.zst")"
}

# The overlay's answer too: every sample read through to the frame inside.
check_vxlan() {
  $P capture --replay "$1.pcap" -r 1000 --seed 1 -q -o "$BENCH_DIR/vx.parquet" --force >/dev/null
  $P analyze "$BENCH_DIR/vx.parquet" --by encapsulations --format json -q -o "$BENCH_DIR/vx.json" --force
  python3 - "$BENCH_DIR/vx.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = {x["encapsulation"]: x["samples"] for x in r["encapsulations"]}
n = r["summary"]["samples"]
assert rows.get("vxlan") == n and rows.get("eth") == n, (rows, n)
print(f"  vxlan: all {n} samples read through VXLAN to the Ethernet frame inside")
PY
}

run small "${SMALL:-13000000}" small
run public "${PUBLIC:-10000000}" public
check_vxlan "$(trace vxlan "${VXLAN:-10000000}" asn "--wrap vxlan --snaplen 160")"
run vxlan "${VXLAN:-10000000}" asn "--wrap vxlan --snaplen 160"
