#!/usr/bin/env bash
# Runs the whole test suite: Rust unit, integration and doc tests, then the Python suite that
# drives the official infrahub-sdk / infrahubctl against our binaries (tests/sdk).
#
# Environment:
#   CARGO_TARGET_DIR                 shared cargo target directory (default: ./target)
#   INFRAHUB_TEST_REQUIRE_SERVICES=1 real-service tests fail instead of skipping when their
#                                    INFRAHUB_TEST_<SERVICE>_URL is unset (CI sets it)
#   INFRAHUB_PYTHON                  Python used to create the SDK virtualenv (default: python3)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
export CARGO_TARGET_DIR=$TARGET_DIR

timed() {
  local name=$1; shift
  local start=$SECONDS
  echo "==> $name"
  "$@"
  echo "<== $name: $((SECONDS - start))s"
}

if cargo nextest --version >/dev/null 2>&1; then
  timed "rust tests (nextest)" cargo nextest run --workspace --no-fail-fast
else
  timed "rust tests" cargo test --workspace --no-fail-fast
fi
timed "doc tests" cargo test --workspace --doc
timed "build binaries" cargo build --workspace --bins

VENV=$ROOT/.build/venv
if [ ! -x "$VENV/bin/pytest" ] || ! "$VENV/bin/python" -c 'import infrahub_sdk, moto, boto3' 2>/dev/null; then
  timed "python venv" bash -c "rm -rf '$VENV' && ${INFRAHUB_PYTHON:-python3} -m venv '$VENV' \
    && '$VENV/bin/pip' install --quiet --upgrade pip \
    && '$VENV/bin/pip' install --quiet 'infrahub-sdk[ctl]' pytest 'moto[server]'"
fi
export INFRAHUB_BIN_DIR=$TARGET_DIR/debug
timed "sdk compatibility suite" "$VENV/bin/pytest" -q tests/sdk
