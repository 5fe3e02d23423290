#!/usr/bin/env bash
# Load benchmark: builds and starts a release server on a temporary SQLite database with
# the rate limits off, prepares users and tokens, drives it with wrk over loopback and
# prints one table. Needs wrk (Debian: apt-get install wrk), curl and python3.
#   benches/load.sh            # ~2 minutes after the release build
#   TESSERA_BENCH_DATABASE_URL=postgres://…/empty_db benches/load.sh   # another backend
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

# shellcheck source=benches/server.sh
. benches/server.sh

rss() { awk -v f="$1" '$1 == f":" {printf "%.1f", $2/1024}' "/proc/$PID/status"; }
sleep 1
IDLE_RSS=$(rss VmRSS)

USERS=64
export TESSERA_BENCH_USERS=$USERS
for i in $(seq 0 $((USERS - 1))); do
  curl -sf -o /dev/null -X POST "$BASE/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"bench$i\",\"password\":\"correct horse battery\"}"
done
login() { curl -sf -X POST "$BASE/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"bench$1\",\"password\":\"correct horse battery\"}"; }
TOKEN=$(login 0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

rps() { awk '/^Requests\/sec/ {print $2}'; }
pct() { awk -v p="$1" '$1 == p {print $2}'; }

echo "warming up..." >&2
wrk -t2 -c64 -d3s "$BASE/healthz" >/dev/null
# The bare route swings from run to run: three interleaved pairs, and the median ratio.
RATIOS=()
for _ in 1 2 3; do
  H=$(wrk -t2 -c64 -d8s "$BASE/healthz" | rps)
  D=$(wrk -t2 -c64 -d8s -H "Authorization: Bearer $TOKEN" "$BASE/v1/dashboard" | rps)
  HEALTH=$H DASH=$D
  RATIOS+=("$(python3 -c "print(f'{$D / $H:.2f}')")")
done
RATIO_MEDIAN=$(printf '%s\n' "${RATIOS[@]}" | sort -n | sed -n 2p)

LOGIN_OUT=$(wrk -t2 -c16 -d15s --latency -s benches/login.lua "$BASE")
LOGINS=$(echo "$LOGIN_OUT" | rps)
L50=$(echo "$LOGIN_OUT" | pct 50%)
L99=$(echo "$LOGIN_OUT" | pct 99%)
HASH_S=$(curl -sf "$BASE/metrics" | python3 -c '
import sys
s = c = 0.0
for line in sys.stdin:
    if line.startswith("tessera_password_hash_duration_seconds_sum"): s += float(line.split()[-1])
    if line.startswith("tessera_password_hash_duration_seconds_count"): c += float(line.split()[-1])
print(f"{s / c:.4f}" if c else "nan")')

# 128 sessions for 64 wrk connections: a spare chain for every connection, so one lost
# response (a reconnect) cannot starve a connection of tokens.
for i in $(seq 0 127); do login $((i % USERS)) | python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])'; done >"$DIR/tokens"
export TESSERA_BENCH_TOKENS=$DIR/tokens
REFRESH_OUT=$(wrk -t2 -c64 -d10s -s benches/refresh.lua "$BASE")
REFRESHES=$(echo "$REFRESH_OUT" | rps)
REFRESH_ERR=$(echo "$REFRESH_OUT" | awk '/Non-2xx/ {print $NF}')

FLOOD_OUT=$(wrk -t2 -c1000 -d10s --timeout 10s -s benches/login.lua "$BASE" 2>&1 || true)
FLOOD_TIMEOUTS=$(echo "$FLOOD_OUT" | sed -n 's/.*timeout \([0-9]*\).*/\1/p')
FLOOD_REFUSED=$(echo "$FLOOD_OUT" | awk '/Non-2xx/ {print $NF}')
FLOOD_TOTAL=$(echo "$FLOOD_OUT" | awk '/requests in/ {print $1}')
PEAK_RSS=$(rss VmHWM)

CORES=$(nproc)
python3 - "$HEALTH" "$DASH" "$LOGINS" "$L50" "$L99" "$HASH_S" "$CORES" "$REFRESHES" "${REFRESH_ERR:-0}" \
  "$IDLE_RSS" "$PEAK_RSS" "${FLOOD_TOTAL:-0}" "${FLOOD_REFUSED:-0}" "${FLOOD_TIMEOUTS:-0}" \
  "$RATIO_MEDIAN" "${RATIOS[*]}" <<'PY'
import sys
(health, dash, logins, l50, l99, hash_s, cores, refreshes, refresh_err,
 idle, peak, flood_total, flood_refused, flood_timeouts, ratio_median, ratios) = sys.argv[1:]
def ms(v):
    v = v.strip()
    if v.endswith("us"): return float(v[:-2]) / 1000
    if v.endswith("ms"): return float(v[:-2])
    if v.endswith("s"): return float(v[:-1]) * 1000
    return float("nan")
health, dash, logins, refreshes = map(float, (health, dash, logins, refreshes))
hash_s, cores = float(hash_s), int(cores)
ideal = cores / hash_s if hash_s else float("nan")
rows = [
    ("GET /healthz (req/s, 64 conns, last pair)", f"{health:,.0f}", ""),
    ("GET /v1/dashboard, valid token (last pair)", f"{dash:,.0f}", ""),
    ("protected / bare, median of 3 interleaved", ratio_median, f"runs {ratios}; target >= 0.90"),
    ("logins/s (16 conns)", f"{logins:,.1f}", f"target >= {0.85 * ideal:,.1f} (0.85 x {cores} cores / {hash_s * 1000:.1f} ms argon2)"),
    ("login p50 / p99 (ms)", f"{ms(l50):.0f} / {ms(l99):.0f}", f"p99/p50 = {ms(l99) / ms(l50):.2f}, target <= 3"),
    ("refreshes/s (64 conns, real rotation)", f"{refreshes:,.0f}", f"non-2xx: {refresh_err}"),
    ("RSS idle / peak (MiB)", f"{idle} / {peak}", "targets <= 20 / <= 150"),
    ("1,000-connection login flood", f"{flood_total} answered",
     f"refused 503: {flood_refused}, logged in: {int(flood_total) - int(flood_refused)}, timed out: {flood_timeouts}"),
]
w = max(len(r[0]) for r in rows)
print(f"\n{'measure':<{w}}  {'value':>14}  note")
print("-" * (w + 50))
for name, value, note in rows:
    print(f"{name:<{w}}  {value:>14}  {note}")
PY
