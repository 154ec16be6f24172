#!/usr/bin/env bash
# Smoke test of a built Seer image:  deploy/smoke-test.sh [IMAGE]   (default localhost/seer:dev)
# Starts the image with whichever engine works here (docker, podman, else buildah: `buildah run`
# shares the host network), with a fresh host folder mounted at /data, then checks /readyz,
# /healthz, /metrics, POST /faces with a real photo (one face), POST /anomaly with real clips in the
# container/codec pairs the contract names (vtest.avi: MS-MPEG-4 v3 (DivX 3) in AVI; H.264 in MP4,
# MPEG-4 part 2 and MJPEG in AVI, VP8 in WebM: the image's own FFmpeg decodes each), an audio-only
# file refused as invalid_video, `seer healthcheck` inside the container,
# that a second server on the port and a missing models folder fail with a message,
# that the SQLite database appears in the mounted folder, that after a stop (SIGTERM,
# clean exit) and a restart the request log still holds the first run's request, and that a
# read-only /data makes the container exit non-zero with a message instead of serving.
# Env: SMOKE_PORT (default 18080), SMOKE_PHOTO (default ../shared/media/grace_hopper.jpg),
#      SMOKE_VIDEO (default ../shared/media/vtest.avi; the other clips are Tests/Fixtures/video),
#      SMOKE_READY_SECONDS (default 180), SMOKE_ENGINE (docker|podman|buildah, default: detect).
# Needs curl and python3 on the host. Prints one line per check and 'N passed, N failed'.
set -uo pipefail

image=${1:-localhost/seer:dev}
root=$(cd "$(dirname "$0")/.." && pwd)
port=${SMOKE_PORT:-18080}
photo=${SMOKE_PHOTO:-$root/../shared/media/grace_hopper.jpg}
video=${SMOKE_VIDEO:-$root/../shared/media/vtest.avi}
clips=$root/Tests/Fixtures/video
ready_seconds=${SMOKE_READY_SECONDS:-180}
base="http://127.0.0.1:$port"
work=$(mktemp -d /tmp/seer-smoke.XXXXXX)
data="$work/data"
mkdir -p "$data"
# The image runs as uid 10001: the mounted folder must be writable by it.
if [ "$(id -u)" = 0 ]; then chown 10001:10001 "$data"; else chmod 0777 "$data"; fi
passed=0 failed=0

check() { # check "what" command...
  local what=$1; shift
  if "$@" >"$work/last.out" 2>&1; then passed=$((passed + 1)); echo "ok    $what"
  else failed=$((failed + 1)); echo "FAIL  $what"; sed 's/^/      /' "$work/last.out" | tail -15; fi
}

pick_engine() {
  if [ -n "${SMOKE_ENGINE:-}" ]; then echo "$SMOKE_ENGINE"; return; fi
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo docker; return; fi
  if command -v podman >/dev/null && podman info >/dev/null 2>&1; then echo podman; return; fi
  if command -v buildah >/dev/null; then echo buildah; return; fi
  echo "no container engine (docker, podman or buildah) is usable here" >&2; exit 2
}
engine=$(pick_engine) || exit 2
[ "$engine" = buildah ] && export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
echo "engine: $engine, image: $image, port: $port, data: $data"

container="" run_pid=""
# Each engine gets: start (run the server detached), stop (SIGTERM, wait, exit status), exec (a command inside).
start() { # start [extra mount option]
  local mount=${1:-$data:/data}
  case $engine in
    docker|podman)
      if [ -z "$container" ]; then
        container=seer-smoke-$$
        $engine run -d --name "$container" -p "127.0.0.1:$port:8080" -v "$mount" "$image" serve >/dev/null
      else
        $engine start "$container" >/dev/null
      fi ;;
    buildah)
      if [ -z "$container" ]; then
        container=$(buildah from --pull=never "$image")
        # `buildah run` mounts its own folder over an image VOLUME, hiding `-v host:/data`:
        # drop the VOLUME from this working container (the image keeps it).
        buildah config --volume /data- "$container"
      fi
      buildah run --isolation chroot -v "$mount" --env "SEER_PORT=$port" "$container" -- /usr/local/bin/seer serve \
        >>"$work/server.log" 2>&1 &
      run_pid=$! ;;
  esac
}

