#!/usr/bin/env bash
# Builds redirect.bpf.o from redirect.bpf.c with Debian 12's clang 14 (packages clang, llvm,
# libbpf-dev). The object is committed, so building Ferrocache needs no clang; CI rebuilds it
# and checks the committed file is byte-identical (scripts/test.sh).
#   -g     BTF for the maps (an sk_storage map needs it) and the programs
#   strip  drops the DWARF (large, unused by the loader), keeps .BTF and .BTF.ext
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
OUT=${1:-redirect.bpf.o}
clang -O2 -g -target bpf -I/usr/include/"$(uname -m)"-linux-gnu \
    -c redirect.bpf.c -o "$OUT"
llvm-strip -g "$OUT"
