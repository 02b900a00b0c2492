"""Errors of identity and permission, each of one kind (models/errors.py).

InvalidInput, NotFound and AlreadyExists are the kinds themselves, re-exported so that the
access room names its errors from one place.
"""

from __future__ import annotations

from models.errors import (
    AlreadyExists,
    Denied,
    InvalidInput,
    NotFound,
    Throttled,
    Unauthorized,
    Unavailable,
)

__all__ = [
    "AlreadyExists",
    "AuthenticationFailed",
    "DirectoryUnavailable",
    "Forbidden",
    "InvalidInput",
    "LOGIN_FAILURES",
    "LoginThrottled",
    "NotFound",
    "PasswordPolicyViolation",
]


class AuthenticationFailed(Unauthorized):
    """Wrong credentials, an unknown user, or a bad token."""

    def __init__(self, reason: str = "invalid credentials") -> None:
        super().__init__(reason)


class LoginThrottled(Throttled):
    """Too many failed logins for this user or address; retry_after is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "too many failed login attempts; try again later", {"retry_after_seconds": retry_after}
        )
        self.retry_after = retry_after


class Forbidden(Denied):
    """Authenticated, but the role does not allow it."""

    def __init__(self, reason: str = "the role does not allow this") -> None:
        super().__init__(reason)


class PasswordPolicyViolation(InvalidInput):
    """A new password that breaks the policy."""


class DirectoryUnavailable(Unavailable):
    """The LDAP / Active Directory server cannot be reached."""

    def __init__(self, reason: str) -> None:
        super().__init__("the directory server is unavailable", {"reason": reason})


# What a credential check raises when the login does not happen: recorded as a failed login,
# never as a failed attempt at the operation the caller wanted.
LOGIN_FAILURES = (AuthenticationFailed, LoginThrottled, DirectoryUnavailable)
