"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import asyncio
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from access.errors import PasswordPolicyViolation

# argon2id with OWASP's recommended floor (19 MiB, 2 passes, 1 lane): each verification
# costs ~20 ms and 19 MiB instead of the library default's 64 MiB, which mattered when every
# server process verifies a pushing client's first request. Stored hashes keep their own
# parameters, so older hashes still verify.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
MIN_LENGTH = 8
MAX_LENGTH = 128


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when password matches; False for a wrong password or an unusable hash."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    """verify_password on a worker thread (argon2 releases the GIL): the loop keeps serving."""
    return await asyncio.to_thread(verify_password, password_hash, password)


def check_password_policy(password: str) -> None:
    """8 to 128 characters with an upper-case letter, a lower-case letter and a digit."""
    problems = []
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        problems.append(f"be {MIN_LENGTH} to {MAX_LENGTH} characters long")
    if not re.search(r"[A-Z]", password):
        problems.append("contain an upper-case letter")
    if not re.search(r"[a-z]", password):
        problems.append("contain a lower-case letter")
    if not re.search(r"[0-9]", password):
        problems.append("contain a digit")
    if problems:
        raise PasswordPolicyViolation("the password must " + ", ".join(problems))
