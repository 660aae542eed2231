#!/usr/bin/env bash
# The whole test suite: unit, storage (real WiredTiger) and crash tests under `swift test`, then
# the integration tests that drive the built spoold with redis-py, redis-cli and redis-benchmark.
# Longer crash loops: SPOOL_CRASH_ROUNDS=200 Tools/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tools/install-deps.sh
swift build
swift test
SPOOLD="$PWD/.build/debug/spoold" python3 -m pytest -q Tests/integration
