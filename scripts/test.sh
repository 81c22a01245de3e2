#!/usr/bin/env bash
# Builds (warnings are errors) and runs every test: unit tests beside each target and the end-to-end
# tests that start the real binary. The end-to-end tests find the binary through TOKENSCAN_BINARY.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -Xswiftc -warnings-as-errors
swift build --build-tests -Xswiftc -warnings-as-errors
export TOKENSCAN_BINARY="$PWD/.build/debug/tokenscan"
swift test --skip-build --parallel --num-workers 2
