#!/usr/bin/env bash
# Compile the kernel program. Deterministic for a given clang: relative paths
# and no DWARF in the committed object (BTF and BTF.ext stay), so the CI test
# `bpf_object_is_not_stale` can rebuild it and compare bytes.
# Usage: ebpf/build.sh [OUT.o]   (default: ebpf/pktsample.bpf.o)
set -euo pipefail
cd "$(dirname "$0")"
out=${1:-pktsample.bpf.o}
CLANG=${CLANG:-clang-19}
STRIP=${STRIP:-llvm-strip-19}
"$CLANG" -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -fdebug-compilation-dir=. \
  -Wall -Werror -c pktsample.bpf.c -o "$out"
"$STRIP" --strip-debug "$out"
