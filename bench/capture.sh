#!/usr/bin/env bash
# Benchmark: the live sampler's cost per packet (kernel BPF stats) at rates
# 1, 100 and 10,000, and the highest sample rate written to Parquet with zero
# drops. Runs in its own network namespace with a veth pair; needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/pktsample-bench}
PACKETS=${PACKETS:-2000000}
mkdir -p "$BENCH_DIR"
cargo build --release --quiet --workspace --bins
P=$PWD/target/release/pktsample
IN=$BENCH_DIR/small-$PACKETS.pcap
[ -s "$IN" ] || target/release/tracegen --mix small --format pcap --packets "$PACKETS" --seed 11 -o "$IN"

NS=pktsample-bench-$$
cleanup() {
  [ -n "${CAP:-}" ] && kill -INT "$CAP" 2>/dev/null && wait "$CAP" 2>/dev/null
  ip netns del "$NS" 2>/dev/null || true
  sysctl -qw kernel.bpf_stats_enabled="$old_stats"
}
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
trap cleanup EXIT
ip netns add "$NS"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS" link add va type veth peer name vb
for d in va vb; do ip -n "$NS" link set "$d" mtu 9000 up; done
sysctl -qw kernel.bpf_stats_enabled=1

# prog_stats NAME -> "run_time_ns run_cnt" of the newest program of that name
prog_stats() {
  bpftool -j prog show name "$1" | python3 -c '
import json, sys
j = json.load(sys.stdin)
p = max(j if isinstance(j, list) else [j], key=lambda p: p["id"])
print(p.get("run_time_ns", 0), p.get("run_cnt", 0))'
}

start_capture() { # rate out [extra...]
  local rate=$1 out=$2; shift 2
  ip netns exec "$NS" "$P" capture -i va -i vb -r "$rate" -q -o "$out" --force "$@" \
    > "$BENCH_DIR/cap.out" 2> "$BENCH_DIR/cap.err" &
  CAP=$!
  for _ in $(seq 100); do grep -q "capturing on" "$BENCH_DIR/cap.err" 2>/dev/null && return; sleep 0.1; done
  echo "capture did not start: $(cat "$BENCH_DIR/cap.err")"; exit 1
}

echo "## cost per packet (kernel BPF stats), $PACKETS packets through va -> vb"
echo
echo "| rate | egress ns/packet | ingress ns/packet | samples | drops |"
echo "|---:|---:|---:|---:|---:|"
for rate in 1 100 10000; do
  start_capture "$rate" "$BENCH_DIR/cost.parquet" --ring-size 64MiB
  ip netns exec "$NS" "$P" inject "$IN" -i va > /dev/null
  read -r eg_t eg_n < <(prog_stats pktsample_egress)
  read -r in_t in_n < <(prog_stats pktsample_ingress)
  kill -INT "$CAP"; wait "$CAP"
  [ "$eg_n" -eq "$PACKETS" ] && [ "$in_n" -eq "$PACKETS" ] || { echo "run counts $eg_n/$in_n != $PACKETS"; exit 1; }
  samples=$(grep -o '[0-9]* sampled' "$BENCH_DIR/cap.out" | awk '{s+=$1} END {print s}')
  drops=$(grep -o '[0-9]* dropped' "$BENCH_DIR/cap.out" | awk '{s+=$1} END {print s}')
  echo "| 1-in-$rate | $((eg_t / eg_n)) | $((in_t / in_n)) | $samples | $drops |"
done

echo
echo "## sustained samples/s to Parquet at 1-in-1 (two samples per packet: va egress + vb ingress)"
echo
echo "| offered packets/s | samples/s written | drops |"
echo "|---:|---:|---:|"
for pps in ${PPS_STEPS:-200000 300000 400000 500000 600000 800000 0}; do
  start_capture 1 "$BENCH_DIR/rate.parquet" --ring-size 64MiB
  t0=$(date +%s.%N)
  if [ "$pps" = 0 ]; then ip netns exec "$NS" "$P" inject "$IN" -i va > "$BENCH_DIR/inj.out"
  else ip netns exec "$NS" "$P" inject "$IN" -i va --pps "$pps" > "$BENCH_DIR/inj.out"; fi
  kill -INT "$CAP"; wait "$CAP"
  secs=$(grep -o 'in [0-9.]*s' "$BENCH_DIR/inj.out" | tr -dc '0-9.')
  samples=$(grep -o '[0-9]* sampled' "$BENCH_DIR/cap.out" | awk '{s+=$1} END {print s}')
  drops=$(grep -o '[0-9]* dropped' "$BENCH_DIR/cap.out" | awk '{s+=$1} END {print s}')
  label=$pps; [ "$pps" = 0 ] && label="max ($(python3 -c "print(round($PACKETS/$secs))"))"
  echo "| $label | $(python3 -c "print(round($samples/$secs))") | $drops |"
done
