"""Errors of identity and permission; web/errors.py maps them to statuses and codes."""

from __future__ import annotations

from typing import Any


class AccessError(Exception):
    """Base of access errors; message is safe to show."""

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class AuthenticationFailed(AccessError):
    """Wrong credentials, an unknown user, or a bad token: 401."""

    def __init__(self, reason: str = "invalid credentials") -> None:
        super().__init__(reason)


class LoginThrottled(AccessError):
    """Too many failed logins for this user or address: 429."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "too many failed login attempts; try again later", {"retry_after_seconds": retry_after}
        )
        self.retry_after = retry_after


class Forbidden(AccessError):
    """Authenticated, but the role does not allow it: 403."""

    def __init__(self, reason: str = "the role does not allow this") -> None:
        super().__init__(reason)


class PasswordPolicyViolation(AccessError):
    """A new password that breaks the policy: 400."""


class InvalidInput(AccessError):
    """A request the service cannot accept as given: 400 with the reason."""


class NotFound(AccessError):
    """The named user, robot, member or group does not exist (or is not visible): 404."""


class AlreadyExists(AccessError):
    """A name or member that is taken: 409."""


class DirectoryUnavailable(AccessError):
    """The LDAP / Active Directory server cannot be reached: 503."""

    def __init__(self, reason: str) -> None:
        super().__init__("the directory server is unavailable", {"reason": reason})
