"""The SDK's exceptions. The native module raises these (never a bare RuntimeError for an API answer)."""

from __future__ import annotations

from typing import Any, List, Optional

__all__ = ["RegistryError", "ApiError", "PolicyDenied", "VerificationError"]


class RegistryError(Exception):
    """Anything the registry client could not do that is neither an API answer nor a verification
    failure (the registry unreachable, an answer that is not the API)."""


class ApiError(RegistryError):
    """The registry answered with an error: ``code`` is its stable machine code (``forbidden``,
    ``not_found``, ...), ``status`` the HTTP status, ``details`` the structured details, if any."""

    def __init__(self, code: str, status: int, message: str, details: Any = None) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.code = code
        self.status = status
        self.message = message
        self.details = details

    def __reduce__(self) -> Any:
        return (type(self), (self.code, self.status, self.message, self.details))


class PolicyDenied(ApiError):
    """A promotion policy said no (code ``policy_denied``); ``reasons`` are the policy's words."""

    def __init__(self, code: str, status: int, message: str, details: Any = None) -> None:
        super().__init__(code, status, message, details)
        raw = details.get("reasons") if isinstance(details, dict) else None
        self.reasons: List[str] = [r for r in raw if isinstance(r, str)] if isinstance(raw, list) else []


class VerificationError(RegistryError):
    """Something did not verify: bytes, digests, signatures, the transparency log (the CLI's exit 3).
    ``report`` is the full verification report (``verify``), when there is one."""

    def __init__(self, message: str, report: Optional[Any] = None) -> None:
        super().__init__(message)
        self.message = message
        self.report = report

    def __reduce__(self) -> Any:
        return (type(self), (self.message, self.report))
