"""Third-party OCI clients pull model versions through the read-only /v2 view (issue 19, docs/oci.md).

Each client is the real, unmodified one, with only its documented options:
- skopeo (containers/image; Debian's, scripts/skopeo.sh, $REGISTRY_SKOPEO): `inspect --raw`, `copy ... dir:`,
  `list-tags`, `manifest-digest`, through the Bearer challenge and `/v2/token` with `--creds ci:TOKEN`;
- oras-py (PyPI `oras`): `Registry.login` then `pull` (files named by their title annotation) and its
  authenticated `do_request`/`get_blob` for the referrers API, which it has no call for;
- modelpack-client (PyPI): `pull`, which checks the artifact against the CNCF ModelPack spec and every
  digest;
- model_signing (PyPI): verifies the OMS bundle found through the referrers API against the oras-pulled
  files.
What they see is compared with what our own CLI reports (`registry show --json`'s `oci_manifest_digest`, the
bytes `registry push --signature-out` wrote) and with the files that were pushed.

Without skopeo the skopeo tests skip, unless REGISTRY_REQUIRE_SKOPEO=1 (CI), where they fail.
"""
import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

import pytest

import oras.provider
from modelpack_client import InvalidModelPackError, ModelPackClient

BIN = Path(sys.executable).parent
NS = "ociview"
MODEL = f"{NS}/bert"
LABEL, TAG = "1.0+cu121", "1.0_cu121"  # `+` is not allowed in an OCI tag: it maps to `_`
OMS = "https://model_signing/signature/v1.0"
SLSA = "https://slsa.dev/provenance/v1"
IMAGE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
IMAGE_INDEX = "application/vnd.oci.image.index.v1+json"
MODEL_ARTIFACT = "application/vnd.cncf.model.manifest.v1+json"
MODEL_CONFIG = "application/vnd.cncf.model.config.v1+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
EMPTY = {"mediaType": "application/vnd.oci.empty.v1+json",
         "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2}
TITLE, FILEPATH = "org.opencontainers.image.title", "org.cncf.model.filepath"
# docs/oci.md: the layer media type follows the file name
KINDS = {"config.json": "weight.config", "model.safetensors": "weight", "tokenizer/tokenizer.json": "weight.config",
         "README.md": "doc", "train.py": "code", "data/eval.csv": "dataset"}


def sha256(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def header(headers: dict, name: str):
    """A response header, case-insensitively (None if absent)."""
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def files_of(d: Path) -> dict:
    """{relative path: bytes} of every file below `d`."""
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


# ---- skopeo -------------------------------------------------------------------------------------

class Skopeo:
    """The skopeo binary with a throwaway policy, temp dir and HOME (no stored credentials are read)."""

    def __init__(self, exe: str, work: Path):
        self.exe, self.work = exe, work
        self.policy = work / "policy.json"
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        (work / "tmp").mkdir()

    def run(self, *args, check=True, timeout=300):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRY_", "XDG_", "DOCKER_"))}
        env["HOME"] = str(self.work)
        cmd = [self.exe, "--policy", str(self.policy), "--tmpdir", str(self.work / "tmp"), *map(str, args)]
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
        if check and p.returncode != 0:
            pytest.fail(f"{' '.join(cmd[1:])} exited {p.returncode}\nstdout: {p.stdout[-2000:]!r}\n"
                        f"stderr: {p.stderr.decode(errors='replace')[-4000:]}")
        return p

    def inspect_raw(self, oci, ref):
        """`skopeo inspect --raw`: the manifest bytes exactly as served."""
        return self.run("inspect", "--raw", "--tls-verify=false", "--creds", oci.creds, ref).stdout


@pytest.fixture(scope="module")
def skopeo(tmp_path_factory):
    exe = os.environ.get("REGISTRY_SKOPEO") or shutil.which("skopeo") or "/usr/bin/skopeo"
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        reason = f"no skopeo at {exe}: run scripts/skopeo.sh (or set REGISTRY_SKOPEO)"
        if os.environ.get("REGISTRY_REQUIRE_SKOPEO") == "1":
            pytest.fail(f"{reason} (and REGISTRY_REQUIRE_SKOPEO=1)")
        pytest.skip(reason)
    return Skopeo(exe, tmp_path_factory.mktemp("skopeo"))


# ---- the model, pushed once through the real CLI ------------------------------------------------

def write_model(d: Path, salt: str) -> dict:
    """A small model with nested paths and one file of each layer kind; unique bytes per run (the blob
    store deduplicates by content, so nothing here is shared with another test's model)."""
    files = {
        "config.json": json.dumps({"architectures": ["Bert"], "salt": salt}).encode(),
        "model.safetensors": b"".join(hashlib.sha256(f"{salt}/{i}".encode()).digest() for i in range(8192)),
        "tokenizer/tokenizer.json": json.dumps({"vocab": ["a", "b"], "salt": salt}).encode(),
        "README.md": f"# bert\n\n{salt}\n".encode(),
        "train.py": f"print({salt!r})\n".encode(),
        "data/eval.csv": f"x,y\n1,{salt}\n".encode(),
    }
    for path, body in files.items():
        (d / path).parent.mkdir(parents=True, exist_ok=True)
        (d / path).write_bytes(body)
    return files


@pytest.fixture(scope="module")
def oci(registry, tmp_path_factory):
    """NS/bert@1.0+cu121 signed with `--sign-key` (OMS bundle + SLSA provenance), @2.0 unsigned, the alias
    `production` on 1.0+cu121, and a read-only token for NS/* (the clients' password)."""
    w = tmp_path_factory.mktemp("oci")
    salt = os.urandom(8).hex()
    files = write_model(w / "model", salt)
    registry.cli("keygen", "--out", w / "signer")
    registry.cli("keys", "add", "--namespace", f"{NS}/*", "--public-key", w / "signer.pub")
    registry.cli("push", w / "model", "--model", MODEL, "--version", LABEL, "--sign-key", w / "signer.key",
                 "--signature-out", w / "push.sig")
    write_model(w / "model2", salt + "-2")
    registry.cli("push", w / "model2", "--model", MODEL, "--version", "2.0")
    registry.cli("promote", f"{MODEL}@{LABEL}", "--to", "production", "--reason", "oci interop")
    token, _ = registry.token(registry.unique("oci-ci"), "read", f"{NS}/*")
    host = registry.url.removeprefix("http://")
    shown = {v: registry.cli("show", f"{MODEL}@{v}") for v in (LABEL, "2.0")}
    for v in shown.values():
        assert v.get("oci_manifest_digest", "").startswith("sha256:"), v
    return SimpleNamespace(
        files=files, token=token, host=host,
        digest=shown[LABEL]["oci_manifest_digest"], digest2=shown["2.0"]["oci_manifest_digest"],
        pub=w / "signer.pub", push_sig=(w / "push.sig").read_bytes(),
        ref=lambda tag=TAG, model=MODEL: f"docker://{host}/{model}:{tag}",
        creds=f"ci:{token}",
    )


def get_manifest(registry, oci, reference, model=MODEL):
    """GET /v2/NAME/manifests/REF with the token as Bearer: (status, headers, body)."""
    return registry.http("GET", f"/v2/{model}/manifests/{reference}", token=oci.token)


def oras_client(oci, home: Path, monkeypatch) -> oras.provider.Registry:
    """oras-py as its README says: a Registry over http, logged in as ci/TOKEN (credentials stored in a
    docker config under a throwaway HOME, which `pull` reads back)."""
    monkeypatch.setenv("HOME", str(home))
    r = oras.provider.Registry(hostname=oci.host, insecure=True)
    r.login(username="ci", password=oci.token, hostname=oci.host,
            config_path=str(home / ".docker" / "config.json"))
    return r


# ---- the auth flow clients follow ---------------------------------------------------------------

def test_v2_answers_the_bearer_challenge_and_the_token_endpoint(registry, oci):
    realm = f'Bearer realm="http://{oci.host}/v2/token",service="{oci.host}"'
    st, h, body = registry.http("GET", "/v2/")
    assert st == 401, (st, body)
    assert header(h, "WWW-Authenticate") == realm
    assert header(h, "Docker-Distribution-API-Version") == "registry/2.0"
    assert json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"
    # a repository route names its scope in the challenge
    st, h, _ = registry.http("GET", f"/v2/{MODEL}/manifests/{TAG}")
    assert st == 401
    assert header(h, "WWW-Authenticate") == f'{realm},scope="repository:{MODEL}:pull"'

    # what skopeo and oras send: Basic ci:TOKEN to the realm with service, scope and account
    basic = "Basic " + base64.b64encode(f"ci:{oci.token}".encode()).decode()
    st, h, body = registry.http("GET", f"/v2/token?service={oci.host}&scope=repository:{MODEL}:pull&account=ci",
                                headers={"Authorization": basic})
    assert st == 200, (st, body)
    answer = json.loads(body)
    assert answer["token"] == answer["access_token"] == oci.token
    assert 60 <= answer["expires_in"] <= 3600 and answer["issued_at"]
    st, _, _ = registry.http("GET", "/v2/token")
    assert st == 401
    for auth in (f"Bearer {answer['token']}", basic):
        st, h, _ = registry.http("GET", "/v2/", headers={"Authorization": auth})
        assert st == 200 and header(h, "Docker-Distribution-API-Version") == "registry/2.0"


# ---- skopeo -------------------------------------------------------------------------------------

def test_skopeo_inspect_raw_prints_the_manifest_whose_digest_the_registry_records(registry, oci, skopeo):
    raw = skopeo.inspect_raw(oci, oci.ref())
    st, h, served = get_manifest(registry, oci, TAG)
    assert st == 200 and raw == served, (raw[:200], served[:200])
    assert sha256(raw) == oci.digest == header(h, "Docker-Content-Digest")
    assert header(h, "Content-Type") == IMAGE_MANIFEST
    # skopeo's own digest of those bytes, and the same bytes by digest
    (skopeo.work / "m.json").write_bytes(raw)
    assert skopeo.run("manifest-digest", skopeo.work / "m.json").stdout.decode().strip() == oci.digest
    assert skopeo.inspect_raw(oci, f"docker://{oci.host}/{MODEL}@{oci.digest}") == raw

    m = json.loads(raw)
    assert m["mediaType"] == IMAGE_MANIFEST and m["artifactType"] == MODEL_ARTIFACT
    assert m["config"]["mediaType"] == MODEL_CONFIG
    layers = {layer["annotations"][TITLE]: layer for layer in m["layers"]}
    assert {p: (layer["digest"], layer["size"]) for p, layer in layers.items()} == {
        p: (sha256(b), len(b)) for p, b in oci.files.items()}
    for path, layer in layers.items():
        assert layer["annotations"][FILEPATH] == path
        assert layer["mediaType"] == f"application/vnd.cncf.model.{KINDS[path]}.v1.raw", path
    # the same as the registry's own manifest of that version
    assert {p: d for p, (d, _) in registry.manifest(MODEL, LABEL).items()} == {
        p: layer["digest"].removeprefix("sha256:") for p, layer in layers.items()}


def test_skopeo_copy_to_a_directory_gets_every_blob_intact(oci, skopeo, tmp_path):
    out = tmp_path / "sk"
    skopeo.run("copy", "--src-tls-verify=false", "--src-creds", oci.creds, oci.ref(), f"dir:{out}")
    manifest = (out / "manifest.json").read_bytes()
    assert sha256(manifest) == oci.digest
    m = json.loads(manifest)
    blobs = {p.name: p.read_bytes() for p in out.iterdir() if p.name not in ("manifest.json", "version")}
    for name, body in blobs.items():
        assert sha256(body) == f"sha256:{name}", f"{name} does not hash to its name"
    layer_digests = {layer["digest"] for layer in m["layers"]}
    assert layer_digests == {sha256(b) for b in oci.files.values()}
    assert set(blobs) == {d.removeprefix("sha256:") for d in layer_digests | {m["config"]["digest"]}}
    config = json.loads(blobs[m["config"]["digest"].removeprefix("sha256:")])
    assert config["descriptor"] == {"name": MODEL, "version": LABEL}
    assert config["modelfs"] == {"type": "layers", "diffIds": [layer["digest"] for layer in m["layers"]]}


def test_labels_with_plus_and_aliases_are_tags(registry, oci, skopeo):
    listed = json.loads(skopeo.run("list-tags", "--tls-verify=false", "--creds", oci.creds,
                                   f"docker://{oci.host}/{MODEL}").stdout)
    assert listed["Tags"] == sorted(["1.0_cu121", "2.0", "production"])  # byte order
    raw = {tag: skopeo.inspect_raw(oci, oci.ref(tag)) for tag in ("1.0_cu121", "production", "2.0")}
    assert sha256(raw["1.0_cu121"]) == sha256(raw["production"]) == oci.digest
    assert sha256(raw["2.0"]) == oci.digest2 != oci.digest
    assert json.loads(raw["2.0"])["annotations"]["org.opencontainers.image.version"] == "2.0"
    assert json.loads(raw["1.0_cu121"])["annotations"]["org.opencontainers.image.version"] == LABEL
    # the label itself is no tag (`+` is outside the tag grammar): the server answers MANIFEST_UNKNOWN
    st, _, body = get_manifest(registry, oci, "1.0+cu121")
    assert st == 404 and json.loads(body)["errors"][0]["code"] == "MANIFEST_UNKNOWN", (st, body)


# ---- oras-py ------------------------------------------------------------------------------------

def test_oras_pull_names_files_by_title_including_subdirectories(oci, tmp_path, monkeypatch):
    r = oras_client(oci, tmp_path / "home", monkeypatch)
    out = tmp_path / "oras"
    pulled = r.pull(target=f"{oci.host}/{MODEL}:{TAG}", outdir=str(out))
    assert sorted(Path(p).relative_to(out).as_posix() for p in pulled) == sorted(oci.files)
    assert {p: sha256(b) for p, b in files_of(out).items()} == {p: sha256(b) for p, b in oci.files.items()}
    assert r.get_tags(f"{oci.host}/{MODEL}") == sorted(["1.0_cu121", "2.0", "production"])


def test_the_oms_signature_is_a_referrer_and_model_signing_verifies_the_pulled_files(
        registry, oci, tmp_path, monkeypatch):
    r = oras_client(oci, tmp_path / "home", monkeypatch)
    out = tmp_path / "oras"
    r.pull(target=f"{oci.host}/{MODEL}:{TAG}", outdir=str(out))

    base = f"http://{oci.host}/v2/{MODEL}"
    # the query is form-encoded, as oras-go and containers/image build it: `+` is sent as %2B
    query = urllib.parse.urlencode({"artifactType": BUNDLE})
    resp = r.do_request(f"{base}/referrers/{oci.digest}?{query}", "GET")
    assert resp.status_code == 200, (resp.status_code, resp.text)
    assert resp.headers.get("Content-Type") == IMAGE_INDEX
    assert resp.headers.get("OCI-Filters-Applied") == "artifactType"
    index = resp.json()
    assert index["schemaVersion"] == 2 and index["mediaType"] == IMAGE_INDEX
    assert [d["artifactType"] for d in index["manifests"]] == [BUNDLE], index
    ref = index["manifests"][0]
    assert ref["mediaType"] == IMAGE_MANIFEST
    assert ref["annotations"]["dev.sigstore.bundle.predicateType"] == OMS
    # the same bytes with the token as a plain Bearer credential
    st, _, plain = registry.http("GET", f"/v2/{MODEL}/referrers/{oci.digest}?{query}", token=oci.token)
    assert st == 200 and plain == resp.content
    # without the filter: the OMS bundle and the SLSA provenance `--sign-key` made, and no filter header
    resp = r.do_request(f"{base}/referrers/{oci.digest}", "GET")
    assert resp.status_code == 200 and "OCI-Filters-Applied" not in resp.headers
    everything = resp.json()["manifests"]
    assert ref in everything and len(everything) >= 2, everything
    assert {d["annotations"].get("dev.sigstore.bundle.predicateType") for d in everything} >= {OMS, SLSA}

    # the referrer's manifest, by digest
    resp = r.do_request(f"{base}/manifests/{ref['digest']}", "GET", headers={"Accept": IMAGE_MANIFEST})
    assert resp.status_code == 200, (resp.status_code, resp.text)
    body = resp.content
    assert sha256(body) == ref["digest"] == resp.headers.get("Docker-Content-Digest") and len(body) == ref["size"]
    m = json.loads(body)
    assert m["artifactType"] == BUNDLE and m["config"] == EMPTY
    assert m["subject"] == {"mediaType": IMAGE_MANIFEST, "digest": oci.digest,
                            "size": len(get_manifest(registry, oci, TAG)[2])}
    assert [layer["mediaType"] for layer in m["layers"]] == [BUNDLE]
    assert r.get_blob(f"{oci.host}/{MODEL}", EMPTY["digest"]).content == b"{}"

    # its one layer is the exact bundle `registry push --signature-out` wrote
    layer = m["layers"][0]
    blob = r.get_blob(f"{oci.host}/{MODEL}", layer["digest"])
    assert blob.status_code == 200
    assert sha256(blob.content) == layer["digest"] and len(blob.content) == layer["size"]
    assert blob.content == oci.push_sig
    (tmp_path / "model.sig").write_bytes(blob.content)

    def model_signing_verify(d: Path):
        return subprocess.run([str(BIN / "model_signing"), "--log-level", "WARNING", "verify", "key", str(d),
                               "--signature", str(tmp_path / "model.sig"), "--public_key", str(oci.pub)],
                              capture_output=True, text=True, timeout=120)

    ok = model_signing_verify(out)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    changed = tmp_path / "changed"
    shutil.copytree(out, changed)
    (changed / "tokenizer" / "tokenizer.json").write_bytes(b"{}")
    assert model_signing_verify(changed).returncode != 0, "model_signing accepted a changed file"


# ---- modelpack-client ---------------------------------------------------------------------------

def test_modelpack_client_pulls_a_valid_modelpack_artifact(registry, oci, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    creds = tmp_path / "docker.json"
    c = ModelPackClient(insecure=True)
    c.login(oci.host, "ci", oci.token, config_path=creds)
    out = tmp_path / "mp"
    result = c.pull(f"{oci.host}/{MODEL}:{TAG}", out, config_path=creds)
    assert files_of(out) == oci.files
    assert sorted(Path(p).relative_to(out.resolve()).as_posix() for p in result.files) == sorted(oci.files)
    assert result.config["descriptor"] == {"name": MODEL, "version": LABEL}
    assert result.manifest == json.loads(get_manifest(registry, oci, TAG)[2])
    # and by digest (it checks the bytes against the reference)
    again = c.pull(f"{oci.host}/{MODEL}@{oci.digest}", tmp_path / "mp2", config_path=creds)
    assert files_of(tmp_path / "mp2") == oci.files and again.manifest == result.manifest


# ---- tampering ----------------------------------------------------------------------------------

def test_a_changed_stored_byte_fails_skopeo_and_modelpack_and_the_oras_files_hash_check(
        registry, oci, skopeo, tmp_path, monkeypatch):
    model = f"{NS}/tamper"
    files = write_model(tmp_path / "model", os.urandom(8).hex())
    registry.cli("push", tmp_path / "model", "--model", model, "--version", "1")
    ref = f"docker://{oci.host}/{model}:1"
    skopeo.run("copy", "--src-tls-verify=false", "--src-creds", oci.creds, ref, f"dir:{tmp_path / 'before'}")

    digest = sha256(files["model.safetensors"])
    stored = [p for p in registry.data_dir.rglob(digest.removeprefix("sha256:")) if p.is_file()]
    assert len(stored) == 1, f"expected one stored object for {digest} under {registry.data_dir}: {stored}"
    original = stored[0].read_bytes()
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 0x01
    stored[0].write_bytes(bytes(flipped))
    try:
        failed = skopeo.run("copy", "--src-tls-verify=false", "--src-creds", oci.creds, ref,
                            f"dir:{tmp_path / 'after'}", check=False)
        err = failed.stderr.decode(errors="replace")
        assert failed.returncode != 0, "skopeo copied a blob whose bytes do not match its digest"
        assert "digest did not match" in err.lower() and digest.removeprefix("sha256:") in err, err

        # oras-py 0.2.43 writes what it is served without checking digests: the hash check of the pulled
        # files is what catches it
        r = oras_client(oci, tmp_path / "home", monkeypatch)
        out = tmp_path / "oras"
        r.pull(target=f"{oci.host}/{model}:1", outdir=str(out))
        pulled = files_of(out)
        assert set(pulled) == set(files)
        assert {p for p, b in pulled.items() if sha256(b) != sha256(files[p])} == {"model.safetensors"}

        creds = tmp_path / "docker.json"
        c = ModelPackClient(insecure=True)
        c.login(oci.host, "ci", oci.token, config_path=creds)
        with pytest.raises(InvalidModelPackError, match="digest mismatch"):
            c.pull(f"{oci.host}/{model}:1", tmp_path / "mp", config_path=creds)
    finally:
        stored[0].write_bytes(original)
