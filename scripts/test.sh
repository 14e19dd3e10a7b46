#!/usr/bin/env bash
# The one command that checks and tests all of Ferrocache, on a fresh Debian 12 machine with
# Rust installed (and on a developer's machine, where it installs only what is missing):
#
#   1. installs redis-server, redis-tools, jq, nodejs and npm with apt, the Python clients
#      (awscli, boto3, redis, pytest, pytest-xdist, moto, prometheus-client, cbor2, playwright)
#      with pip, chromium with apt (the console's browser tests), clang, llvm and libbpf-dev
#      with apt (the kernel data path's BPF object is rebuilt and compared), the JS SDK and the
#      console's front-end packages with npm;
#   2. cargo fmt --check, clippy -D warnings, the crates' dependency rules (every workspace
#      member, as its docs state them), every crate's `# Layout` doc naming its modules;
#   3. cargo build, cargo test (nextest when installed, plus doc tests);
#   4. the Python end-to-end suite (pytest -n 2: every test runs its own ferrocache; as root
#      on the kernel data path), then the TLS suites again with --engine-tls and the
#      data-path-sensitive suites again on the router path (FERROCACHE_DATA_PATH=router);
#   5. the JS SDK round trips (node --test), the console's committed dist/ and the kernel data
#      path's committed BPF object checked against fresh builds of their sources.
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
  # The restoration guide's scripts (tests/py/runbooks) pipe the aws CLI into jq; the dependency
  # rules read `cargo metadata` with it.
  command -v jq >/dev/null || missing+=(jq)
  # The web console's browser tests (tests/py/test_console.py) drive Debian's Chromium.
  command -v chromium >/dev/null || missing+=(chromium)
  # The kernel data path's BPF object is rebuilt and compared with the committed one
  # (crates/redirect/bpf/build.sh): clang, llvm-strip and libbpf's headers.
  command -v clang >/dev/null || missing+=(clang)
  command -v llvm-strip >/dev/null || missing+=(llvm)
  [ -f /usr/include/bpf/bpf_helpers.h ] || missing+=(libbpf-dev)
  # The etcd-backed store's tests (crates/store/tests/etcd.rs, tests/py/test_store_etcd.py, and
  # the Python suite run again with FERROCACHE_STORE=etcd) start real etcd members.
  command -v etcd >/dev/null || missing+=(etcd-server)
  if [ "${#missing[@]}" -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

PY_PACKAGES=(awscli boto3 redis pytest pytest-xdist "moto[server]" prometheus-client cbor2 playwright)

python_ready() {
  python3 -c 'import boto3, botocore, redis, pytest, xdist, moto, prometheus_client, cbor2, playwright' 2>/dev/null && command -v aws >/dev/null && command -v moto_server >/dev/null
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
  npm_ci "$ROOT/tests/js" "@aws-sdk/client-elasticache"
  npm_ci "$ROOT/crates/console/web" "esbuild"
}

# npm_ci DIR PACKAGE: `npm ci` in DIR unless its node_modules is newer than the lockfile and
# holds PACKAGE.
npm_ci() {
  local dir=$1 package=$2
  if [ -f "$dir/node_modules/.package-lock.json" ] \
    && [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ] \
    && [ -d "$dir/node_modules/$package" ]; then
    return 0
  fi
  step "npm ci (${dir#"$ROOT"/})"
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

# The crates' dependency rules, one line per workspace member. Each crate's `# Dependency rules`
# paragraph (lib.rs; main.rs for the binary) says the same in words; change both together.
#   ours=A,B      exactly the Ferrocache crates it depends on directly (empty: none);
#   never=X,Y     packages that must not appear anywhere in its dependency tree;
#   not-direct=X  packages it may reach only through another crate, not depend on itself;
#   edges=E       the edge kinds `cargo tree -e` follows (default: normal; the test-only crate's
#                 rule is about its dev-dependencies).
DEPENDENCY_RULES=(
  "ferrocache-model      ours=  never=tokio,axum,hyper,redb,redis"
  "ferrocache-store      ours=ferrocache-model  never=axum,hyper,redis"
  "ferrocache-etcd       ours=ferrocache-store  never=axum,redis"
  "ferrocache-encryption ours=  never=tokio,axum,hyper"
  "ferrocache-engine     ours=  never=axum,hyper"
  "ferrocache-agent      ours=ferrocache-engine,ferrocache-encryption,ferrocache-pki  never=ferrocache-store,ferrocache-control,axum,hyper  not-direct=redis"
  "ferrocache-metrics    ours=  never=tokio,axum,hyper,redis,redb"
  "ferrocache-timeseries ours=  never=tokio,axum,hyper,redis,redb"
  "ferrocache-cloudwatch ours=ferrocache-timeseries  never=axum,hyper,redis,redb"
  "ferrocache-logs       ours=  never=axum,hyper,redis,redb"
  "ferrocache-console    ours=  never=tokio,axum,hyper,http"
  "ferrocache-control    ours=ferrocache-model,ferrocache-store,ferrocache-engine,ferrocache-agent,ferrocache-encryption,ferrocache-pki,ferrocache-router,ferrocache-metrics  never=axum,hyper,http,quick-xml,xmlparser,aws-sdk-s3"
  "ferrocache-hosts      ours=ferrocache-agent,ferrocache-control,ferrocache-engine,ferrocache-model,ferrocache-pki,ferrocache-store  never=quick-xml,aws-sdk-s3"
  "ferrocache-router     ours=ferrocache-redirect  never=quick-xml,axum,hyper,redis"
  "ferrocache-redirect   ours=  never=tokio,axum,hyper,redis,redb"
  "ferrocache-pki        ours=  never=tokio,axum,hyper"
  "ferrocache-api        ours=ferrocache-model,ferrocache-control,ferrocache-metrics,ferrocache-cloudwatch,ferrocache-logs,ferrocache-console  not-direct=redis,redb"
  "ferrocache-s3         ours=ferrocache-control  never=axum"
  "ferrocache            ours=ferrocache-model,ferrocache-store,ferrocache-etcd,ferrocache-encryption,ferrocache-engine,ferrocache-agent,ferrocache-hosts,ferrocache-control,ferrocache-router,ferrocache-pki,ferrocache-api,ferrocache-s3,ferrocache-metrics,ferrocache-cloudwatch,ferrocache-logs"
  "ferrocache-testkit    ours="
  "ferrocache-tests      ours=ferrocache-testkit  edges=normal,dev"
)

# check_deps CRATE RULE... : one `cargo tree` of CRATE, checked against the rules above.
check_deps() {
  local crate=$1
  shift
  local ours="" never="" not_direct="" edges=normal rule
  for rule in "$@"; do
    case $rule in
      ours=*) ours=${rule#ours=} ;;
      never=*) never=${rule#never=} ;;
      not-direct=*) not_direct=${rule#not-direct=} ;;
      edges=*) edges=${rule#edges=} ;;
      *) echo "unknown dependency rule for $crate: $rule" && return 1 ;;
    esac
  done
  # Lines "<depth><package>": depth 1 is a direct dependency.
  local tree direct all
  tree=$(cargo tree -q -e "$edges" -p "$crate" --prefix depth -f '{p}' | awk '{print $1}') || {
    echo "cargo tree failed for $crate"
    return 1
  }
  direct=$(sed -n 's/^1\([^0-9]\)/\1/p' <<<"$tree" | sort -u)
  all=$(sed 's/^[0-9]*//' <<<"$tree" | tail -n +2 | sort -u)
  local bad=0 name
  local ours_found ours_wanted
  ours_found=$(grep '^ferrocache' <<<"$direct" | paste -sd, -) || true
  ours_wanted=$(tr ',' '\n' <<<"$ours" | grep . | sort -u | paste -sd, -) || true
  if [ "$ours_found" != "$ours_wanted" ]; then
    echo "dependency rule broken: $crate depends directly on Ferrocache crates [$ours_found]," \
      "its rule says [$ours_wanted]"
    bad=1
  fi
  for name in ${never//,/ }; do
    if grep -qx -- "$name" <<<"$all"; then
      echo "dependency rule broken: $crate must never depend on $name:"
      cargo tree -q -e "$edges" -p "$crate" -i "$name" || true
      bad=1
    fi
  done
  for name in ${not_direct//,/ }; do
    if grep -qx -- "$name" <<<"$direct"; then
      echo "dependency rule broken: $crate depends on $name directly (only through another crate)"
      bad=1
    fi
  done
  [ "$bad" -eq 0 ] && echo "ok: $crate (ours: ${ours:-none}${never:+; never: $never}${not_direct:+; not directly: $not_direct})"
  return "$bad"
}

dependency_rules() {
  local ok=0 line checked members
  # Every workspace member has a rule, and every rule a member: a new crate is not forgotten.
  members=$(cargo metadata -q --no-deps --format-version 1 | jq -r '.packages[].name' | sort) || return 1
  checked=$(for line in "${DEPENDENCY_RULES[@]}"; do echo "${line%% *}"; done | sort)
  if [ "$members" != "$checked" ]; then
    echo "dependency rules and workspace members differ (< members, > rules in scripts/test.sh):"
    diff <(echo "$members") <(echo "$checked") || true
    ok=1
  fi
  for line in "${DEPENDENCY_RULES[@]}"; do
    # shellcheck disable=SC2086 # the rule words are split on purpose
    check_deps $line || ok=1
  done
  return "$ok"
}

stage "cargo fmt --all --check" cargo fmt --all --check || true
stage "cargo clippy --workspace --all-targets -- -D warnings" \
  cargo clippy --workspace --all-targets --quiet -- -D warnings || true
stage "dependency rules" dependency_rules || true
stage "Layout docs (scripts/check_layout.py)" python3 scripts/check_layout.py || true

# ---- 3. build and Rust tests ----------------------------------------------------------------

rust_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast --failure-output final &&
      cargo test --workspace --doc --quiet
  else
    cargo test --workspace --no-fail-fast
  fi
}

# The console's dist/ (embedded in the binary, committed so cargo never needs npm) must be
# exactly what its sources build to: esbuild's output is deterministic.
console_dist_is_built() {
  local fresh
  fresh=$(mktemp -d)
  if ! "$ROOT/crates/console/web/build.sh" "$fresh"; then
    rm -rf "$fresh"
    return 1
  fi
  if ! diff -r "$fresh" "$ROOT/crates/console/dist" >/dev/null; then
    echo "crates/console/dist differs from a fresh build: run crates/console/web/build.sh"
    diff -rq "$fresh" "$ROOT/crates/console/dist" || true
    rm -rf "$fresh"
    return 1
  fi
  rm -rf "$fresh"
}

# The kernel data path's BPF object (embedded, committed so cargo never needs clang) must be
# exactly what its C source builds to with Debian 12's clang.
bpf_object_is_built() {
  local fresh
  fresh=$(mktemp)
  if ! "$ROOT/crates/redirect/bpf/build.sh" "$fresh"; then
    rm -f "$fresh"
    return 1
  fi
  if ! cmp -s "$fresh" "$ROOT/crates/redirect/bpf/redirect.bpf.o"; then
    echo "crates/redirect/bpf/redirect.bpf.o differs from a fresh build: run crates/redirect/bpf/build.sh"
    rm -f "$fresh"
    return 1
  fi
  rm -f "$fresh"
}

# The suites whose tests depend on how bytes reach the nodes: run again on the router path
# (the first run uses `auto`: the kernel path where it can load, i.e. as root).
DATA_PATH_SUITES=(test_failover.py test_failover_lab.py test_security_groups.py test_tls.py
  test_router_data.py test_faults.py test_networking.py test_metrics.py test_auth.py
  test_data_path.py)

# The suites with TLS groups: run again with the nodes serving TLS themselves (--engine-tls),
# which the kernel path connects TLS clients of `required` endpoints to.
ENGINE_TLS_SUITES=(test_tls.py test_auth.py test_rbac.py test_runbook_connections.py
  test_cluster_mode.py)

if stage "cargo build --workspace" cargo build --workspace --quiet; then
  export FERROCACHE_BIN="${FERROCACHE_BIN:-$ROOT/target/debug/ferrocache}"
  stage "Rust tests" rust_tests || true

  # ---- 4. Python end-to-end suite ---------------------------------------------------------
  # shellcheck disable=SC2086 # PYTEST_ARGS is split on purpose
  stage "pytest -n 2 tests/py" \
    timeout --kill-after=30 1800 python3 -m pytest -n 2 -q tests/py ${PYTEST_ARGS:-} || true
  # The whole suite again with the control plane's state in etcd (--store etcd://…): the same
  # behaviour from the other store backend. The console's browser tests read the same API and
  # add nothing here.
  # shellcheck disable=SC2086 # PYTEST_ARGS is split on purpose
  stage "pytest -n 2 (--store etcd) tests/py" \
    env FERROCACHE_STORE=etcd timeout --kill-after=30 1800 \
    python3 -m pytest -n 2 -q tests/py --ignore=tests/py/test_console.py ${PYTEST_ARGS:-} || true
  # shellcheck disable=SC2086 # PYTEST_ARGS is split on purpose
  stage "pytest -n 2 (--engine-tls) ${ENGINE_TLS_SUITES[*]}" \
    env FERROCACHE_ENGINE_TLS=1 timeout --kill-after=30 900 \
    python3 -m pytest -n 2 -q "${ENGINE_TLS_SUITES[@]/#/tests/py/}" ${PYTEST_ARGS:-} || true
  # shellcheck disable=SC2086 # PYTEST_ARGS is split on purpose
  stage "pytest -n 2 (router data path) ${DATA_PATH_SUITES[*]}" \
    env FERROCACHE_DATA_PATH=router timeout --kill-after=30 900 \
    python3 -m pytest -n 2 -q "${DATA_PATH_SUITES[@]/#/tests/py/}" ${PYTEST_ARGS:-} || true

  # ---- 5. JS SDK round trips --------------------------------------------------------------
  stage "node --test tests/js" timeout --kill-after=30 600 node --test tests/js || true
else
  echo "build failed: skipping the test stages"
fi
stage "console dist/ is its sources' build" console_dist_is_built || true
stage "BPF object is its source's build" bpf_object_is_built || true

# ---- summary --------------------------------------------------------------------------------
step "done"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED stages:"
  printf '  - %s\n' "${failed[@]}"
  exit 1
fi
echo "all stages passed in $((SECONDS - started))s"
