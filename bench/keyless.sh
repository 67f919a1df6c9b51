#!/usr/bin/env bash
# Keyless attestations (issue 17), in one run, 3 rounds: 100 keyless DSSE bundles (a test Sigstore
# deployment, `sigstore-testkit`) over one version's manifest, against 100 key-signed attestations:
#   1. ingest: `registry attest --envelope` (keyless) vs `registry attest --sign-key` (key), 100 each,
#      one CLI process per attestation as a pipeline would run them;
#   2. client verification: `registry verify` with the trust root and identity vs with the key, each
#      re-verifying all 100 locally (and the log evidence);
#   3. reference: sigstore-python 4.5.1's `Verifier.verify_dsse` on the same 100 bundles, in-process
#      (cryptography only: no registry, no log).
# usage: bench/keyless.sh [WORKDIR]   (needs the CI venv: scripts/venv.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=${1:-/tmp/registry-keyless-bench}
rm -rf "$work"; mkdir -p "$work"
cargo build --release -q -p registry-server -p registry-client -p sigstore-testkit
py=$(scripts/venv.sh)/python
srv=$root/target/release/registry-server; cli=$root/target/release/registry; kit=$root/target/release/sigstore-testkit
now() { date +%s.%N; }
ms() { awk "BEGIN{printf \"%.0f ms\", 1000*($2-$1)}"; }
each() { awk "BEGIN{printf \"%.1f ms\", 1000*($2-$1)/$3}"; }
port=18595
"$srv" --listen 127.0.0.1:$port --data-dir "$work/data" > "$work/log" 2>&1 &
spid=$!
trap 'kill $spid 2>/dev/null; rm -rf "$work"' EXIT
until curl -sf "http://127.0.0.1:$port/v1/health" > /dev/null; do sleep 0.1; done
export REGISTRY_URL=http://127.0.0.1:$port REGISTRY_TOKEN=$(cat "$work/data/bootstrap-admin.token") REGISTRY_CONFIG_DIR=$work/cfg
cd "$work"
gh=https://token.actions.githubusercontent.com
wf=https://github.com/acme/fraud/.github/workflows/train.yml@refs/heads/main
"$cli" keygen --out k > /dev/null 2>&1
"$cli" keys add --namespace 'bench/*' --public-key k.pub > /dev/null
echo '{"auc": 0.9}' > eval.json

echo "| round | what | total | per attestation |"
echo "|---|---|---|---|"
for round in 1 2 3; do
  mkdir -p "m$round"; echo "w$round" > "m$round/w.bin"
  "$cli" push "m$round" --model bench/keyless --version "$round" > /dev/null 2>&1
  "$cli" push "m$round" --model bench/keyed --version "$round" > /dev/null 2>&1
  curl -sf -H "Authorization: Bearer $REGISTRY_TOKEN" \
    "$REGISTRY_URL/v1/models/bench/keyless/versions/$round/manifest" > "manifest$round.json"
  "$kit" write "kit$round" --artifact "manifest$round.json" --predicate-type https://example.com/eval/v1 --count 100 > /dev/null
  "$cli" trust-root add "kit$round/trusted_root.json" --name "kit$round" > /dev/null
  "$cli" keys add-identity --namespace 'bench/*' --issuer $gh --subject "$wf" --trust-root "kit$round" > /dev/null
  bundles=("kit$round/artifact.txt.dsse.sigstore.json")
  for n in $(seq 2 100); do bundles+=("kit$round/artifact.txt.dsse.$n.sigstore.json"); done

  t0=$(now)
  for b in "${bundles[@]}"; do "$cli" attest "bench/keyless@$round" --envelope "$b" > /dev/null; done
  t1=$(now)
  echo "| $round | ingest 100 keyless (attest --envelope) | $(ms "$t0" "$t1") | $(each "$t0" "$t1" 100) |"
  t0=$(now)
  for i in $(seq 100); do
    "$cli" attest "bench/keyed@$round" --predicate-type "https://example.com/eval/v$i" --predicate eval.json --sign-key k.key > /dev/null
  done
  t1=$(now)
  echo "| $round | ingest 100 key-signed (attest --sign-key) | $(ms "$t0" "$t1") | $(each "$t0" "$t1" 100) |"

  t0=$(now)
  "$cli" verify "bench/keyless@$round" --trust-root "kit$round/trusted_root.json" \
    --trusted-identity "$gh=${wf//./\\.}" --require-predicate https://example.com/eval/v1 > /dev/null
  t1=$(now)
  echo "| $round | registry verify, 100 keyless | $(ms "$t0" "$t1") | $(each "$t0" "$t1" 100) |"
  t0=$(now)
  "$cli" verify "bench/keyed@$round" --trusted-key k.pub > /dev/null
  t1=$(now)
  echo "| $round | registry verify, 100 key-signed | $(ms "$t0" "$t1") | $(each "$t0" "$t1" 100) |"

  "$py" - "kit$round" "$wf" "$gh" "$round" <<'EOF'
import sys, time
from pathlib import Path
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier, policy
kit, wf, gh, rnd = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
tc = ClientTrustConfig.from_json((kit / "trust_config.json").read_text())
paths = [kit / "artifact.txt.dsse.sigstore.json"] + [kit / f"artifact.txt.dsse.{n}.sigstore.json" for n in range(2, 101)]
bundles = [Bundle.from_json(p.read_bytes()) for p in paths]
t0 = time.perf_counter()
v = Verifier(trusted_root=tc.trusted_root)
for b in bundles:
    v.verify_dsse(b, policy.Identity(identity=wf, issuer=gh))
t = time.perf_counter() - t0
print(f"| {rnd} | sigstore-python verify_dsse, same 100 bundles (in-process) | {t*1000:.0f} ms | {t*10:.1f} ms |")
EOF
done
