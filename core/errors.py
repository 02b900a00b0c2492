"""The registry's domain errors, each of one kind (models/errors.py).

web/errors.py gives each its OCI code on /v2 (the spec's finer codes are keyed by these
classes) and its Harbor code elsewhere.
"""

from __future__ import annotations

from models import errors as kinds
from models.errors import InvalidInput, NotFound, TooLarge, Unavailable


class BlobUnknown(NotFound):
    def __init__(self, digest: str) -> None:
        super().__init__("blob unknown to registry", {"digest": digest})


class BlobBeingCollected(Unavailable):
    """An upload waited too long for a garbage collection deleting the same blob."""

    def __init__(self, digest: str) -> None:
        super().__init__(
            "the blob is being garbage-collected; retry the upload", {"digest": digest}
        )


class BlobUploadUnknown(NotFound):
    def __init__(self, session_id: str) -> None:
        super().__init__("blob upload unknown to registry", {"uuid": session_id})


class BlobUploadInvalid(InvalidInput):
    def __init__(self, reason: str) -> None:
        super().__init__("blob upload invalid", {"reason": reason})


class ChunkOutOfOrder(InvalidInput):
    """A chunk that does not start where the upload stands (416 with the Range it stands at)."""

    def __init__(self, reason: str, current_size: int) -> None:
        super().__init__("chunk does not continue the upload", {"reason": reason})
        self.current_size = current_size


class RangeInvalid(InvalidInput):
    """A read range that lies outside the blob (416 with the blob's size)."""

    def __init__(self, requested: str, size: int) -> None:
        super().__init__("requested range not satisfiable", {"range": requested})
        self.size = size


class DigestInvalid(InvalidInput):
    def __init__(self, reason: str, digest: str | None = None) -> None:
        super().__init__(
            "provided digest did not match uploaded content", {"reason": reason, "digest": digest}
        )


class ManifestInvalid(InvalidInput):
    def __init__(self, reason: str) -> None:
        super().__init__("manifest invalid", {"reason": reason})


class ManifestBlobUnknown(InvalidInput):
    """The manifest is refused (400) because it names content the repository lacks."""

    def __init__(self, digest: str) -> None:
        super().__init__(
            "manifest references a blob or manifest unknown to the repository", {"digest": digest}
        )


class ManifestUnknown(NotFound):
    def __init__(self, reference: str, reason: str | None = None) -> None:
        detail: dict[str, str] = {"reference": reference}
        if reason:
            detail["reason"] = reason
        super().__init__("manifest unknown", detail)


class ManifestTooLarge(TooLarge):
    def __init__(self, limit: int) -> None:
        super().__init__("manifest too large", {"limit_bytes": limit})


class NameInvalid(InvalidInput):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__("invalid repository name", {"name": name, "reason": reason})


class NameUnknown(NotFound):
    def __init__(self, name: str, reason: str = "repository name not known to registry") -> None:
        super().__init__(reason, {"name": name})


class SizeInvalid(InvalidInput):
    def __init__(self, reason: str) -> None:
        super().__init__("provided length did not match content length", {"reason": reason})


class TagInvalid(InvalidInput):
    def __init__(self, tag: str) -> None:
        super().__init__("manifest tag did not match grammar", {"tag": tag})


class TooManyTags(TooLarge):
    """More `tag` parameters on one manifest PUT than Berth sets at once (414: the
    distribution spec allows it for too many tags)."""

    def __init__(self, count: int, limit: int) -> None:
        super().__init__("too many tags in one request", {"tags": count, "limit": limit})


class PaginationInvalid(InvalidInput):
    def __init__(self, reason: str) -> None:
        super().__init__("invalid pagination parameters", {"reason": reason})


class Unauthorized(kinds.Unauthorized):
    """No or bad credentials; challenge is the WWW-Authenticate value that says where to go."""

    def __init__(
        self,
        reason: str = "authentication required",
        challenge: str | None = None,
        detail: object = None,
    ) -> None:
        super().__init__(reason, detail)
        self.challenge = challenge


class Denied(kinds.Denied):
    def __init__(self, reason: str = "requested access to the resource is denied") -> None:
        super().__init__(reason)


class Unsupported(kinds.Unsupported):
    def __init__(self, reason: str) -> None:
        super().__init__("the operation is unsupported", {"reason": reason})


class PolicyViolation(kinds.PreconditionFailed):
    """A pull the project's policy refuses (412 PROJECTPOLICYVIOLATION, as Harbor answers):
    an artifact without a valid signature from a key the project trusts."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class SignedInNotary(kinds.PreconditionFailed):
    """A delete that would remove a tag (or the artifact a tag names) that Docker Content
    Trust data signs (412, as Harbor refuses it): the signature goes first, through Notary."""

    def __init__(self, repository: str, tag: str | None = None, digest: str | None = None) -> None:
        detail = {"repository": repository}
        detail.update({k: v for k, v in (("tag", tag), ("digest", digest)) if v})
        super().__init__("the tag is signed in Notary: remove its signature first", detail)


class ReadOnlyMode(Unavailable):
    """A change asked while the system is in read-only mode (the `read_only` setting): 503."""

    def __init__(self) -> None:
        super().__init__("The system is in read only mode. Any modification is prohibited.")


class TagImmutable(kinds.PreconditionFailed):
    """A push that would move, or a delete that would remove, a tag an immutability rule
    protects (412, as Harbor; its words, which docker shows)."""

    def __init__(self, repository: str, tag: str, action: str | None = None) -> None:
        if action is None:
            message = (
                f"Failed to process request due to '{repository}:{tag}' configured as immutable."
            )
        else:
            message = f"the tag {tag} configured as immutable, cannot be {action}"
        super().__init__(message, {"repository": repository, "tag": tag})
