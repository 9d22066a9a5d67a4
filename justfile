# pktsample tasks. `cargo install just` if you do not have it; every recipe is
# a plain command you can also run by hand.

# The main job on the bundled fixture (same as the README).
demo:
    cargo run --release -- capture --replay fixtures/demo/edge.pcapng.zst --sampling-rate 10 --seed 1 -o target/demo.parquet --force
    cargo run --release -- analyze target/demo.parquet --asn-db fixtures/demo/asn.tsv --html target/demo.html --force

# The full test suite (same as the README; CI runs it via .ci/run).
test:
    cargo test --release --workspace

# Everything CI does: system packages, the interop venv, fmt, tests.
ci:
    bash .ci/run

# Rebuild the committed fixtures from the seeded generator.
fixtures:
    cargo build --release -p pktsample-tracegen
    fixtures/regenerate.sh

# Rewrite every golden file after a deliberate change: the samples schema
# dump (schemas/samples-v1.schema.txt) and the analyze table
# (tests/golden/analyze-mixed-r10.txt). Review the diff before committing.
bless:
    PKTSAMPLE_BLESS=1 cargo test --release -p pktsample-schemas schema_matches
    PKTSAMPLE_BLESS=1 cargo test --release --test analyze table_output_matches_golden_file

# Clippy and rustdoc with warnings denied (CI runs both).
lint:
    cargo clippy --release --workspace --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --workspace

# Each fuzz target for SECONDS (default 60), seeded from the fixtures
# (cargo install cargo-fuzz; stable toolchain, no sanitizer).
fuzz SECONDS="60":
    cargo build --release
    fuzz/run.sh {{SECONDS}}

# Replay vs tcpdump on a generated 1 GB pcap (see BENCHMARKS.md).
bench-replay:
    bench/replay.sh

# Rebuild the committed BPF object from ebpf/pktsample.bpf.c (needs clang-19).
ebpf:
    ebpf/build.sh

# Kernel cost per packet and sustained samples/s to Parquet (root; see BENCHMARKS.md).
bench-capture:
    bench/capture.sh

# Analyze vs DuckDB: few addresses, edge-shaped, 7,200 parts, 25-100 M rows (see BENCHMARKS.md).
bench-analyze:
    bench/analyze.sh

# Scale-out: 100 M rows, 24 hourly parts x 4 hosts: analyze vs the generated SQL on DuckDB, chDB, Spark (see BENCHMARKS.md).
bench-scale:
    bench/scale.sh

# Per-AS: table load/lookups vs pyasn, analyze with/without per-AS sections (see BENCHMARKS.md).
bench-asn:
    bench/asn.sh

# Kubernetes context: 100,000 pods and 10,000 services, load, lookups/s, enrichment per sample, analyze with and without --k8s (see BENCHMARKS.md).
bench-k8s:
    bench/k8s.sh

# sFlow: collect vs sfacctd and sfcapd at increasing datagram rates, and the cost of capture --sflow (root; see BENCHMARKS.md).
bench-sflow:
    bench/sflow.sh
