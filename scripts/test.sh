#!/usr/bin/env bash
# The one command that checks and tests all of Ferrocache, on a fresh Debian 12 machine with
# Rust installed (and on a developer's machine, where it installs only what is missing):
#
#   1. installs redis-server, redis-tools, jq, nodejs and npm with apt, the Python clients
#      (awscli, boto3, redis, pytest, pytest-xdist) with pip, the JS SDK with npm;
#   2. cargo fmt --check, clippy -D warnings, the crates' dependency rules;
#   3. cargo build, cargo test (nextest when installed, plus doc tests);
#   4. the Python end-to-end suite (pytest -n 2: every test runs its own ferrocache);
#   5. the JS SDK round trips (node --test).
#
# Every stage runs even when an earlier test stage failed (a failing build skips what needs
# it); the summary at the end lists what failed and the exit code is non-zero if anything did.
# Environment: FERROCACHE_BIN overrides the binary the end-to-end tests run;
# PYTEST_ARGS adds arguments to pytest (e.g. PYTEST_ARGS="-k lab").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

failed=()
started=$SECONDS

step() { printf '\n==> %s  [%ds]\n' "$*" "$((SECONDS - started))"; }

# Runs "$@" as stage $1; records a failure instead of exiting.
stage() {
  local name=$1
  shift
  step "$name"
  if "$@"; then
    return 0
  fi
  failed+=("$name")
  return 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ---- 1. prerequisites ------------------------------------------------------------------------

install_apt_packages() {
  local missing=()
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v redis-cli >/dev/null || missing+=(redis-tools)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  # The restoration guide's scripts (tests/py/runbooks) pipe the aws CLI into jq.
  command -v jq >/dev/null || missing+=(jq)
  if [ "${#missing[@]}" -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

PY_PACKAGES=(awscli boto3 redis pytest pytest-xdist "moto[server]")

python_ready() {
  python3 -c 'import boto3, botocore, redis, pytest, xdist, moto' 2>/dev/null && command -v aws >/dev/null && command -v moto_server >/dev/null
}

install_python_packages() {
  # A venv left by an earlier run (see below) comes first on PATH.
  if [ -x "$ROOT/.venv/bin/python3" ]; then
    export PATH="$ROOT/.venv/bin:$PATH"
  fi
  if python_ready; then
    return 0
  fi
  step "pip install ${PY_PACKAGES[*]}"
  if python3 -m pip install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}" 2>/dev/null \
    && hash -r && python_ready; then
    return 0
  fi
  # Debian's own python3 refuses pip installs into the system (PEP 668): use a venv.
  if ! python3 -m venv "$ROOT/.venv" 2>/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
    python3 -m venv "$ROOT/.venv"
  fi
  "$ROOT/.venv/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
  export PATH="$ROOT/.venv/bin:$PATH"
  hash -r
  python_ready
}

install_js_packages() {
  local dir="$ROOT/tests/js"
  if [ -f "$dir/node_modules/.package-lock.json" ] \
    && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] \
    && [ -d "$dir/node_modules/@aws-sdk/client-elasticache" ]; then
    return 0
  fi
  step "npm ci (tests/js)"
  if [ -f "$dir/package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  fi
}

install_apt_packages
install_python_packages
install_js_packages

# ---- 2. static checks -----------------------------------------------------------------------

# check_deps CRATE FORBIDDEN... : the crate's normal (non-dev, non-build) dependency tree must
# not contain any of the forbidden packages (the rules in each crate's docs).
check_deps() {
  local crate=$1
  shift
  local tree
  tree=$(cargo tree -q -e normal -p "$crate" --prefix none -f '{p}' | awk '{print $1}' | sort -u) || {
    echo "cargo tree failed for $crate"
    return 1
  }
  local bad=0
  for forbidden in "$@"; do
    if grep -qx -- "$forbidden" <<<"$tree"; then
      echo "dependency rule broken: $crate depends on $forbidden:"
      cargo tree -q -e normal -p "$crate" -i "$forbidden" || true
      bad=1
    fi
  done
  [ "$bad" -eq 0 ] && echo "ok: $crate has none of: $*"
  return "$bad"
}

dependency_rules() {
  local ok=0
  check_deps ferrocache-model tokio axum redb || ok=1
  check_deps ferrocache-store axum hyper || ok=1
  check_deps ferrocache-engine axum hyper || ok=1
  check_deps ferrocache-router quick-xml axum ferrocache-store ferrocache-model \
    ferrocache-control ferrocache-api || ok=1
  check_deps ferrocache-pki tokio axum ferrocache-store ferrocache-model || ok=1
  return "$ok"
}

stage "cargo fmt --all --check" cargo fmt --all --check || true
stage "cargo clippy --workspace --all-targets -- -D warnings" \
  cargo clippy --workspace --all-targets --quiet -- -D warnings || true
stage "dependency rules" dependency_rules || true

# ---- 3. build and Rust tests ----------------------------------------------------------------

rust_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast --failure-output final &&
      cargo test --workspace --doc --quiet
  else
    cargo test --workspace --no-fail-fast
  fi
}

if stage "cargo build --workspace" cargo build --workspace --quiet; then
  export FERROCACHE_BIN="${FERROCACHE_BIN:-$ROOT/target/debug/ferrocache}"
  stage "Rust tests" rust_tests || true

  # ---- 4. Python end-to-end suite ---------------------------------------------------------
  # shellcheck disable=SC2086 # PYTEST_ARGS is split on purpose
  stage "pytest -n 2 tests/py" \
    timeout --kill-after=30 1800 python3 -m pytest -n 2 -q tests/py ${PYTEST_ARGS:-} || true

  # ---- 5. JS SDK round trips --------------------------------------------------------------
  stage "node --test tests/js" timeout --kill-after=30 600 node --test tests/js || true
else
  echo "build failed: skipping the test stages"
fi

# ---- summary --------------------------------------------------------------------------------
step "done"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED stages:"
  printf '  - %s\n' "${failed[@]}"
  exit 1
fi
echo "all stages passed in $((SECONDS - started))s"
