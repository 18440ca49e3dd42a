#!/usr/bin/env bash
# Runs the official infrahub-sdk's own integration suite (tests/integration of its source
# release on PyPI) against our server: a fresh `infrahub server start` per test class stands in
# for upstream's Docker harness (shim/infrahub_testcontainers), and the tests listed in
# expected-failures.txt are expected to fail, each naming the issue that will make it pass.
#
# Environment:
#   INFRAHUB_BIN_DIR            directory of the `infrahub` binary (required)
#   INFRAHUB_SDK_TEST_VERSION   SDK release to take the suite from: the pinned SDK_VERSION by
#                               default, `latest` for the newest release (drift shows early;
#                               the expected failures apply to the pinned release)
#   INFRAHUB_SDK_VENV           virtualenv with pytest, pytest-asyncio and the SDK's
#                               dependencies (default: .build/venv)
# Extra arguments go to pytest (e.g. -k test_task_query).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
HERE=$ROOT/tests/sdk-integration
VENV=${INFRAHUB_SDK_VENV:-$ROOT/.build/venv}
VERSION=${INFRAHUB_SDK_TEST_VERSION:-$(tr -d '[:space:]' < "$HERE/SDK_VERSION")}
SOURCES=$ROOT/.build/sdk-src
mkdir -p "$SOURCES"

if [ "$VERSION" = latest ]; then
  rm -rf "$SOURCES/latest" && mkdir -p "$SOURCES/latest"
  "$VENV/bin/pip" download --quiet --no-deps --no-binary :all: infrahub-sdk -d "$SOURCES/latest"
  ARCHIVE=$(ls "$SOURCES"/latest/infrahub_sdk-*.tar.gz)
  VERSION=$(basename "$ARCHIVE" .tar.gz); VERSION=${VERSION#infrahub_sdk-}
  STRICT=0
else
  ARCHIVE=$SOURCES/infrahub_sdk-$VERSION.tar.gz
  [ -f "$ARCHIVE" ] || "$VENV/bin/pip" download --quiet --no-deps --no-binary :all: \
    "infrahub-sdk==$VERSION" -d "$SOURCES"
  STRICT=1
fi
SRC=$SOURCES/infrahub_sdk-$VERSION
[ -d "$SRC/tests/integration" ] || tar -xzf "$ARCHIVE" -C "$SOURCES"
echo "SDK integration suite of infrahub-sdk $VERSION"

# The suite imports the SDK from its source tree (its fixtures live there) and our stand-in
# for infrahub-testcontainers; the Docker failover test is left out.
PLUGIN=()
[ "$STRICT" = 1 ] && PLUGIN=(-p infrahub_rs_harness)
cd "$SRC"
PYTHONPATH="$SRC:$HERE/shim" "$VENV/bin/python" -m pytest tests/integration \
  -o addopts="" -q -p no:cacheprovider -W ignore::DeprecationWarning "${PLUGIN[@]}" \
  --ignore=tests/integration/test_retry_on_failover.py "$@"
