"""The Python SDK (`import registry`, the registry-sdk wheel) against a real registry-server.

The SDK binds registry-client, so these tests check that what the SDK does is what the CLI does: the
CLI (`registry show --json`, `registry verify`) and `model_signing` (PyPI) are the independent readers.
CI runs this file from the installed wheel with no cargo/rustc on PATH (scripts/python-tests.sh).
"""
import hashlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import registry as sdk  # the `registry` name is conftest's server fixture

BIN = Path(sys.executable).parent
OMS = "https://model_signing/signature/v1.0"


def make_model(d: Path, seed: str) -> Path:
    d.mkdir(parents=True)
    (d / "weights.bin").write_bytes(hashlib.sha256(seed.encode()).digest() * 4096)  # 128 KiB
    (d / "config.json").write_text(json.dumps({"seed": seed}))
    (d / "tok").mkdir()
    (d / "tok" / "vocab.txt").write_text("a\nb\nc\n")
    return d


def files_of(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture
def env(registry, tmp_path, monkeypatch):
    """A client as the bootstrap admin, with its own config dir (the log pin the CLI shares)."""
    config = registry.work / "cli-config"  # the CLI helper's config dir: one pin store for both
    monkeypatch.setenv("REGISTRY_CONFIG_DIR", str(config))
    monkeypatch.delenv("REGISTRY_URL", raising=False)
    monkeypatch.delenv("REGISTRY_TOKEN", raising=False)
    return sdk.Client(registry.url, registry.admin_token)


def test_client_defaults_come_from_the_environment(registry, monkeypatch, tmp_path):
    monkeypatch.setenv("REGISTRY_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("REGISTRY_URL", registry.url)
    monkeypatch.setenv("REGISTRY_TOKEN", registry.admin_token)
    c = sdk.Client()
    assert c.url == registry.url
    v = c.push(make_model(tmp_path / "env", "env"), "sdkenv/m", "1")
    assert registry.cli("show", "sdkenv/m@1")["manifest_digest"] == v.manifest_digest
    assert [m["name"] for m in c.ls("sdkenv")] == ["m"]
    # Without a token (and no stored login), the same listing of a private model is refused.
    monkeypatch.delenv("REGISTRY_TOKEN")
    anon = sdk.Client()
    with pytest.raises(sdk.ApiError) as e:
        anon.push(make_model(tmp_path / "m", "anon"), "anon/m", "1")
    assert e.value.status == 401 and e.value.code == "unauthorized"


def test_push_with_lineage_records_exactly_what_was_given(registry, env, tmp_path):
    parent_dir = make_model(tmp_path / "parent", "parent")
    env.push(parent_dir, "sdk/base", "1")
    data = tmp_path / "train.csv"
    data.write_bytes(b"x,y\n" + b"1,2\n" * 10000)
    ds_digest = sdk.digest_file(data)
    assert ds_digest == "sha256:" + hashlib.sha256(data.read_bytes()).hexdigest()
    seen = []
    model_dir = make_model(tmp_path / "model", "lineage")
    v = env.push(
        model_dir,
        "sdk/lineage",
        "1.0.0",
        datasets=[sdk.Dataset("s3://data/train.csv", ds_digest), sdk.Dataset("s3://data/eval.csv", ds_digest, "eval")],
        code=sdk.Code("https://git.example/acme/fraud", "3f786850e387550fdab836ed7e6dc881de23001b", "train.py"),
        parents=["sdk/base@1"],
        params={"lr": 0.001, "epochs": 3, "optimizer": "adamw"},
        metrics={"auc": 0.9731, "loss": 0.25},
        run_id="run-42",
        run_uri="https://ci.example/run/42",
        builder="https://ci.example/builder",
        description="fraud detector",
        labels={"team": "risk"},
        progress=lambda phase, done, total: seen.append((phase, done, total)),
    )
    assert v.created and v.model == "sdk/lineage" and v.version == "1.0.0" and v.files == 3
    shown = registry.cli("show", "sdk/lineage@1.0.0")
    assert v.record == shown, "the SDK returns the record the CLI shows"
    assert v.manifest_digest == shown["manifest_digest"]
    assert shown["lineage"] == {
        "datasets": [
            {"uri": "s3://data/train.csv", "digest": ds_digest, "role": "train"},
            {"uri": "s3://data/eval.csv", "digest": ds_digest, "role": "eval"},
        ],
        "code": {"repo": "https://git.example/acme/fraud", "commit": "3f786850e387550fdab836ed7e6dc881de23001b",
                 "path": "train.py"},
        "parents": ["sdk/base@1"],
        "params": {"epochs": 3, "lr": 0.001, "optimizer": "adamw"},
        "metrics": {"auc": 0.9731, "loss": 0.25},
        "run": {"id": "run-42", "uri": "https://ci.example/run/42", "builder": "https://ci.example/builder"},
    }
    assert shown["metadata"] == {"description": "fraud detector", "labels": {"team": "risk"}}
    # Every file's digest is its bytes' SHA-256, as the server stores it.
    want = {p: (hashlib.sha256(b).hexdigest(), len(b)) for p, b in files_of(model_dir).items()}
    assert registry.manifest("sdk/lineage", "1.0.0") == want
    assert seen and seen[-1][0] == "pushing" and seen[-1][1] == seen[-1][2] == 2 * sum(len(b) for b in files_of(model_dir).values())
    assert env.show("sdk/lineage@1.0.0") == shown
    assert [x["version"] for x in env.ls("sdk/lineage")] == ["1.0.0"]
    aff = env.affected(dataset=ds_digest)
    assert "sdk/lineage@1.0.0" in json.dumps(aff)
    # Bad lineage is the library's refusal, not a silent drop.
    with pytest.raises(ValueError):
        env.push(model_dir, "sdk/lineage", "2", datasets=[sdk.Dataset("s3://x", "sha256:nothex")])
    with pytest.raises(TypeError):
        env.push(model_dir, "sdk/lineage", "2", params={"flag": True})


def test_pull_verifies_and_writes_exactly_the_version(registry, env, tmp_path):
    model_dir = make_model(tmp_path / "model", "pull")
    env.push(model_dir, "sdk/pull", "1")
    out = tmp_path / "out"
    p = env.pull("sdk/pull@1", out)
    assert files_of(out) == files_of(model_dir)
    assert p.files == 3 and p.record["version"] == "1" and p.logged_at
    r = env.verify("sdk/pull@1", out)
    assert r.ok and any(c.what.startswith("files: 3 of 3 match") for c in r.checks)
    # The CLI agrees, through the same pinned log.
    registry.cli("verify", "sdk/pull@1", "--dir", out, json_out=False)
    # A local change fails verify with the report attached (the CLI's exit 3).
    (out / "config.json").write_text("{}")
    with pytest.raises(sdk.VerificationError) as e:
        env.verify("sdk/pull@1", out)
    assert "changed: config.json" in str(e.value)
    assert e.value.report["ok"] is False
    assert registry.cli("verify", "sdk/pull@1", "--dir", out, json_out=False, check=False).returncode == 3
    # Threads share one client; the GIL is released while each waits.
    errors = []

    def worker(i):
        try:
            env.pull("sdk/pull@1", tmp_path / f"t{i}")
        except Exception as ex:  # noqa: BLE001 - collected for the assertion below
            errors.append(ex)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    assert all(files_of(tmp_path / f"t{i}") == files_of(model_dir) for i in range(4))


def test_a_changed_stored_byte_raises_verification_error(registry, env, tmp_path):
    model_dir = make_model(tmp_path / "model", "tamper")
    env.push(model_dir, "sdk/tamper", "1")
    blob = registry.data_dir / "blobs" / "sha256" / hashlib.sha256((model_dir / "weights.bin").read_bytes()).hexdigest()
    original = blob.read_bytes()
    bad = bytearray(original)
    bad[len(bad) // 2] ^= 1
    blob.write_bytes(bytes(bad))
    try:
        out = tmp_path / "out"
        with pytest.raises(sdk.VerificationError) as e:
            env.pull("sdk/tamper@1", out)
        assert "weights.bin" in str(e.value)
        assert not out.exists(), "nothing is written when a byte does not verify"
    finally:
        blob.write_bytes(original)
    env.pull("sdk/tamper@1", tmp_path / "again")  # the restored bytes verify


def test_sdk_oms_signature_passes_model_signing_verify(registry, env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    registry.cli("keygen", "--out", tmp_path / "sdk")
    registry.cli("keys", "add", "--namespace", "sdksig/*", "--public-key", tmp_path / "sdk.pub")
    model_dir = make_model(tmp_path / "model", "signed")
    v = env.push(model_dir, "sdksig/m", "1", sign_key=tmp_path / "sdk.key", signature_out=tmp_path / "model.sig")
    assert v.attestations == 2  # SLSA provenance + the OMS bundle
    ms = [str(BIN / "model_signing"), "--log-level", "WARNING", "verify", "key", str(model_dir),
          "--signature", str(tmp_path / "model.sig"), "--public_key", str(tmp_path / "sdk.pub")]
    p = subprocess.run(ms, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    # Pull with the key as trust anchor (--verify-with) and the OMS predicate required; the signature
    # written by pull is the same model_signing accepts.
    out = tmp_path / "out"
    env.pull("sdksig/m@1", out, trusted_keys=[tmp_path / "sdk.pub"], require_predicates=[OMS],
             signature_out=tmp_path / "pulled.sig")
    p = subprocess.run(ms[:5] + [str(out), "--signature", str(tmp_path / "pulled.sig"), "--public_key",
                                 str(tmp_path / "sdk.pub")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert env.verify("sdksig/m@1", out, trusted_keys=[tmp_path / "sdk.pub"], require_predicates=[OMS]).ok
    # model_signing does fail on a changed byte (the check above can fail).
    (model_dir / "config.json").write_text("{}")
    assert subprocess.run(ms, capture_output=True, text=True).returncode != 0
    # A key the version was not signed with is not trusted.
    registry.cli("keygen", "--out", tmp_path / "other")
    with pytest.raises(sdk.VerificationError):
        env.pull("sdksig/m@1", tmp_path / "nope", trusted_keys=[tmp_path / "other.pub"])
    assert not (tmp_path / "nope").exists()


def test_policy_denial_raises_policy_denied_with_the_reasons(registry, env, tmp_path):
    reason = "sdk test: nothing reaches blocked"
    rego = tmp_path / "deny.rego"
    rego.write_text(f'package registry.promote\n\nimport rego.v1\n\nallow := true\n\n'
                    f'deny contains "{reason}" if input.alias.name == "blocked"\n')
    registry.cli("policy", "set", "sdkpol/*", "blocked", rego)
    env.push(make_model(tmp_path / "model", "policy"), "sdkpol/m", "1")
    with pytest.raises(sdk.PolicyDenied) as e:
        env.promote("sdkpol/m@1", "blocked", "try")
    assert isinstance(e.value, sdk.ApiError)
    assert (e.value.code, e.value.status) == ("policy_denied", 403)
    assert len(e.value.reasons) == 1 and e.value.reasons[0].endswith(reason), e.value.reasons
    # The CLI gets the same reasons (exit 3).
    p = registry.cli("promote", "sdkpol/m@1", "--to", "blocked", check=False)
    assert p.returncode == 3
    assert json.loads(p.stdout)["details"]["reasons"] == e.value.reasons
    # An alias no policy blocks moves, and rollback with nothing earlier is an ApiError with its code.
    moved = env.promote("sdkpol/m@1", "staging", "ok")
    assert moved["alias"]["version"] == "1"
    with pytest.raises(sdk.ApiError) as e2:
        env.rollback("sdkpol/m", "staging")
    assert not isinstance(e2.value, sdk.PolicyDenied) and e2.value.code == "no_rollback_target"


def test_wrong_namespace_token_raises_api_error_with_its_code(registry, env, tmp_path):
    token, _ = registry.token(registry.unique("sdk-outsider"), "read,push", "elsewhere/*")
    outsider = sdk.Client(registry.url, token)
    model_dir = make_model(tmp_path / "model", "ns")
    with pytest.raises(sdk.ApiError) as e:
        outsider.push(model_dir, "sdkns/m", "1")
    assert (e.value.code, e.value.status) == ("forbidden", 403)
    # The CLI with the same token reports the same code.
    p = registry.cli("push", model_dir, "--model", "sdkns/m", "--version", "1", token=token, json_out=False,
                     check=False)
    assert p.returncode == 1 and "(forbidden, HTTP 403)" in p.stderr


def test_bundle_verifies_offline_with_the_cli(registry, env, tmp_path):
    env.push(make_model(tmp_path / "model", "bundle"), "sdk/bundle", "1")
    b = env.bundle("sdk/bundle@1", tmp_path / "b.json")
    assert b.bundle["version"]["version"] == "1"
    registry.cli("verify", "--offline", "--bundle", tmp_path / "b.json", "--log-key", b.log_key, "sdk/bundle@1",
                 json_out=False)


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sigstore"
GITHUB = "https://token.actions.githubusercontent.com"


def test_verify_bundle_checks_a_keyless_signer_and_its_claims(tmp_path):
    """registry.verify_bundle is `registry verify-bundle`: the real GitHub Actions attestation verifies
    for its workflow (pattern over the whole subject, a required claim); another ref, a prefix pattern
    and a changed artifact byte raise VerificationError naming the reason."""
    bundle, root = FIXTURES / "conda-attestation.sigstore.json", FIXTURES / "public-good-trusted_root.json"
    pkg = FIXTURES / "signed-package-2.1.0-hb0f4dca_0.conda"
    workflow = r"https://github\.com/prefix-dev/sigstore-example/\.github/workflows/action\.yaml@refs/heads/main"
    r = sdk.verify_bundle(bundle, pkg, root, [f"{GITHUB}={workflow}"], claims={"source_repository_ref": "refs/heads/main"})
    assert r.issuer == GITHUB and r.identity and r.identity.endswith("@refs/heads/main")
    assert r.claims["source_repository_uri"] == "https://github.com/prefix-dev/sigstore-example"
    assert r.integrated_time and r.predicate_type
    with pytest.raises(sdk.VerificationError, match="untrusted_identity"):
        sdk.verify_bundle(bundle, pkg, root, [f"{GITHUB}=.*"], claims={"source_repository_ref": "refs/heads/dev"})
    with pytest.raises(sdk.VerificationError, match="untrusted_identity"):
        sdk.verify_bundle(bundle, pkg, root, [f"{GITHUB}=https://github\\.com/prefix-dev/sigstore-example"])
    changed = tmp_path / "pkg.conda"
    data = bytearray(pkg.read_bytes())
    data[len(data) // 2] ^= 1
    changed.write_bytes(bytes(data))
    with pytest.raises(sdk.VerificationError, match="subject_mismatch"):
        sdk.verify_bundle(bundle, changed, root, [f"{GITHUB}=.*"])
    with pytest.raises(ValueError, match="unknown certificate claim"):
        sdk.verify_bundle(bundle, pkg, root, [f"{GITHUB}=.*"], claims={"repo": "x"})
