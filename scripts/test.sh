#!/usr/bin/env bash
# The whole test suite, set-up included, on a fresh machine:
#   formatting, lints, unit, integration, compile-fail and doc tests, then the tests that need
#   a real MLflow server (installed into .venv/mlflow on first use), the production-style ones
#   (PostgreSQL, Azurite, moto's S3 server: installed on first use) and the one that opens a
#   runctx report in headless Chromium (Debian's chromium package, installed on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "toolchain components"
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

# The set-up of the server and browser tests (packages, venv, Azurite) runs in the background
# while the code builds and the other tests run: on a fresh machine it takes minutes of mostly
# waiting on downloads. Its output is shown when the server tests need it.
: "${MLFLOW_VERSION:=3.17.2}"
venv=${MLFLOW_VENV:-$PWD/.venv/mlflow}
setup_servers() {
  # chromium opens a runctx report; openssl makes the TLS test's certificates; curl reads that
  # HTTPS server back; strace shows the durability test the order of a program's syncs and
  # renames; postgresql is the production-style servers' backend store, and npm installs Azurite.
  missing=""
  [ -x /usr/bin/chromium ] || missing="$missing chromium"
  command -v openssl >/dev/null || missing="$missing openssl"
  command -v curl >/dev/null || missing="$missing curl"
  command -v strace >/dev/null || missing="$missing strace"
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing="$missing postgresql"
  command -v npm >/dev/null || missing="$missing npm"
  if [ -n "$missing" ]; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
  fi
  # Azurite (Microsoft's Azure Storage emulator) installs from npm while pip works; the version is
  # the one tests/src/azurite.rs pins.
  azurite_version=$(sed -n 's/^pub const AZURITE_VERSION: &str = "\(.*\)";$/\1/p' tests/src/azurite.rs)
  azurite=$PWD/.venv/azurite
  azurite_pid=""
  if [ "$(node -p "require('$azurite/node_modules/azurite/package.json').version" 2>/dev/null)" != "$azurite_version" ]; then
    mkdir -p "$azurite"
    npm install --prefix "$azurite" --no-audit --no-fund --loglevel=error "azurite@$azurite_version" &
    azurite_pid=$!
  fi
  pip_install() { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
  if ! "$venv/bin/python" -c "import importlib.metadata as m, sys, flask_wtf; sys.exit(m.version('mlflow') != '$MLFLOW_VERSION')" 2>/dev/null; then
    python3 -m venv "$venv" || {
      apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y python3-venv && python3 -m venv "$venv"
    }
    # The auth extra brings Flask-WTF, for the test against MLflow's basic-auth app.
    pip_install "mlflow[auth]==$MLFLOW_VERSION"
  fi
  # The servers' packages (PostgreSQL driver, Azure and S3 clients, moto's S3 server); the marker
  # is what tests/src/venv.rs checks too.
  if ! cmp -s tests/requirements-servers.txt "$venv/.servers-requirements"; then
    pip_install -r tests/requirements-servers.txt
    cp tests/requirements-servers.txt "$venv/.servers-requirements"
  fi
  if [ -n "$azurite_pid" ]; then wait "$azurite_pid"; fi
}
setup_log=$(mktemp)
setup_servers >"$setup_log" 2>&1 &
setup_pid=$!

step "format"
cargo fmt --all -- --check

step "lints, while the tests are built"
# clippy-driver, the compiler `cargo clippy` runs on the workspace's crates, compiles them here for
# the tests too (cargo's RUSTC_WORKSPACE_WRAPPER; CLIPPY_ARGS are clippy's `-- ARGS`): the
# dependencies are built once instead of once checked for clippy and once built for the tests,
# which was a third of a clean run. Every later cargo command keeps these two variables, so none
# rebuilds; tests-ui/tests/ui.rs drops them, its compile-fail cases expect rustc's messages alone.
RUSTC_WORKSPACE_WRAPPER="$(rustc --print sysroot)/bin/clippy-driver"
[ -x "$RUSTC_WORKSPACE_WRAPPER" ] || { echo "no clippy-driver in the toolchain: rustup component add clippy"; exit 1; }
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS=-Dwarnings
cargo test --workspace --all-targets --all-features --locked --no-run
# Offline-only users build run-runtime without its default features (no tokio, no reqwest).
cargo clippy -p run-runtime --no-default-features --locked -- -D warnings

step "tests"
cargo test --workspace --all-features --locked

# rust-toolchain.toml pins the toolchain of the tests; users may build with any version from
# rust-version on, so build (not the compile-fail tests: their messages are another version's)
# with that one when it is installed.
msrv=$(sed -n 's/^rust-version = "\(.*\)"$/\1/p' Cargo.toml)
step "build with the minimum supported Rust version, $msrv"
msrv_toolchain=$(rustup toolchain list 2>/dev/null |
  awk -v v="$msrv" '!found && (index($1, v ".") == 1 || index($1, v "-") == 1) { print $1; found = 1 }') || true
if [ -n "$msrv_toolchain" ]; then
  env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS \
    cargo "+$msrv_toolchain" check --workspace --lib --bins --examples --all-features --locked
else
  echo "skipped: no $msrv toolchain installed (rustup toolchain install $msrv), so the minimum supported version is not checked"
fi

step "waiting for the set-up of the server and browser tests: MLflow $MLFLOW_VERSION and tests/requirements-servers.txt in .venv/mlflow, Azurite in .venv/azurite, postgresql, chromium, openssl, curl, strace"
if ! wait "$setup_pid"; then cat "$setup_log"; echo "the set-up failed"; exit 1; fi
cat "$setup_log"

step "tests against real MLflow servers, and the runctx report in headless chromium"
# MLflow's usage telemetry, in every Python process below (the harness turns it off in those it
# starts; this reaches those a tested program starts): with no network its client fails in a
# thread that edits os.environ while a request reads it, and the request fails.
export MLFLOW_DISABLE_TELEMETRY=true
# The server tests run the test executables built above directly, listed as "package folder,
# target, path" lines: a `cargo test` naming fewer targets resolves the dev-dependencies' features
# differently and recompiled half the tree while the other lanes waited on its lock.
executables=$(mktemp)
cargo test --workspace --all-features --locked --no-run --message-format=json | python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["profile"]["test"] and m.get("executable"):
        print(os.path.dirname(m["manifest_path"]), m["target"]["name"], m["executable"], sep="\t")
' >"$executables"
# Three lanes at once, as they mostly wait on their servers, of about 5 minutes each in a clean
# run: the production-style servers' tests (tests/tests/production.rs: PostgreSQL, Azurite, S3,
# the load test); the other crates' (the runctx CLI's: sync, the report in chromium) with the
# tests crate's `faults` (its longest, outages of a few seconds each); and the rest of the tests
# crate in the foreground.
root=$(pwd -P) # as cargo writes the package folders
in_lane() { # LANE PACKAGE-FOLDER TARGET
  local side=no
  { [ "$2" != "$root/tests" ] || [ "$3" = faults ]; } && side=yes
  case $1 in
    production) [ "$2" = "$root/tests" ] && [ "$3" = production ] ;;
    crates) [ $side = yes ] ;;
    others) [ $side = no ] && [ "$3" != production ] ;;
  esac
}
# A proc-macro crate's tests link the standard library dynamically; cargo adds its folder.
rust_libs=$(rustc --print target-libdir)
# lane LANE: the ignored tests of the lane's executables one after the other, each in its
# package's folder as cargo runs them; every executable runs even after one fails.
lane() {
  local failed=0 dir name exe
  while IFS=$'\t' read -r dir name exe; do
    in_lane "$1" "$dir" "$name" || continue
    printf '\n     Running %s (%s)\n' "$name" "$exe"
    (cd "$dir" && MLFLOW_VENV="$venv" LD_LIBRARY_PATH="$rust_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
      "$exe" --ignored) || failed=1
  done <"$executables"
  return "$failed"
}
production_log=$(mktemp)
lane production >"$production_log" 2>&1 &
production_pid=$!
crates_log=$(mktemp)
lane crates >"$crates_log" 2>&1 &
crates_pid=$!
others_ok=0
lane others || others_ok=$?
crates_ok=0
wait "$crates_pid" || crates_ok=$?
production_ok=0
wait "$production_pid" || production_ok=$?
cat "$crates_log" "$production_log"
[ "$others_ok" = 0 ] || { echo "server tests failed (above the other crates' and the production-style ones)"; exit 1; }
[ "$crates_ok" = 0 ] || { echo "the server tests of tests/tests/faults.rs or of run-runtime, run-macros, run-rules, runctx or tests-ui failed"; exit 1; }
[ "$production_ok" = 0 ] || { echo "the production-style server tests failed"; exit 1; }

step "done"
