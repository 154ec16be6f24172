# Shared by scripts/soak and scripts/fault-*: start, probe and stop one `seer serve`.
# Source it; set SEER (binary), WORK (scratch folder) first. Functions fail loudly.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SEER=${SEER:-$REPO/.build/release/seer}
MEDIA_SHARED=$(cd "$REPO/.." && pwd)/shared/media
FIXTURES=$REPO/Tests/Fixtures/media
SERVER_PID=""
PORT=""

die() { echo "error: $*" >&2; exit 2; }

require() { # require COMMAND [apt package]
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed (apt-get install ${2:-$1})"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server DATABASE LOG [extra seer serve flags...]: starts in the background, sets SERVER_PID and PORT.
start_server() {
  local database=$1 log=$2; shift 2
  [ -x "$SEER" ] || die "no seer binary at $SEER (swift build -c release --product seer)"
  PORT=$(free_port)
  "$SEER" serve --host 127.0.0.1 --port "$PORT" --models "$REPO/models" --database "$database" "$@" >>"$log" 2>&1 &
  SERVER_PID=$!
}

# wait_ready SECONDS: waits for /readyz 200 while the server lives.
wait_ready() {
  local deadline=$(( $(date +%s) + $1 ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz" || true)" = 200 ] && return 0
    sleep 0.5
  done
  return 1
}

# stop_server: SIGTERM (drain, flush the request log), then wait; sets STOP_STATUS to the exit status.
# (Not in $(...): only this shell can wait for its child.)
stop_server() {
  STOP_STATUS=0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || STOP_STATUS=$?
  SERVER_PID=""
}

# metric NAME: the value of an unlabelled series in /metrics (empty when missing).
metric() {
  { curl -s "http://127.0.0.1:$PORT/metrics" || true; } | awk -v name="$1" '$1 == name { print $2; exit }'
}

# requests_total: the sum of seer_requests_total over routes and statuses.
requests_total() {
  { curl -s "http://127.0.0.1:$PORT/metrics" || true; } | awk '/^seer_requests_total\{/ { sum += $NF } END { print sum + 0 }'
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# post PATH FILE CONTENT_TYPE: prints the HTTP status.
post() {
  curl -s -o /dev/null -w '%{http_code}' --data-binary "@$2" -H "Content-Type: $3" "http://127.0.0.1:$PORT$1" || true
}

CHECKS_FAILED=0
check() { # check DESCRIPTION COMMAND...: prints PASS/FAIL, counts failures
  local description=$1; shift
  if "$@"; then echo "  PASS  $description"; else echo "  FAIL  $description"; CHECKS_FAILED=$((CHECKS_FAILED + 1)); fi
}
