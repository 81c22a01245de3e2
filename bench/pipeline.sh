#!/usr/bin/env bash
# The disclosure pipeline on the embedded SQLite store, without HTTP: items accepted per second in
# 1,000-item reports, and tokens fully processed per second from a 10,000-token backlog (revoked,
# both events recorded, mail written to a maildir). Usage: bench/pipeline.sh [process|power_loss]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release -Xswiftc -warnings-as-errors >/dev/null
.build/release/tokenscan-loadgen pipeline --durability "${1:-process}"
