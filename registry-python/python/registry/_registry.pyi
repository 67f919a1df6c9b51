"""Type stubs of the native module (a pyo3 binding of registry-client). Use the ``registry`` package's
typed wrappers rather than this module directly: results here are JSON text."""

from os import PathLike
from typing import Callable, List, Optional, Sequence, Tuple, Union

_Path = Union[str, "PathLike[str]"]
_Progress = Callable[[str, int, int], object]

__version__: str

def digest_file(path: _Path) -> str: ...
def verify_bundle(
    bundle: _Path, artifact: _Path, trusted_root: _Path, trusted_identities: List[str], claims: List[str]
) -> str: ...

class Client:
    def __init__(self, url: Optional[str] = None, token: Optional[str] = None) -> None: ...
    @property
    def url(self) -> str: ...
    def push(
        self,
        dir: _Path,
        model: str,
        version: str,
        lineage: str,
        metadata: str,
        sign_key: Optional[_Path] = None,
        attest: Sequence[_Path] = ...,
        started_on: Optional[str] = None,
        finished_on: Optional[str] = None,
        signature_out: Optional[_Path] = None,
        jobs: int = 4,
        progress_cb: Optional[_Progress] = None,
    ) -> Tuple[str, List[str]]: ...
    def pull(
        self,
        reference: str,
        dir: _Path,
        trusted_keys: Sequence[_Path] = ...,
        require_predicates: Sequence[str] = ...,
        allow_unsigned_files: bool = False,
        allow_quarantined: bool = False,
        force: bool = False,
        signature_out: Optional[_Path] = None,
        jobs: int = 4,
        progress_cb: Optional[_Progress] = None,
        trust_roots: Sequence[_Path] = ...,
        trusted_identities: Sequence[str] = ...,
        claims: Sequence[str] = ...,
    ) -> Tuple[str, List[str]]: ...
    def verify(
        self,
        reference: str,
        dir: Optional[_Path] = None,
        trusted_keys: Sequence[_Path] = ...,
        require_predicates: Sequence[str] = ...,
        allow_unsigned_files: bool = False,
        allow_quarantined: bool = False,
        log_key: Optional[str] = None,
        trust_roots: Sequence[_Path] = ...,
        trusted_identities: Sequence[str] = ...,
        claims: Sequence[str] = ...,
    ) -> str: ...
    def promote(
        self, reference: str, to: str, reason: str = "", expect_current: Optional[str] = None
    ) -> str: ...
    def rollback(self, model: str, alias: str, reason: str = "") -> str: ...
    def show(self, reference: str) -> str: ...
    def ls(self, target: Optional[str] = None, prefix: Optional[str] = None) -> str: ...
    def affected(self, kind: str, seed: str) -> str: ...
    def bundle(self, reference: str, output: Optional[_Path] = None) -> Tuple[str, str]: ...
