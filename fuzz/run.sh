#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 60), seeded from the
# fixtures, and print the executions per target. `cargo fuzz` on the stable
# toolchain needs `-s none` (no sanitizer; Rust's own checks still panic).
# A crash leaves its input in fuzz/artifacts/TARGET/: make it a regression
# fixture (fixtures/broken/) and a test, then fix the parser.
# Usage: fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(capture fast_path decode samples asn sflow k8s)
F=../fixtures

seed() {
  local t=$1; shift
  mkdir -p "corpus/$t"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "corpus/$t/$(basename "$f")"; done
}
seed k8s $F/k8s/*.json
seed capture $F/*.pcap $F/*.pcapng $F/link/*.pcap $F/link/*.pcapng $F/broken/*.pcap $F/broken/*.pcapng
seed fast_path $F/*.pcap $F/*.pcapng $F/link/*.pcap $F/link/*.pcapng $F/broken/*.pcap $F/broken/*.pcapng
for f in $F/mixed-ns-be.pcap $F/link/sll2.pcapng; do
  gzip -c "$f" > "corpus/capture/$(basename "$f").gz"
  if command -v zstd >/dev/null; then zstd -q -c "$f" > "corpus/capture/$(basename "$f").zst"; fi
done
mkdir -p corpus/decode
i=0
for f in $F/link/*.pcap $F/mixed.pcap; do
  # One frame's first bytes per link type, behind the selector byte.
  for sel in 0 1 2 3 4 5 6 7 8 9 10 11; do
    { printf "\\x$(printf %02x $sel)"; head -c 240 "$f" | tail -c 200; } > "corpus/decode/seed-$i-$sel"
  done
  i=$((i + 1))
done
# Every shim and tunnel: the first frames of a wrapped trace each, as
# Ethernet (selector 1), whole and cut at the default snap length.
if [ -x ../target/release/tracegen ]; then
  for w in qinq pppoe mpls mpls-eth gre gre-key nvgre erspan2 erspan3 vxlan geneve ipip gtpu l2tp teredo; do
    t=$(mktemp)
    ../target/release/tracegen --mix asn --wrap "$w" --packets 4 --seed 3 --format pcap -o "$t" >/dev/null
    python3 - "$t" "corpus/decode/wrap-$w" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
i, k = 24, 0
while i < len(b):
    incl = struct.unpack_from("<I", b, i + 8)[0]
    frame = b[i + 16:i + 16 + incl]
    for n, cut in (("", frame), ("-160", frame[:160])):
        open(f"{sys.argv[2]}-{k}{n}", "wb").write(b"\x01" + cut)
    i += 16 + incl
    k += 1
PY
    rm -f "$t"
  done
fi
# sFlow: an empty datagram and one flow sample with a header record (the
# target also tries each input behind a valid datagram header).
mkdir -p corpus/sflow
printf '\x00\x00\x00\x05\x00\x00\x00\x01\xc0\x00\x02\x01\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00' > corpus/sflow/empty
printf '\x00\x00\x00\x01\x00\x00\x00\x30\x00\x00\x00\x07\x00\x00\x00\x03\x00\x00\x03\xe8\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x3f\xff\xff\xff\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x14\x00\x00\x00\x01\x00\x00\x05\xee\x00\x00\x00\x04\x00\x00\x00\x04\xde\xad\xbe\xef' > corpus/sflow/flow
# Published datagrams (fixtures/sflow/README.md).
for f in $F/sflow/*.hex; do
  python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read()))' "$f" \
    > "corpus/sflow/$(basename "$f" .hex)"
done
seed samples $F/mixed.pcapng $F/asn.pcapng
if [ -x ../target/release/pktsample ]; then
  ../target/release/pktsample capture --replay $F/mixed.pcapng -r 10 --seed 1 -q --force \
    -o corpus/samples/mixed-r10.parquet >/dev/null
  ../target/release/pktsample capture --replay $F/link/sll2.pcap -r 1 --seed 1 -q --force \
    -o corpus/samples/sll2.pcapng >/dev/null
  # Parquet as other tools write it (no metadata, other types).
  if [ -x ../.venv/bin/python ]; then
    for tool in duckdb polars pyarrow; do
      # (pyarrow's microsecond timestamps refuse this ns-resolution file)
      ../.venv/bin/python ../tests/interop/rewrite.py $tool corpus/samples/mixed-r10.parquet \
        corpus/samples/mixed-r10-$tool.parquet 2>/dev/null || true
    done
  fi
fi
# pktsample's own pcapng: per-packet options and the metadata block.
seed fast_path corpus/samples/sll2.pcapng
seed asn $F/asn/*.mmdb $F/asn/*.tsv $F/asn/*.gz $F/asn/*.csv $F/asn/*.pfx2as $F/asn/*.dat \
  $F/broken/asn-* $F/broken/*.mmdb

for t in "${targets[@]}"; do
  log=$(mktemp)
  cargo fuzz run -s none --release "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 \
    -max_len=1048576 2>"$log" || { tail -30 "$log"; echo "fuzz target $t FAILED: see fuzz/artifacts/$t"; exit 1; }
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  [ -n "$execs" ] || execs=$(grep -oE '#[0-9]+' "$log" | tail -1 | tr -d '#')
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
  echo "fuzz $t: $execs executions in ${secs}s, $cov, no crash"
  rm -f "$log"
done
