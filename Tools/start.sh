#!/usr/bin/env bash
# Installs what is missing, builds in release mode and starts spoold with Config/spoold.conf.
# Extra arguments are passed on (e.g. Tools/start.sh --port 7400).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tools/install-deps.sh
swift build -c release --product spoold
exec .build/release/spoold --config Config/spoold.conf "$@"
