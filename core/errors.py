"""Domain errors. web/errors.py maps each one to its OCI code and HTTP status."""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    """Base of every error a client can cause; message is safe to show."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class BlobUnknown(RegistryError):
    def __init__(self, digest: str) -> None:
        super().__init__("blob unknown to registry", {"digest": digest})


class BlobUploadUnknown(RegistryError):
    def __init__(self, session_id: str) -> None:
        super().__init__("blob upload unknown to registry", {"uuid": session_id})


class BlobUploadInvalid(RegistryError):
    def __init__(self, reason: str) -> None:
        super().__init__("blob upload invalid", {"reason": reason})


class ChunkOutOfOrder(RegistryError):
    """A chunk that does not start where the upload stands."""

    def __init__(self, reason: str, current_size: int) -> None:
        super().__init__("chunk does not continue the upload", {"reason": reason})
        self.current_size = current_size


class RangeInvalid(RegistryError):
    """A read range that lies outside the blob."""

    def __init__(self, requested: str, size: int) -> None:
        super().__init__("requested range not satisfiable", {"range": requested})
        self.size = size


class DigestInvalid(RegistryError):
    def __init__(self, reason: str, digest: str | None = None) -> None:
        super().__init__(
            "provided digest did not match uploaded content", {"reason": reason, "digest": digest}
        )


class ManifestInvalid(RegistryError):
    def __init__(self, reason: str) -> None:
        super().__init__("manifest invalid", {"reason": reason})


class ManifestBlobUnknown(RegistryError):
    def __init__(self, digest: str) -> None:
        super().__init__(
            "manifest references a blob or manifest unknown to the repository", {"digest": digest}
        )


class ManifestUnknown(RegistryError):
    def __init__(self, reference: str, reason: str | None = None) -> None:
        detail: dict[str, str] = {"reference": reference}
        if reason:
            detail["reason"] = reason
        super().__init__("manifest unknown", detail)


class ManifestTooLarge(RegistryError):
    def __init__(self, limit: int) -> None:
        super().__init__("manifest too large", {"limit_bytes": limit})


class NameInvalid(RegistryError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__("invalid repository name", {"name": name, "reason": reason})


class NameUnknown(RegistryError):
    def __init__(self, name: str, reason: str = "repository name not known to registry") -> None:
        super().__init__(reason, {"name": name})


class SizeInvalid(RegistryError):
    def __init__(self, reason: str) -> None:
        super().__init__("provided length did not match content length", {"reason": reason})


class TagInvalid(RegistryError):
    def __init__(self, tag: str) -> None:
        super().__init__("manifest tag did not match grammar", {"tag": tag})


class PaginationInvalid(RegistryError):
    def __init__(self, reason: str) -> None:
        super().__init__("invalid pagination parameters", {"reason": reason})


class Unauthorized(RegistryError):
    """No or bad credentials; challenge is the WWW-Authenticate value that says where to go."""

    def __init__(
        self,
        reason: str = "authentication required",
        challenge: str | None = None,
        detail: object = None,
    ) -> None:
        super().__init__(reason, detail)
        self.challenge = challenge


class Denied(RegistryError):
    def __init__(self, reason: str = "requested access to the resource is denied") -> None:
        super().__init__(reason)


class Unsupported(RegistryError):
    def __init__(self, reason: str) -> None:
        super().__init__("the operation is unsupported", {"reason": reason})


class NotFound(RegistryError):
    """A path that names no API endpoint."""

    def __init__(self, path: str) -> None:
        super().__init__("no such endpoint", {"path": path})
