#!/usr/bin/env bash
# Runs the whole test suite: Rust unit, integration and doc tests, then the Python suite that
# drives the official infrahub-sdk / infrahubctl against our binaries (tests/sdk).
#
# Environment:
#   CARGO_TARGET_DIR                 shared cargo target directory (default: ./target)
#   INFRAHUB_TEST_REQUIRE_SERVICES=1 real-service tests fail instead of skipping when their
#                                    INFRAHUB_TEST_<SERVICE>_URL is unset (CI sets it)
#   INFRAHUB_TEST_REDIS_URL, _AMQP_URL, _NATS_URL, _BOLT_URL
#                                    the services those tests use (.ci/run sets them)
#   INFRAHUB_PYTHON                  Python used to create the SDK virtualenv (default: python3);
#                                    the tests of Python transforms run the virtualenv's Python
#                                    (INFRAHUB_TEST_PYTHON)
#
# Installs Debian's chromium and chromium-driver when they are missing (the browser test of the
# web frontend); screenshots of its pages land in .build/ui-screenshots/.
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

# OpsMill's public schema library, read by the tests that load real-world schemas: beside the
# repository when it is there (../shared/data/schema-library), else a shallow clone in the build
# area when the network allows; without it those tests skip (CI requires them).
if [ -z "${INFRAHUB_SCHEMA_LIBRARY:-}" ] && [ ! -d "$ROOT/../shared/data/schema-library/base" ] \
  && [ ! -d "$ROOT/.build/schema-library/base" ]; then
  mkdir -p "$ROOT/.build"
  timed "schema library" bash -c "GIT_TERMINAL_PROMPT=0 timeout 120 git clone --quiet --depth 1 \
    https://github.com/opsmill/schema-library '$ROOT/.build/schema-library' \
    || { rm -rf '$ROOT/.build/schema-library'; echo 'could not clone the schema library: the tests that need it skip'; }"
fi

# Debian's Chromium and its WebDriver for the browser test of the web frontend
# (infrahub-server/tests/ui_browser.rs); without them that test skips (CI requires it).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo -n"; fi
  timed "chromium" bash -c "export DEBIAN_FRONTEND=noninteractive; \
    $SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
    || { $SUDO apt-get update -q >/dev/null 2>&1 && $SUDO apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; } \
    || echo 'could not install chromium and chromium-driver: the browser test skips'"
fi

# The SDK's virtualenv: the Python suites below, and the Python runner's tests (Python
# transforms run with this interpreter, which has infrahub-sdk).
VENV=$ROOT/.build/venv
if [ ! -x "$VENV/bin/pytest" ] \
  || ! "$VENV/bin/python" -c 'import infrahub_sdk, moto, boto3, pytest_asyncio' 2>/dev/null; then
  timed "python venv" bash -c "rm -rf '$VENV' && ${INFRAHUB_PYTHON:-python3} -m venv '$VENV' \
    && '$VENV/bin/pip' install --quiet --upgrade pip \
    && '$VENV/bin/pip' install --quiet 'infrahub-sdk[ctl]' pytest pytest-asyncio 'moto[server]'"
fi
export INFRAHUB_TEST_PYTHON=$VENV/bin/python

if cargo nextest --version >/dev/null 2>&1; then
  timed "rust tests (nextest)" cargo nextest run --workspace --no-fail-fast
else
  timed "rust tests" cargo test --workspace --no-fail-fast
fi
# The bus, cache and task store backends against real services (their conformance, TLS and
# fault tests need every feature of the three crates: INFRAHUB_TEST_AMQP_URL, _NATS_URL,
# _REDIS_URL, _BOLT_URL; the task workers' test kills a worker process on RabbitMQ).
if cargo nextest --version >/dev/null 2>&1; then
  timed "bus, cache and task backends (nextest)" cargo nextest run -p infrahub-bus \
    -p infrahub-cache -p infrahub-worker --all-features --no-fail-fast
else
  timed "bus, cache and task backends" cargo test -p infrahub-bus -p infrahub-cache \
    -p infrahub-worker --all-features --no-fail-fast
fi
timed "doc tests" cargo test --workspace --doc
timed "build binaries" cargo build --workspace --bins
# The examples of embedding the crates run as they are documented (each checks itself).
timed "examples" bash -c "'$TARGET_DIR/debug/example-embedded-engine' > /dev/null \
  && '$TARGET_DIR/debug/example-custom-server' > /dev/null \
  && '$TARGET_DIR/debug/example-validate' '$ROOT'/examples/validate/data/*.yml > /dev/null"

export INFRAHUB_BIN_DIR=$TARGET_DIR/debug
timed "sdk compatibility suite" "$VENV/bin/pytest" -q tests/sdk
# The SDK's own integration suite (its source release's tests/integration), a fresh server of
# ours per test class; expected failures are listed with the issue that fixes each.
timed "sdk integration suite" tests/sdk-integration/run.sh -p no:warnings
