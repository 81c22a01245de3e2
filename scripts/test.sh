#!/usr/bin/env bash
# Builds (warnings are errors) and runs every test: unit tests beside each target and the end-to-end
# tests that start the real binary. The end-to-end tests find the binary through TOKENSCAN_BINARY.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -Xswiftc -warnings-as-errors
swift build --build-tests -Xswiftc -warnings-as-errors
export TOKENSCAN_BINARY="$PWD/.build/debug/tokenscan"
# PostgreSQL: the same storage tests and end-to-end tests run on a throwaway cluster, and are required
# (they fail instead of skipping). A URL already in TOKENSCAN_TEST_POSTGRES_URL is used as it is.
if [[ -z "${TOKENSCAN_TEST_POSTGRES_URL:-}" ]]; then
    export TOKENSCAN_PG_DIR="/tmp/tokenscan-pg-$$"  # one cluster per run: parallel runs do not share one
    trap 'scripts/postgres-test-cluster.sh stop' EXIT
    TOKENSCAN_TEST_POSTGRES_URL=$(scripts/postgres-test-cluster.sh start)
fi
export TOKENSCAN_TEST_POSTGRES_URL TOKENSCAN_REQUIRE_POSTGRES=1
swift test --skip-build --parallel --num-workers 2
