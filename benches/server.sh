# Sourced by the load and profiling scripts: builds the release binary and starts it on a
# temporary database (TESSERA_BENCH_DATABASE_URL for another backend) with the rate
# limits off; sets BIN, DIR, PORT, BASE and PID, and stops the server on exit.
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
ulimit -n 65536 2>/dev/null || true

"$BIN" >"$DIR/server.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
for _ in $(seq 1 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
