#!/usr/bin/env bash
# Benchmark: sFlow collection from loopback at increasing datagram rates,
# pktsample collect (to Parquet) beside sfacctd (pmacct, print plugin) and
# sfcapd (nfdump), each fed the same datagrams by sflowgen (8 agents x 8
# data sources, 7 flow samples a datagram); the kernel's drop counter of
# each collector's socket says when it stops keeping up. Then the cost of
# `capture --sflow` per sample (root: a namespace with a veth pair).
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_DIR=${BENCH_DIR:-/tmp/pktsample-bench}
DGRAMS=${DGRAMS:-40000}   # per agent: 320,000 datagrams, 2.24 M flow samples
RATES=${RATES:-25000 50000 75000 100000 125000 150000}
mkdir -p "$BENCH_DIR"
cargo build --release --quiet --workspace --bins
P=$PWD/target/release/pktsample
GEN=$PWD/target/release/sflowgen
PORT=17123

# drops PORT: the kernel's drop count of the UDP socket bound to PORT.
drops() {
  python3 - "$1" <<'EOF'
import sys
port = "%04X" % int(sys.argv[1])
n = 0
for t in ("/proc/net/udp", "/proc/net/udp6"):
    for line in open(t).read().splitlines()[1:]:
        f = line.split()
        if f[1].endswith(":" + port):
            n += int(f[12])
print(n)
EOF
}

cat > "$BENCH_DIR/sfacctd.conf" <<EOF
daemonize: false
sfacctd_ip: 127.0.0.1
sfacctd_port: $PORT
sfacctd_pipe_size: 67108864
plugin_pipe_size: 67108864
plugin_buffer_size: 65536
plugins: print[p]
aggregate[p]: proto, src_host, dst_host
print_output[p]: csv
print_output_file[p]: $BENCH_DIR/sfacctd.csv
print_refresh_time[p]: 3600
EOF

start() { # collector -> PID in C
  case $1 in
    pktsample) /usr/bin/time -f "%U %S %M" -o "$BENCH_DIR/time" "$P" collect --listen 127.0.0.1:$PORT \
                 --recv-buffer 64MiB -o "$BENCH_DIR/collect.parquet" --force -q > "$BENCH_DIR/c.out" 2>&1 & ;;
    sfacctd) /usr/bin/time -f "%U %S %M" -o "$BENCH_DIR/time" sfacctd -f "$BENCH_DIR/sfacctd.conf" > "$BENCH_DIR/c.out" 2>&1 & ;;
    sfcapd) rm -rf "$BENCH_DIR/nf"; mkdir -p "$BENCH_DIR/nf"
            /usr/bin/time -f "%U %S %M" -o "$BENCH_DIR/time" sfcapd -b 127.0.0.1 -p $PORT -B 67108864 \
              -w "$BENCH_DIR/nf" -t 3600 > "$BENCH_DIR/c.out" 2>&1 & ;;
  esac
  C=$!
  sleep 1
}

stop() { # collector
  local sig=INT; [ "$1" = sfcapd ] && sig=TERM
  kill -"$sig" "$(pgrep -P "$C" | head -1)"
  wait "$C" 2>/dev/null || true
}

echo "## sFlow collection from loopback ($((DGRAMS * 8)) datagrams, $((DGRAMS * 56)) flow samples a run)"
echo
echo "| datagrams/s offered | flow samples/s | collector | socket drops | CPU µs/sample | peak RSS |"
echo "|---:|---:|---|---:|---:|---:|"
for rate in $RATES; do
  for c in pktsample sfacctd sfcapd; do
    start "$c"
    d0=$(drops $PORT)
    "$GEN" --agents 8 --sources 8 --datagrams "$DGRAMS" --samples 7 \
      --send 127.0.0.1:$PORT --rate "$rate" > /dev/null 2> "$BENCH_DIR/gen.err"
    sleep 1
    d1=$(drops $PORT)
    stop "$c"
    read -r u s m < "$BENCH_DIR/time"
    if [ "$c" = pktsample ]; then
      # The answer first: every datagram the socket took is in the file.
      got=$(grep -o '[0-9]* samples in' "$BENCH_DIR/c.out" | tr -dc 0-9)
      want=$(( DGRAMS * 56 - (d1 - d0) * 7 ))
      [ "$got" -eq "$want" ] || { echo "collect wrote $got samples, expected $want"; exit 1; }
    fi
    cpu=$(python3 -c "print(f'{($u + $s) * 1e6 / ($DGRAMS * 56 - ($d1 - $d0) * 7):.2f}')")
    echo "| $rate | $((rate * 7)) | $c | $((d1 - d0)) | $cpu | $((m / 1024)) MiB |"
  done
done

# The cost of --sflow per sample: user+system CPU of a live capture at 1-in-1
# with and without export, the same packets through a veth pair.
PACKETS=${PACKETS:-500000}
IN=$BENCH_DIR/small-$PACKETS.pcap
[ -s "$IN" ] || target/release/tracegen --mix small --format pcap --packets "$PACKETS" --seed 11 -o "$IN"
NS=pktsample-bench-sflow-$$
trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
ip netns add "$NS"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS" link set lo up
ip -n "$NS" link add va type veth peer name vb
for d in va vb; do ip -n "$NS" link set "$d" mtu 9000 up; done
echo
echo "## capture --sflow: CPU per sample ($PACKETS packets at 1-in-1 through va -> vb, 200,000 packets/s)"
echo
echo "| capture | samples | CPU s (user+sys) | µs/sample | datagrams sent |"
echo "|---|---:|---:|---:|---:|"
for mode in "-o" "--sflow"; do
  args=(-o "$BENCH_DIR/export.parquet" --force)
  [ "$mode" = "--sflow" ] && args+=(--sflow 127.0.0.1:$PORT)
  ip netns exec "$NS" /usr/bin/time -f "%U %S" -o "$BENCH_DIR/time" "$P" capture -i va -i vb -r 1 \
    --ring-size 64MiB -q "${args[@]}" > "$BENCH_DIR/cap.out" 2> "$BENCH_DIR/cap.err" &
  C=$!
  for _ in $(seq 100); do grep -q "capturing on" "$BENCH_DIR/cap.err" 2>/dev/null && break; sleep 0.1; done
  ip netns exec "$NS" "$P" inject "$IN" -i va --pps 200000 > /dev/null
  sleep 0.5
  kill -INT "$(pgrep -P "$C" | head -1)"; wait "$C" || true
  read -r u s < "$BENCH_DIR/time"
  n=$(grep -o '[0-9]* sampled' "$BENCH_DIR/cap.out" | awk '{t+=$1} END {print t}')
  sent=$(grep -o 'sent [0-9]* datagrams' "$BENCH_DIR/cap.out" | tr -dc 0-9 || true); sent=${sent:-0}
  label="-o file"; [ "$mode" = "--sflow" ] && label="-o file --sflow"
  echo "| $label | $n | $(python3 -c "print(round($u + $s, 2))") | $(python3 -c "print(f'{($u + $s) * 1e6 / $n:.2f}')") | $sent |"
done
