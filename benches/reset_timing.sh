#!/usr/bin/env bash
# Password-reset timing for a known, verified address against unknown ones, on a release
# build (SQLite unless TESSERA_BENCH_DATABASE_URL says otherwise; mail to the log).
#
#   benches/reset_timing.sh [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/server.sh
echo "a bench pass phrase 42" |
    "$BIN" users create bench-reset --email bench-reset@example.test --email-verified >/dev/null
python3 benches/reset_timing.py "$BASE" bench-reset@example.test "${1:-300}"
