"""Keyless interop with sigstore-python (PyPI `sigstore`, pinned in scripts/venv.sh).

The test Sigstore deployment (`sigstore-testkit`, built with the other binaries) signs a version's exact
manifest bytes keylessly, as a CI workflow would. sigstore-python, pointed at the deployment with
`--trust-config`, verifies those bundles offline (and refuses another identity or a changed byte); the
registry ingests the DSSE provenance from the trusted workflow, and the SDK and the CLI verify it with
the same root and identity. sigstore-python cannot *sign* offline (it needs Fulcio and Rekor over the
network), so the reverse direction is covered by the real public-good bundles in tests/fixtures/sigstore.
"""
import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

import registry as sdk  # the `registry` name is conftest's server fixture
from conftest import bin_dir

BIN = Path(sys.executable).parent
GITHUB = "https://token.actions.githubusercontent.com"
WORKFLOW = "https://github.com/acme/fraud/.github/workflows/train.yml@refs/heads/main"
SLSA = "https://slsa.dev/provenance/v1"


def sigstore_verify(trust: Path, bundle: Path, artifact: Path, identity: str = WORKFLOW):
    return subprocess.run(
        [str(BIN / "python"), "-m", "sigstore", "--trust-config", str(trust), "verify", "identity", "--offline",
         "--bundle", str(bundle), "--cert-identity", identity, "--cert-oidc-issuer", GITHUB, str(artifact)],
        capture_output=True, text=True, timeout=120)


def test_sigstore_python_and_the_registry_agree_on_keyless_bundles(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("REGISTRY_CONFIG_DIR", str(registry.work / "cli-config"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"keyless weights")
    registry.cli("push", model, "--model", "interop/keyless", "--version", "1")
    st, _, manifest = registry.http("GET", "/v1/models/interop/keyless/versions/1/manifest", token=registry.admin_token)
    assert st == 200
    (tmp_path / "manifest.json").write_bytes(manifest)

    # The deployment signs the exact manifest bytes: a message signature and SLSA provenance (DSSE).
    kit = tmp_path / "kit"
    subprocess.run([str(bin_dir() / "sigstore-testkit"), "write", str(kit), "--artifact", str(tmp_path / "manifest.json"),
                    "--predicate-type", SLSA], check=True, capture_output=True, timeout=60)
    trust, artifact = kit / "trust_config.json", kit / "artifact.txt"
    for bundle in ("artifact.txt.sigstore.json", "artifact.txt.dsse.sigstore.json"):
        ok = sigstore_verify(trust, kit / bundle, artifact)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        other = sigstore_verify(trust, kit / bundle, artifact, identity=WORKFLOW.replace("train.yml", "deploy.yml"))
        assert other.returncode != 0, "another workflow must not verify"
    changed = tmp_path / "changed.json"
    changed.write_bytes(manifest.replace(b"weights", b"weightz"))
    assert sigstore_verify(trust, kit / "artifact.txt.sigstore.json", changed).returncode != 0

    # The registry ingests the same DSSE bundle once the workflow is trusted.
    registry.cli("trust-root", "add", kit / "trusted_root.json", "--name", "testkit")
    registry.cli("keys", "add-identity", "--namespace", "interop/*", "--issuer", GITHUB, "--subject", WORKFLOW,
                 "--trust-root", "testkit")
    registry.cli("attest", "interop/keyless@1", "--envelope", kit / "artifact.txt.dsse.sigstore.json")
    listed = registry.cli("attestations", "interop/keyless@1")
    assert [(a["predicate_type"], a["status"], a["signer_identity"]["subject"]) for a in listed] == [
        (SLSA, "verified", WORKFLOW)]

    # The SDK verifies it with the user's root and identity; a wrong identity raises.
    c = sdk.Client(registry.url, registry.admin_token)
    pattern = WORKFLOW.replace(".", r"\.")
    r = c.verify("interop/keyless@1", trust_roots=[kit / "trusted_root.json"],
                 trusted_identities=[f"{GITHUB}={pattern}"], require_predicates=[SLSA])
    assert r.ok and any("train.yml@refs/heads/main" in ch.what for ch in r.checks), r.checks
    with pytest.raises(sdk.VerificationError):
        c.verify("interop/keyless@1", trust_roots=[kit / "trusted_root.json"],
                 trusted_identities=[f"{GITHUB}=https://github\\.com/acme/other/.*"], require_predicates=[SLSA])
    out = tmp_path / "out"
    c.pull("interop/keyless@1", out, trust_roots=[kit / "trusted_root.json"],
           trusted_identities=[f"{GITHUB}={pattern}"], require_predicates=[SLSA])
    assert (out / "weights.bin").read_bytes() == b"keyless weights"
    # The provenance's subject is the manifest digest the registry records.
    shown = registry.cli("show", "interop/keyless@1")
    statement = json.loads(base64.b64decode(
        json.loads((kit / "artifact.txt.dsse.sigstore.json").read_text())["dsseEnvelope"]["payload"]))
    assert "sha256:" + statement["subject"][0]["digest"]["sha256"] == shown["manifest_digest"]
