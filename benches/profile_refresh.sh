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

# shellcheck source=benches/server.sh
. benches/server.sh

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