server_pid() { # the seer process under our `buildah run` (found by walking its descendants)
  [ -n "$run_pid" ] || return 0
  local queue=("$run_pid") pid child
  while [ ${#queue[@]} -gt 0 ]; do
    pid=${queue[0]}; queue=("${queue[@]:1}")
    [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = seer ] && { echo "$pid"; return; }
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do queue+=("$child"); done
  done
}

stop() { # SIGTERM, wait; sets exit_status (not in a subshell: `wait` needs this shell's child)
  case $engine in
    docker|podman)
      $engine stop -t 40 "$container" >/dev/null
      exit_status=$($engine inspect -f '{{.State.ExitCode}}' "$container") ;;
    buildah)
      local pid; pid=$(server_pid)
      [ -n "$pid" ] && kill -TERM "$pid"
      exit_status=0; wait "$run_pid" || exit_status=$?
      run_pid="" ;;
  esac
}

exec_in() {
  case $engine in
    docker|podman) $engine exec "$container" "$@" ;;
    buildah) buildah run --isolation chroot --env "SEER_PORT=$port" "$container" -- "$@" ;;
  esac
}

logs() {
  case $engine in
    docker|podman) $engine logs "$container" 2>&1 ;;
    buildah) cat "$work/server.log" ;;
  esac
}

cleanup() {
  if [ -n "$container" ]; then
    if [ "$engine" = buildah ]; then
      local pid; pid=$(server_pid); [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; [ -n "$run_pid" ] && wait "$run_pid" 2>/dev/null
      buildah rm "$container" >/dev/null 2>&1
    else
      $engine rm -f "$container" >/dev/null 2>&1
    fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT

wait_ready() {
  local deadline=$((SECONDS + ready_seconds))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/readyz")" = 200 ] && return 0
    sleep 1
  done
  echo "not ready after ${ready_seconds}s; server log:"; logs | tail -20; return 1
}

not() { ! "$@"; }
one_face() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["success"] and len(d["predictions"]) == 1, d' "$1"; }
fails_saying() { # fails_saying TEXT COMMAND...: COMMAND (in the container) exits 1 and prints TEXT
  local text=$1 out status=0; shift
  out=$(exec_in "$@" 2>&1) || status=$?
  echo "$out" | grep -m1 '^error:'
  [ "$status" != 0 ] && grep -q "$text" <<<"$out"
}
log_says() { logs | grep -q "$1"; }
anomaly_scores() { # anomaly_scores FILE FRAMES WIDTH HEIGHT: POST /anomaly decodes FRAMES frames of WIDTHxHEIGHT and scores segments
  curl -s --data-binary "@$1" -H 'Content-Type: application/octet-stream' "$base/anomaly" | python3 -c '
import json, sys
frames, width, height = map(int, sys.argv[1:])
d = json.load(sys.stdin); v = d.get("video", {})
assert d.get("success") and (v.get("frames"), v.get("width"), v.get("height")) == (frames, width, height), d
assert d["segments"] and all(0 <= s["score"] <= 1 for s in d["segments"]) and isinstance(d["anomalous"], bool), d
print("video", v, "max_score", d["max_score"])' "$2" "$3" "$4"
}
anomaly_refuses() { # anomaly_refuses FILE: POST /anomaly answers 400 invalid_video
  curl -s --data-binary "@$1" -H 'Content-Type: application/octet-stream' "$base/anomaly" \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); assert not d["success"] and d["code"] == "invalid_video", d; print(d["error"])'
}
json() { python3 -c "import json,sys; data=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }

# ---- first run ----
start
started=$SECONDS
check "/readyz answers 200 (models loaded)" wait_ready
echo "      ready after $((SECONDS - started)) s"
check "/healthz answers ok" bash -c "curl -sf '$base/healthz' | grep -qx ok"
faces=$(curl -s -F "image=@$photo" "$base/faces")
check "POST /faces finds exactly 1 face in $(basename "$photo")" one_face "$faces"
request_id=$(echo "$faces" | json 'data.get("request_id", "")' 2>/dev/null)
echo "      request_id $request_id, timing $(echo "$faces" | json 'data.get("timing")' 2>/dev/null)"
check "/metrics is Prometheus text with request counters" bash -c "curl -sf '$base/metrics' | grep -q '^seer_'"
if [ -d "$root/models/yolov3-tiny" ]; then
  check "POST /detect finds objects in dog.jpg" bash -c "curl -sf -F 'image=@$(dirname "$photo")/dog.jpg' '$base/detect' | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"predictions\"]'"
fi
check "POST /anomaly scores $(basename "$video") (DivX 3 in AVI, 795 frames)" anomaly_scores "$video" 795 768 576
for clip in test_tamper.mp4:H.264 test_tamper.avi:MPEG-4 normal_c.mjpeg.avi:MJPEG normal_c.webm:VP8; do
  file=${clip%%:*}; frames=160; case $file in normal_c*) frames=20 ;; esac
  check "POST /anomaly scores $file (${clip#*:}, $frames frames)" anomaly_scores "$clips/$file" "$frames" 160 120
