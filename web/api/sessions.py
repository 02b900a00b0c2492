"""Sign-in for the API and the dashboard: POST /c/login, GET /c/log_out, the CSRF token.

The session lives in the cookie itself, signed with the key in `<data_dir>/keys/session.key`,
so any replica can read it. It carries the user id, a random session id (the CSRF token is
an HMAC of it) and a fingerprint of the password hash, so a password change ends every
session of that user. Sessions expire after an hour without an API call.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, URLSafeTimedSerializer
from quart import Blueprint, Request, Response, current_app, g, request

from access.errors import Forbidden
from access.policy import Identity
from access.users import identity_of
from core import audit
from models import User
from models.errors import InvalidInput
from signer.sealing import derive_secret, load_or_create_secret
from web.api import api
from web.auth import AuthServices, check_credentials, note_failed_login, record_login

COOKIE = "sid"
CSRF_HEADER = "X-Harbor-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_SECONDS = 3600

sign_in = Blueprint("sign_in", __name__, url_prefix="/c")


def load_or_create_session_key(path: Path, shared: bytes | None = None) -> bytes:
    """The 32-byte session key: derived from the cluster's shared secret when there is one
    (every node then opens every node's sessions), else the one at path (mode 0600),
    created on first use. Safe to repeat."""
    if shared is not None:
        return derive_secret(shared, "console session key")
    return load_or_create_secret(path)


@dataclass(frozen=True, slots=True)
class Session:
    user_id: int
    session_id: str
    fingerprint: str


class SessionStore:
    """Issues session cookies and resolves them to an identity."""

    def __init__(self, key: bytes, max_age: int = SESSION_SECONDS) -> None:
        self._key = key
        self._serializer = URLSafeTimedSerializer(key, salt="berth-session")
        self.max_age = max_age

    async def identity(self, request: Request) -> Identity | None:
        """The session's user, or None (no cookie, expired, user gone, password changed).

        Forbidden when an unsafe method lacks the CSRF token this session was given.
        Read once per request: handlers check the caller before an operation's transaction
        and again inside it.
        """
        if "Authorization" in request.headers:  # explicit credentials win over a cookie
            return None
        known: Identity | None = g.get("berth_session_identity")
        if known is not None:
            return known
        identity = await self._identity(request)
        g.berth_session_identity = identity
        return identity

    async def _identity(self, request: Request) -> Identity | None:
        session = self._read(request.cookies.get(COOKIE, ""))
        if session is None:
            return None
        user = await User.get_or_none(id=session.user_id)
        if user is None or not hmac.compare_digest(self._fingerprint(user), session.fingerprint):
            return None
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "").encode()
            if not hmac.compare_digest(sent, self.csrf_token(session).encode()):
                raise Forbidden(
                    f"CSRF token missing or wrong: send the {CSRF_HEADER} header "
                    "from a previous response of this session"
                )
        g.berth_session = session
        return await identity_of(user, request.remote_addr)

    def open(self, user: User) -> Session:
        return Session(user.id, secrets.token_urlsafe(16), self._fingerprint(user))

    def csrf_token(self, session: Session) -> str:
        return hmac.new(self._key, b"csrf:" + session.session_id.encode(), "sha256").hexdigest()

    def attach(self, response: Response, session: Session, secure: bool) -> None:
        """Set (or refresh) the cookie and hand out the CSRF token."""
        value = self._serializer.dumps([session.user_id, session.session_id, session.fingerprint])
        response.set_cookie(
            COOKIE,
            value,
            max_age=self.max_age,
            path="/",
            httponly=True,
            samesite="Lax",
            secure=secure,
        )
        response.headers[CSRF_HEADER] = self.csrf_token(session)

    def _read(self, raw: str) -> Session | None:
        if not raw:
            return None
        try:
            user_id, session_id, fingerprint = self._serializer.loads(raw, max_age=self.max_age)
            return Session(int(user_id), str(session_id), str(fingerprint))
        except (BadSignature, ValueError, TypeError):
            return None

    def _fingerprint(self, user: User) -> str:
        secret = (user.password_hash or user.ldap_dn or "").encode()
        return hmac.new(self._key, b"pw:" + secret, hashlib.sha256).hexdigest()[:32]


@sign_in.post("/login")
async def login() -> Response:
    """Sign in with the form fields principal and password; every attempt is recorded."""
    form = await request.form
    principal, password = form.get("principal", ""), form.get("password", "")
    auth: AuthServices = current_app.extensions["auth"]
    if not principal or not password:
        refused: Exception = InvalidInput("form fields principal and password are required")
    else:
        identity = await check_credentials(auth, principal, password, request.remote_addr)
        if identity.user_id is not None:
            return await _open_session(await User.get(id=identity.user_id))
        refused = Forbidden("robot accounts sign in to the registry, not here")
    note_failed_login(principal, refused)
    raise refused


async def _open_session(user: User) -> Response:
    await record_login(user.username)
    store: SessionStore = current_app.extensions["sessions"]
    response = Response("", status=200)
    store.attach(response, store.open(user), secure=request.scheme == "https")
    return response


@sign_in.get("/log_out")
async def log_out() -> Response:
    """End the session; recorded as a logout of its user (nothing to record without one)."""
    store: SessionStore = current_app.extensions["sessions"]
    identity = await store.identity(request)
    if identity is not None and identity.username:
        audit.identify(identity.username)
        await audit.record(audit.Event(audit.LOGOUT, audit.USER, identity.username))
    response = Response("", status=200)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Lax")
    return response


@api.after_request
async def refresh_session(response: Response) -> Response:
    """A cookie caller gets its CSRF token on every API response and a fresh expiry."""
    session: Session | None = g.get("berth_session")
    if session is not None and response.status_code != 401:
        store: SessionStore = current_app.extensions["sessions"]
        store.attach(response, session, secure=request.scheme == "https")
    return response
