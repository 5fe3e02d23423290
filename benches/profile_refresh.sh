#!/usr/bin/env bash
# Where a refresh spends its time: a release server under the refresh load of
# benches/load.sh (64 connections, real rotation), sampled by perf (cpu-clock, so it works
# without hardware counters) for 10 s; prints the hottest frames, self and with children.
# Needs wrk and perf (Debian: apt-get install wrk linux-perf), curl, python3.
#   benches/profile_refresh.sh
#   TESSERA_BENCH_DATABASE_URL=postgres://…/empty_db benches/profile_refresh.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk perf; do command -v $tool >/dev/null || { echo "$tool is missing" >&2; exit 1; }; done

cargo build --release -q -p tessera
BIN=target/release/tessera
DIR=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
export TESSERA_SERVER__LISTEN=127.0.0.1:$PORT
export TESSERA_DATABASE__URL="${TESSERA_BENCH_DATABASE_URL:-sqlite://$DIR/tessera.db?mode=rwc}"
export TESSERA_KEYS__ENCRYPTION_KEY_FILE=$DIR/encryption.key
export TESSERA_LIMITS__ENABLED=false
export TESSERA_LOG__LEVEL=warn
"$BIN" >"$DIR/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done

for i in $(seq 0 63); do
  curl -sf -o /dev/null -X POST "$BASE/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"bench$i\",\"password\":\"correct horse battery\"}"
done
for i in $(seq 0 127); do
  curl -sf -X POST "$BASE/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"username\":\"bench$((i % 64))\",\"password\":\"correct horse battery\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])'
done >"$DIR/tokens"
export TESSERA_BENCH_TOKENS=$DIR/tokens

wrk -t2 -c64 -d14s -s benches/refresh.lua "$BASE" >"$DIR/wrk.txt" &
WRK=$!
sleep 2
perf record -q -e cpu-clock -F 999 -g -p "$PID" -o "$DIR/perf.data" -- sleep 10 2>/dev/null
wait $WRK
grep -E 'Requests/sec|Non-2xx' "$DIR/wrk.txt"
echo "== hottest frames, self time"
perf report -i "$DIR/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
  grep -E '^ +[0-9]' | head -25
echo "== hottest frames, with children"
perf report -i "$DIR/perf.data" --children --sort symbol --stdio 2>/dev/null |
  grep -E '^ +[0-9]' | head -40
