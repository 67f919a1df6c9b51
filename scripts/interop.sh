#!/usr/bin/env bash
# Interop with independent tools, offline, against a live registry-server:
#   1. an OMS model.sig made by `model_signing sign key` is accepted by `registry push --attest` and
#      verified by `registry verify`;
#   2. the OMS bundle `registry push --sign-key` writes (and `registry pull --signature-out` saves)
#      passes `model_signing verify key`; one changed byte makes it fail;
#   3. a DSSE SLSA provenance envelope signed by securesystemslib (Ed25519, statement built with
#      in-toto-attestation) is accepted; ours verify with securesystemslib.
# (The real Sigstore bundles are checked by the Rust test suite: registry-client/tests/client/sigstore.rs.)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
server=$root/target/debug/registry-server
cli=$root/target/debug/registry
[ -x "$server" ] && [ -x "$cli" ] || cargo build -q -p registry-server -p registry-client
bin=$(scripts/venv.sh)
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$server" --listen "127.0.0.1:$port" --data-dir "$work/data" > "$work/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null && break; sleep 0.1; done
export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token") REGISTRY_CONFIG_DIR=$work/cfg
reg() { "$cli" "$@"; }
ok() { printf '  ok: %s\n' "$*"; }
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

cd "$work"
mkdir -p model/tokenizer
printf 'weights' > model/weights.bin; printf '{}' > model/config.json
printf 'vocab' > model/tokenizer/vocab.txt; printf 'extra' > model/tokenizer-extra.txt

echo "1. model_signing signs, registry accepts and verifies"
openssl ecparam -name prime256v1 -genkey -noout -out ms.key 2>/dev/null
openssl ec -in ms.key -pubout -out ms.pub 2>/dev/null
"$bin/model_signing" --log-level WARNING sign key model --private_key ms.key --signature model.sig > /dev/null
reg keys add --namespace 'interop/*' --public-key ms.pub > /dev/null
reg push model --model interop/oms --version 1 --attest model.sig > /dev/null 2>&1
reg verify interop/oms@1 --dir model --trusted-key ms.pub --require-predicate https://model_signing/signature/v1.0
ok "model_signing's signature verifies in registry"

echo "2. registry signs, model_signing verifies"
reg keygen --out ours > /dev/null 2>&1
keyid=$(reg --json keygen --out other --type ed25519 | json_field '["key_id"]') # an unrelated key, for later
ourid=$(python3 -c "import hashlib,base64; pem=open('ours.pub').read(); der=base64.b64decode(''.join(l for l in pem.splitlines() if '-----' not in l)); print('sha256:'+hashlib.sha256(der).hexdigest())")
reg keys add --namespace 'interop/*' --public-key ours.pub > /dev/null
reg push model --model interop/ours --version 1 --sign-key ours.key --signature-out ours.sig > /dev/null 2>&1
"$bin/model_signing" --log-level WARNING verify key model --signature ours.sig --public_key ours.pub
ok "model_signing verifies the bundle registry push wrote"
reg pull interop/ours@1 -o pulled --verify-with ours.pub --signature-out pulled.sig > /dev/null 2>&1
"$bin/model_signing" --log-level WARNING verify key pulled --signature pulled.sig --public_key ours.pub
ok "model_signing verifies the bundle registry pull saved, against the pulled files"
printf 'WEIGHTS' > pulled/weights.bin
if "$bin/model_signing" --log-level ERROR verify key pulled --signature pulled.sig --public_key ours.pub > /dev/null 2>&1; then
  echo "FAIL: model_signing accepted a changed file" >&2; exit 1
fi
ok "one changed file fails model_signing"
if reg verify interop/ours@1 --dir pulled --trusted-key ours.pub > /dev/null 2>&1; then
  echo "FAIL: registry verify accepted a changed file" >&2; exit 1
fi
ok "and fails registry verify (exit 3)"

echo "3. securesystemslib signs DSSE, registry accepts; registry signs, securesystemslib verifies"
digest=$(reg --json show interop/ours@1 | json_field '["manifest_digest"]')
"$bin/python" "$root/scripts/interop/sslib.py" sign --subject interop/ours --digest "${digest#sha256:}" \
  --out sslib-env.json --public-key-out sslib.pub
reg keys add --namespace 'interop/*' --public-key sslib.pub > /dev/null
reg attest interop/ours@1 --envelope sslib-env.json > /dev/null
reg verify interop/ours@1 --trusted-key sslib.pub --require-predicate https://slsa.dev/provenance/v1
ok "securesystemslib's envelope verifies in registry"
prov_id=$(reg --json attestations interop/ours@1 --download atts | python3 -c "
import json, sys
print(next(a['id'] for a in json.load(sys.stdin)
           if a['signer_key_id'] == '$ourid' and a['predicate_type'] == 'https://slsa.dev/provenance/v1'))")
"$bin/python" "$root/scripts/interop/sslib.py" verify --envelope "atts/$prov_id.json" --public-key ours.pub --keyid "$ourid"
ok "securesystemslib verifies registry's provenance envelope"
if "$bin/python" "$root/scripts/interop/sslib.py" verify --envelope "atts/$prov_id.json" --public-key other.pub --keyid "$keyid" 2> /dev/null; then
  echo "FAIL: securesystemslib accepted the wrong key" >&2; exit 1
fi
ok "and refuses it with another key"
echo "interop: all passed"
