"""registry: the Python SDK of the model registry.

Push, sign, verify and promote model versions from a training script, a notebook or a deploy step. The
SDK binds the Rust ``registry-client`` library, so every check (canonical JSON, OMS digests, DSSE, Sigstore
bundles, transparency-log proofs) is made by the same code as the ``registry`` CLI, with the same
defaults: ``REGISTRY_URL`` / ``REGISTRY_TOKEN`` / the CLI's stored login, and the CLI's log pin in its
config directory (``REGISTRY_CONFIG_DIR``). The GIL is released while a call waits on the network or
hashes; one ``Client`` may be shared by threads.

    import registry
    c = registry.Client()
    ds = registry.Dataset("s3://data/train.parquet", registry.digest_file("train.parquet"))
    v = c.push("out/", "acme/fraud", "1.4.0", datasets=[ds], sign_key="signer.key")
    c.pull("acme/fraud@production", "model/", trusted_keys=["signer.pub"])
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from . import _registry
from ._errors import ApiError, PolicyDenied, RegistryError, VerificationError

__all__ = [
    "Client",
    "Dataset",
    "Code",
    "Version",
    "Pulled",
    "Check",
    "Bundle",
    "Report",
    "ApiError",
    "PolicyDenied",
    "RegistryError",
    "VerificationError",
    "digest_file",
    "SigstoreReport",
    "verify_bundle",
]
__version__: str = _registry.__version__

PathArg = Union[str, "os.PathLike[str]"]
Scalar = Union[int, float, str]
ProgressCallback = Callable[[str, int, int], object]
"""``progress(phase, done_bytes, total_bytes)``; called from I/O threads while a transfer runs."""


def digest_file(path: PathArg) -> str:
    """Streamed SHA-256 of a file as ``sha256:<hex>`` (for a dataset's digest); releases the GIL."""
    return _registry.digest_file(path)


@dataclass(frozen=True)
class SigstoreReport:
    """What a verified Sigstore bundle says: its keyless signer and certificate claims, when it was signed."""

    identity: Optional[str]
    issuer: Optional[str]
    claims: Dict[str, str]
    integrated_time: Optional[str]
    predicate_type: Optional[str]


def verify_bundle(
    bundle: PathArg,
    artifact: PathArg,
    trusted_root: PathArg,
    trusted_identities: Sequence[str],
    claims: Optional[Mapping[str, str]] = None,
) -> SigstoreReport:
    """Verifies a Sigstore bundle (cosign, GitHub Actions attestations, model_signing) over ``artifact``
    offline against ``trusted_root`` (a ``trusted_root.json``), as ``registry verify-bundle`` does.

    The signer must be one of ``trusted_identities``, each ``"ISSUER=SUBJECT_REGEX"`` (the pattern must
    match the whole certificate subject), and carry every ``claims`` entry (snake_case Fulcio names such as
    ``source_repository_ref``). A refusal raises ``VerificationError`` naming its reason
    (``untrusted_identity``, ``certificate_chain``, ``sct``, ``no_signing_time``, ``tlog_proof``,
    ``signature``, ``subject_mismatch``)."""
    pairs = [f"{k}={v}" for k, v in (claims or {}).items()]
    raw = _registry.verify_bundle(
        os.fspath(bundle), os.fspath(artifact), os.fspath(trusted_root), list(trusted_identities), pairs
    )
    r = json.loads(raw)
    return SigstoreReport(
        identity=r.get("identity"),
        issuer=r.get("issuer"),
        claims=dict(r.get("claims") or {}),
        integrated_time=r.get("integrated_time"),
        predicate_type=r.get("predicate_type"),
    )


@dataclass(frozen=True)
class Dataset:
    """A dataset a version was trained or evaluated on: where it lives and its ``sha256:`` digest."""

    uri: str
    digest: str
    role: str = "train"


@dataclass(frozen=True)
class Code:
    """The training code: repository URL and full commit id (40 or 64 hex), optionally a path in it."""

    repo: str
    commit: str
    path: Optional[str] = None


@dataclass(frozen=True)
class Version:
    """What a push recorded. ``record`` is the version as the registry returned it (``registry show``)."""

    model: str
    version: str
    manifest_digest: str
    created: bool
    files: int
    bytes: int
    blobs_uploaded: int
    bytes_uploaded: int
    attestations: int
    record: Dict[str, Any]
    notes: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pulled:
    """What a pull wrote, every byte verified: the version record, the directory, files and bytes."""

    record: Dict[str, Any]
    dir: str
    files: int
    bytes: int
    logged_at: Optional[str]
    warnings: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class Bundle:
    """An auditor bundle (as ``registry bundle`` writes it) and the pinned log key to check it with."""

    bundle: Dict[str, Any]
    log_key: str


@dataclass(frozen=True)
class Check:
    """One check of a verification."""

    ok: bool
    what: str


@dataclass(frozen=True)
class Report:
    """A verification that passed (a failed one raises ``VerificationError``): every check made."""

    version: str
    manifest_digest: str
    ok: bool
    checks: List[Check]


def _scalars(what: str, values: Optional[Mapping[str, Scalar]]) -> Dict[str, Scalar]:
    out: Dict[str, Scalar] = {}
    for k, v in (values or {}).items():
        # A bool is an int to Python but neither a number nor a string to the registry.
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            raise TypeError(f"{what}[{k!r}]: expected a number or a string, got {type(v).__name__}")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{what}[{k!r}]: {v} is not a finite number")
        out[str(k)] = v
    return out


def _paths(items: Optional[Sequence[PathArg]]) -> List[str]:
    return [os.fspath(p) for p in (items or [])]


def _opt_path(p: Optional[PathArg]) -> Optional[str]:
    return None if p is None else os.fspath(p)


def _notes(notes: List[str]) -> None:
    for n in notes:
        warnings.warn(f"registry: {n}", stacklevel=3)


class Client:
    """A connection to one registry. ``url`` defaults to ``REGISTRY_URL`` (else the CLI's default,
    ``http://127.0.0.1:8080``); ``token`` to ``REGISTRY_TOKEN``, else the token ``registry login``
    stored for that URL. Thread-safe."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None) -> None:
        self._native = _registry.Client(url, token)

    @property
    def url(self) -> str:
        """The registry's URL."""
        return self._native.url

    def __repr__(self) -> str:
        return f"registry.Client({self.url!r})"

    def push(
        self,
        dir: PathArg,
        model: str,
        version: str,
        *,
        datasets: Sequence[Dataset] = (),
        code: Optional[Code] = None,
        parents: Sequence[str] = (),
        params: Optional[Mapping[str, Scalar]] = None,
        metrics: Optional[Mapping[str, Scalar]] = None,
        run_id: Optional[str] = None,
        run_uri: Optional[str] = None,
        builder: Optional[str] = None,
        description: Optional[str] = None,
        labels: Optional[Mapping[str, str]] = None,
        sign_key: Optional[PathArg] = None,
        attest: Sequence[PathArg] = (),
        started_on: Optional[str] = None,
        finished_on: Optional[str] = None,
        signature_out: Optional[PathArg] = None,
        jobs: int = 4,
        progress: Optional[ProgressCallback] = None,
    ) -> Version:
        """Push directory ``dir`` as ``model@version`` (``registry push``): hash, upload what the
        registry lacks, record the lineage given (datasets, code, parents ``NS/NAME@V``, params,
        metrics, run), sign SLSA provenance and an OpenSSF Model Signing bundle with ``sign_key`` (PEM),
        attach attestations made elsewhere (``attest``), then read the version back through the pinned
        transparency log. ``signature_out`` also writes the OMS bundle (for ``model_signing verify``).
        Raises ``ApiError`` (``PolicyDenied`` never: pushes are not policy-gated), ``VerificationError``
        when the log does not show exactly what was pushed, ``ValueError`` on bad input."""
        if (run_uri is not None or builder is not None) and run_id is None:
            raise ValueError("run_uri and builder need run_id")
        if (started_on is not None or finished_on is not None or signature_out is not None) and sign_key is None:
            raise ValueError("started_on, finished_on and signature_out need sign_key")
        lineage: Dict[str, Any] = {
            "datasets": [{"uri": d.uri, "digest": d.digest, "role": d.role} for d in datasets],
            "parents": list(parents),
            "params": _scalars("params", params),
            "metrics": _scalars("metrics", metrics),
        }
        if code is not None:
            lineage["code"] = {"repo": code.repo, "commit": code.commit}
            if code.path is not None:
                lineage["code"]["path"] = code.path
        if run_id is not None:
            run: Dict[str, str] = {"id": run_id}
            if run_uri is not None:
                run["uri"] = run_uri
            if builder is not None:
                run["builder"] = builder
            lineage["run"] = run
        metadata: Dict[str, Any] = {"labels": dict(labels or {})}
        if description is not None:
            metadata["description"] = description
        out, notes = self._native.push(
            os.fspath(dir),
            model,
            version,
            json.dumps(lineage, allow_nan=False),
            json.dumps(metadata),
            _opt_path(sign_key),
            _paths(attest),
            started_on,
            finished_on,
            _opt_path(signature_out),
            jobs,
            progress,
        )
        _notes(notes)
        r = json.loads(out)
        v = r["version"]
        return Version(
            model=f"{v['namespace']}/{v['name']}",
            version=v["version"],
            manifest_digest=v["manifest_digest"],
            created=r["created"],
            files=r["files"],
            bytes=r["bytes"],
            blobs_uploaded=r["blobs_uploaded"],
            bytes_uploaded=r["bytes_uploaded"],
            attestations=r["attestations"],
            record=v,
            notes=notes,
        )

    def pull(
        self,
        ref: str,
        dir: PathArg,
        *,
        trusted_keys: Sequence[PathArg] = (),
        require_predicates: Sequence[str] = (),
        allow_unsigned_files: bool = False,
        allow_quarantined: bool = False,
        force: bool = False,
        signature_out: Optional[PathArg] = None,
        jobs: int = 4,
        progress: Optional[ProgressCallback] = None,
        trust_roots: Sequence[PathArg] = (),
        trusted_identities: Sequence[str] = (),
        claims: Sequence[str] = (),
    ) -> Pulled:
        """Download ``NS/NAME@VERSION`` (or ``@ALIAS``, ``@sha256:...``) into ``dir`` (``registry
        pull``): the version is first checked against the pinned transparency log and bound to what was
        asked; with ``trusted_keys`` (public keys, PEM; the CLI's ``--verify-with``) its attestations
        must verify with one of them (and every ``require_predicates`` type); every byte is hashed as it
        is written and nothing is placed at ``dir`` unless all of it verifies. Keyless attestations
        verify with ``trust_roots`` (Sigstore ``trusted_root.json`` files) and ``trusted_identities``
        (``ISSUER=SUBJECT_REGEX``, each requiring every ``claims`` ``NAME=VALUE``). Raises
        ``VerificationError`` (nothing written) or ``ApiError``."""
        if (require_predicates or allow_unsigned_files) and not (trusted_keys or trusted_identities):
            raise ValueError("require_predicates and allow_unsigned_files need trusted_keys or trusted_identities")
        out, notes = self._native.pull(
            ref,
            os.fspath(dir),
            _paths(trusted_keys),
            list(require_predicates),
            allow_unsigned_files,
            allow_quarantined,
            force,
            _opt_path(signature_out),
            jobs,
            progress,
            _paths(trust_roots),
            list(trusted_identities),
            list(claims),
        )
        _notes(notes)
        r = json.loads(out)
        return Pulled(
            record=r["version"],
            dir=r["dir"],
            files=r["files"],
            bytes=r["bytes"],
            logged_at=r.get("logged_at"),
            warnings=notes,
        )

    def verify(
        self,
        ref: str,
        dir: Optional[PathArg] = None,
        *,
        trusted_keys: Sequence[PathArg] = (),
        require_predicates: Sequence[str] = (),
        allow_unsigned_files: bool = False,
        allow_quarantined: bool = False,
        log_key: Optional[str] = None,
        trust_roots: Sequence[PathArg] = (),
        trusted_identities: Sequence[str] = (),
        claims: Sequence[str] = (),
    ) -> Report:
        """Check a version against the pinned transparency log (``registry verify``): the checkpoint,
        the version's and every attestation's inclusion, the attestations against ``trusted_keys``
        and keyless ``trusted_identities`` (with ``trust_roots`` and ``claims``, as for ``pull``),
        quarantine and corruption as the log has them, and ``dir`` (if given) against the manifest.
        Raises ``VerificationError`` (with ``.report``) on any failed check; returns the report."""
        out = self._native.verify(
            ref,
            _opt_path(dir),
            _paths(trusted_keys),
            list(require_predicates),
            allow_unsigned_files,
            allow_quarantined,
            log_key,
            _paths(trust_roots),
            list(trusted_identities),
            list(claims),
        )
        r = json.loads(out)
        return Report(
            version=r["version"],
            manifest_digest=r["manifest_digest"],
            ok=r["ok"],
            checks=[Check(ok=c["ok"], what=c["what"]) for c in r["checks"]],
        )

    def promote(self, ref: str, to: str, reason: str = "", *, expect_current: Optional[str] = None) -> Dict[str, Any]:
        """Move alias ``to`` to ``NS/NAME@VERSION`` if the promotion policies allow it (``registry
        promote``). Raises ``PolicyDenied`` (with ``.reasons``) when a policy says no."""
        result: Dict[str, Any] = json.loads(self._native.promote(ref, to, reason, expect_current))
        return result

    def rollback(self, model: str, alias: str, reason: str = "") -> Dict[str, Any]:
        """Move ``alias`` of ``NS/NAME`` back to its newest earlier target that still passes policy."""
        result: Dict[str, Any] = json.loads(self._native.rollback(model, alias, reason))
        return result

    def show(self, ref: str) -> Dict[str, Any]:
        """One version's record (``registry show --json``)."""
        result: Dict[str, Any] = json.loads(self._native.show(ref))
        return result

    def ls(self, target: Optional[str] = None, *, prefix: Optional[str] = None) -> List[Dict[str, Any]]:
        """Every model (of namespace ``target``, names starting with ``prefix``), or every version of
        ``target`` = ``NS/NAME`` (``registry ls --json``)."""
        result: List[Dict[str, Any]] = json.loads(self._native.ls(target, prefix))
        return result

    def affected(
        self,
        *,
        dataset: Optional[str] = None,
        commit: Optional[str] = None,
        key: Optional[str] = None,
        version: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Every version a dataset digest, commit, signer key id or version reached, through parents
        too (``registry affected``). Give exactly one seed."""
        seeds = [(k, v) for k, v in (("dataset", dataset), ("commit", commit), ("key", key), ("version", version)) if v is not None]
        if len(seeds) != 1:
            raise ValueError("give exactly one of dataset, commit, key, version")
        result: Dict[str, Any] = json.loads(self._native.affected(seeds[0][0], seeds[0][1]))
        return result

    def bundle(self, ref: str, output: Optional[PathArg] = None) -> Bundle:
        """The version's auditor bundle, checked against the pinned log first (``registry bundle``), for
        ``registry verify --offline --log-key``; written to ``output`` if given."""
        text, log_key = self._native.bundle(ref, _opt_path(output))
        return Bundle(bundle=json.loads(text), log_key=log_key)