done
check "POST /anomaly refuses an audio-only file as invalid_video" anomaly_refuses "$clips/bad_audio_only.m4a"
check "seer healthcheck inside the container exits 0" exec_in /usr/local/bin/seer healthcheck
check "seer healthcheck exits 1 for a port nobody listens on" not exec_in /usr/local/bin/seer healthcheck --url http://127.0.0.1:1/readyz
check "a second server on the same port exits 1 naming the port" fails_saying "Address already in use" /usr/local/bin/seer serve
check "a missing models folder exits 1 naming it" fails_saying "/nonexistent does not exist" /usr/bin/env SEER_MODELS=/nonexistent /usr/local/bin/seer serve
check "the SQLite database appears in the mounted folder" test -f "$data/seer.sqlite"
check "the request log (GET /requests) holds the /faces request" \
  bash -c "curl -sf '$base/requests?limit=50' | grep -q '\"$request_id\"'"
stop
check "SIGTERM stops the server with exit status 0 (got $exit_status)" test "$exit_status" = 0
check "the server said it drained and stopped" log_says 'seer: stopped'

# ---- restart on the same volume ----
start
check "after a restart /readyz answers 200 again" wait_ready
check "after a restart the request log still holds the first run's /faces request" \
  bash -c "curl -sf '$base/requests?limit=50' | grep -q '\"$request_id\"'"
stop
check "second stop is clean too (exit status $exit_status)" test "$exit_status" = 0
echo "      image size: $( (buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' 2>/dev/null || $engine images --format '{{.Repository}}:{{.Tag}} {{.Size}}') | grep -F "${image#*/}" | head -1)"

# ---- a read-only /data must fail loudly, not serve or loop ----
readonly_data="$work/readonly"; mkdir -p "$readonly_data"
if [ "$engine" = buildah ]; then
  : >"$work/server.log"
  start "$readonly_data:/data:ro"
  for _ in $(seq 1 60); do kill -0 "$run_pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$run_pid" 2>/dev/null; then  # still serving: stop it, and the checks below fail
    echo "      the server did not exit within 60 s"; stop; status=0
  else
    status=0; wait "$run_pid" || status=$?; run_pid=""
  fi
  check "read-only /data: exits non-zero (status $status)" test "$status" != 0
  check "read-only /data: the message names the database path" grep -q '/data/seer.sqlite' "$work/server.log"
  grep -m1 '^error:' "$work/server.log" | sed 's/^/      /'
else
  out=$($engine run --rm -v "$readonly_data:/data:ro" "$image" serve 2>&1); status=$?
  check "read-only /data: exits non-zero (status $status)" test "$status" != 0
  check "read-only /data: the message names the database path" grep -q '/data/seer.sqlite' <<<"$out"
  grep -m1 '^error:' <<<"$out" | sed 's/^/      /'
fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
