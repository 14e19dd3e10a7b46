#!/usr/bin/env bash
# Builds redirect.bpf.o from redirect.bpf.c with Debian 12's clang 14 (packages clang, llvm,
# libbpf-dev). The object is committed, so building Ferrocache needs no clang; CI rebuilds it
# and checks the committed file is byte-identical (scripts/test.sh).
#   -g     BTF for the maps (an sk_storage map needs it) and the programs
#   strip  drops the DWARF (large, unused by the loader), keeps .BTF and .BTF.ext
#   -fdebug-prefix-map  the BTF's line info names the source file; without the map it names it
#          by its absolute path, and the object would differ from one checkout to another
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
OUT=${1:-redirect.bpf.o}
clang -O2 -g -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -fdebug-prefix-map="$PWD"=. \
    -c redirect.bpf.c -o "$OUT"
llvm-strip -g "$OUT"
