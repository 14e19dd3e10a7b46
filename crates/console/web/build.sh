#!/usr/bin/env bash
# Builds the console's sources (src/) into ../dist, the files the ferrocache-console crate
# embeds. Run after `npm ci`; the output is committed, so `cargo build` never needs npm.
# esbuild's output is deterministic: the same sources and lockfile give the same bytes
# (scripts/test.sh checks that the committed dist/ is what this script builds).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
out=${1:-../dist}
mkdir -p "$out"
./node_modules/.bin/esbuild src/main.jsx \
  --bundle --minify --format=esm --platform=browser --target=es2020 \
  --jsx=automatic --jsx-import-source=preact \
  --legal-comments=none --log-level=warning \
  --outfile="$out/app.js"
cp src/index.html src/favicon.svg "$out/"
