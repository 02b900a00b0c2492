"""The Quart application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from quart import Quart, Response, g, request

from access.accounts import AccountService
from access.ldap import directory_login
from access.tokens import TokenService, derived_key, load_or_create_key
from access.users import UserService
from core import audit
from core.service import Registry, close_registry, open_registry
from storage import StorageUnavailable
from web import read_only
from web.api import api
from web.api.health import count_request, metrics
from web.api.sessions import SessionStore, load_or_create_session_key, sign_in
from web.auth import AuthServices
from web.errors import install_error_handling
from web.hooks import hooks
from web.notary import notary
from web.params import RowId
from web.streaming import BoundedConnection, BoundedRequest
from web.token import token
from web.ui import ui
from web.v2.routes import v2

if TYPE_CHECKING:
    from ops.settings import Settings

log = logging.getLogger("berth.web")


class Jobs(Protocol):
    """The background-job runtime the server hosts (built by ops: web never imports workers)."""

    def wake(self) -> None: ...

    async def dispatch_forever(self) -> None: ...

    def stop(self) -> None: ...


JobsFactory = Callable[[Registry, asyncio.AbstractEventLoop], Jobs]


def create_app(settings: Settings, jobs_factory: JobsFactory | None = None) -> Quart:
    """Build the app; services are opened when it starts serving and closed when it stops."""
    app = Quart("berth")
    app.request_class = BoundedRequest
    app.asgi_http_class = BoundedConnection
    # Bodies stream to storage, so no global cap; the manifest handler enforces its own.
    app.config.update(MAX_CONTENT_LENGTH=None, BODY_TIMEOUT=3600, RESPONSE_TIMEOUT=None)
    app.extensions["max_manifest_bytes"] = settings.max_manifest_bytes
    app.extensions["settings"] = settings  # read by web/api/systeminfo.py
    if settings.storage.redirect:
        app.extensions["redirect_seconds"] = settings.storage.redirect_seconds
    app.url_map.converters["int"] = RowId  # before the routes that use it are added
    app.register_blueprint(v2)
    app.register_blueprint(token)
    app.register_blueprint(notary)  # /_notary_server/health; the trust API is below /v2/
    app.register_blueprint(api)
    app.register_blueprint(sign_in)
    app.register_blueprint(hooks)  # POST /hooks/replication/{id}: the CI trigger
    app.register_blueprint(metrics)  # GET /metrics for Prometheus
    app.register_blueprint(ui)  # the dashboard: /, /ui/login, /ui/audit, /ui/assets/
    _install_request_log(app)
    read_only.install(app)  # after the request log: a refused change is logged too
    install_error_handling(app)  # after the request log: its hooks need the request id
    _install_lifecycle(app, settings, jobs_factory)
    return app


def build_auth(settings: Settings) -> AuthServices:
    """The user and token services. The signing key is derived from secret_key when it is
    set (the key every node of a cluster shares, so that any node takes a token any node
    issued), else it lives in the data folder's keys/."""
    shared, path = _shared_secret(settings), settings.keys_dir / "token.pem"
    key = derived_key(shared, path) if shared else load_or_create_key(path)
    tokens = TokenService(
        key,
        settings.token_issuer,
        settings.token_service,
        settings.token_ttl_seconds,
        settings.notary_service,
    )
    users = UserService()
    users.directory = directory_login  # reads auth_mode per login: LDAP only in ldap_auth
    return AuthServices(users, tokens)


def _shared_secret(settings: Settings) -> bytes | None:
    """secret_key, when set: the one secret every node of a cluster is given alike."""
    return settings.secret_key.get_secret_value().encode() if settings.secret_key else None


def _install_lifecycle(app: Quart, settings: Settings, jobs_factory: JobsFactory | None) -> None:
    @app.before_serving
    async def start() -> None:
        storage = settings.storage_driver()
        app.extensions["registry"] = await open_registry(
            storage,
            settings.db_url,
            settings.uploads.flush_every_bytes,
            settings.audit_options,
            settings.gc.window,
            settings.sealing_keys(),
        )
        app.extensions["auth"] = build_auth(settings)
        app.extensions["sessions"] = SessionStore(
            load_or_create_session_key(settings.keys_dir / "session.key", _shared_secret(settings))
        )
        app.extensions["accounts"] = AccountService(
            app.extensions["auth"].users, settings.self_registration
        )
        app.extensions["purger"] = asyncio.create_task(_purge_uploads(app, settings))
        pulls = app.extensions["registry"].pulls
        app.extensions["pulls"] = asyncio.create_task(pulls.run_forever())
        if jobs_factory is not None:
            jobs = jobs_factory(app.extensions["registry"], asyncio.get_running_loop())
            app.extensions["jobs"] = jobs
            app.extensions["dispatcher"] = asyncio.create_task(jobs.dispatch_forever())

    @app.after_serving
    async def stop() -> None:
        for name in ("purger", "dispatcher", "pulls"):
            task = app.extensions.pop(name, None)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        jobs = app.extensions.pop("jobs", None)
        if jobs is not None:
            await asyncio.to_thread(jobs.stop)
        await close_registry(app.extensions.get("registry"))


async def _purge_uploads(app: Quart, settings: Settings) -> None:
    """Remove abandoned upload sessions older than the configured age, periodically."""
    max_age = timedelta(seconds=settings.uploads.max_age_seconds)
    while True:
        try:
            removed = await app.extensions["registry"].uploads.purge_stale(max_age)
            if removed:
                log.info("purged abandoned uploads", extra={"count": removed})
        except StorageUnavailable as exc:  # health says so; the next round tries again
            log.warning("upload purge skipped: %s", exc)
        except Exception:
            log.exception("upload purge failed")
        await asyncio.sleep(settings.uploads.purge_interval_seconds)


def _install_request_log(app: Quart) -> None:
    @app.before_request
    async def begin() -> None:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
        g.started = time.perf_counter()
        audit.begin_request(request.remote_addr, request.headers.get("User-Agent"))

    @app.after_request
    async def finish(response: Response) -> Response:
        response.headers["X-Request-Id"] = g.request_id
        if response.content_length == 0 and response.mimetype == "text/html":
            # Quart's default type, on an answer that has no body (201, 202, 204, ...).
            del response.headers["Content-Type"]
        response.headers.setdefault("Docker-Distribution-API-Version", "registry/2.0")
        count_request(request.blueprint, response.status_code)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "request_id": g.request_id,
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "remote": request.remote_addr,
                    "ms": round((time.perf_counter() - g.started) * 1000, 2),
                },
            )
        return response
