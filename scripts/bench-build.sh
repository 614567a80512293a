#!/usr/bin/env bash
# Build time of the macros, measured side by side on this machine (docs/benchmarks.md):
#   1. run-macros with its dependencies (proc-macro2, quote, syn 3) from clean, and run-macros
#      alone (its own source touched);
#   2. a crate of 50 annotated functions (25 #[log_metric], 25 #[aml_step]) against the same
#      crate with tracing's #[instrument] on the same functions: from clean, and the crate alone.
# Each measurement runs ROUNDS times (default 3), the variants alternating; the median is
# printed. Dev profile, as in the edit-compile loop. Needs crates.io for tracing.
#
#   scripts/bench-build.sh            # ROUNDS=5 scripts/bench-build.sh for more rounds
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
rounds=${ROUNDS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
# seconds CMD...: runs CMD quietly, prints its wall time in seconds.
seconds() {
  local start
  start=$(now)
  if ! "$@" >"$work/last.log" 2>&1; then
    cat "$work/last.log" >&2
    echo "bench-build: failed: $*" >&2
    kill -TERM $$ # this runs inside $(...): stop the whole script, not just the subshell
    exit 1
  fi
  awk -v end="$(now)" -v start="$start" 'BEGIN { print end - start }'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# ---------------------------------------------------------------- the two crates

make_crate() { # make_crate DIR KIND
  local dir=$1 kind=$2
  mkdir -p "$dir/src"
  if [ "$kind" = runctx ]; then
    cat >"$dir/Cargo.toml" <<TOML
[package]
name = "annotated-runctx"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
run-runtime = { path = "$repo/run-runtime", default-features = false, features = ["macros"] }
[workspace]
TOML
    echo 'use run_runtime::prelude::*;' >"$dir/src/lib.rs"
  else
    cat >"$dir/Cargo.toml" <<TOML
[package]
name = "annotated-tracing"
version = "0.0.0"
edition = "2024"
publish = false
[dependencies]
tracing = { version = "0.1", default-features = false, features = ["std", "attributes"] }
[workspace]
TOML
    echo 'use std::path::Path;' >"$dir/src/lib.rs"
  fi
  for i in $(seq 1 25); do
    if [ "$kind" = runctx ]; then
      metric="#[log_metric(name = \"metric_$i\", step = epoch)]"
      step="#[aml_step(inputs(data = \"data/$i.csv\"), params(rate = 0.$i))]"
    else
      metric="#[tracing::instrument(ret)]"
      step="#[tracing::instrument(ret, err)]"
    fi
    cat >>"$dir/src/lib.rs" <<RUST

$metric
pub fn metric_$i(epoch: i64, x: f64) -> f64 {
    x * $i.0 + epoch as f64
}

$step
pub fn step_$i(data: &Path, rate: f64) -> Result<f64, String> {
    if rate > 1.0 {
        return Err(format!("rate {rate} for {} is above 1", data.display()));
    }
    Ok(rate * $i.0)
}
RUST
  done
}

make_crate "$work/runctx" runctx
make_crate "$work/tracing" tracing
(cd "$work/runctx" && cargo generate-lockfile -q && cargo fetch -q)
(cd "$work/tracing" && cargo generate-lockfile -q && cargo fetch -q)

# ---------------------------------------------------------------- measurements

declare -A results
record() { results[$1]+="$2"$'\n'; }

for round in $(seq 1 "$rounds"); do
  echo "round $round of $rounds" >&2
  # run-macros and its dependencies, from clean, then alone.
  rm -rf "$work/t-macros"
  record macros_clean "$(seconds env CARGO_TARGET_DIR="$work/t-macros" cargo build -q -p run-macros)"
  touch run-macros/src/lib.rs
  record macros_alone "$(seconds env CARGO_TARGET_DIR="$work/t-macros" cargo build -q -p run-macros)"
  for kind in runctx tracing; do
    rm -rf "$work/t-$kind"
    record "${kind}_clean" "$(cd "$work/$kind" && seconds env CARGO_TARGET_DIR="$work/t-$kind" cargo build -q --offline)"
    touch "$work/$kind/src/lib.rs"
    record "${kind}_alone" "$(cd "$work/$kind" && seconds env CARGO_TARGET_DIR="$work/t-$kind" cargo build -q --offline)"
  done
done

row() { printf '| %s | %.1f s |\n' "$1" "$(printf '%s' "${results[$2]}" | median)"; }
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(rustc --version)"
echo "median of $rounds rounds, dev profile"
echo
echo "| build | wall time |"
echo "| --- | ---: |"
row "run-macros with proc-macro2, quote, syn (clean)" macros_clean
row "run-macros alone (its source touched)" macros_alone
row "50 functions with #[log_metric]/#[aml_step], all dependencies (clean)" runctx_clean
row "50 functions with tracing #[instrument], all dependencies (clean)" tracing_clean
row "50 functions with #[log_metric]/#[aml_step], the crate alone" runctx_alone
row "50 functions with tracing #[instrument], the crate alone" tracing_alone
