"""The dashboard: plain HTML pages, a CSS file and ES modules, served as they are.

There is no build step: `pages/` holds the HTML documents, `static/` the assets under
`/ui/assets/`. The pages hold no data; their scripts call the REST API with the session
cookie of `POST /c/login`, so the API's permission checks are the dashboard's too.
Register with `app.register_blueprint(ui)`.
"""

from __future__ import annotations

from pathlib import Path

from quart import Blueprint, Response, send_from_directory

HERE = Path(__file__).resolve().parent
PAGES = HERE / "pages"

# Scripts and styles only from our own origin and never inline, so injected markup cannot
# run; the API is the only thing the pages connect to; no page may be framed.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

ui = Blueprint("ui", __name__, static_folder="static", static_url_path="/ui/assets", url_prefix="")


@ui.get("/")
@ui.get("/ui/")
async def home() -> Response:
    """The dashboard starts at the audit log."""
    return Response("", status=302, headers={"Location": "/ui/audit"})


@ui.get("/ui/login")
async def login_page() -> Response:
    """The sign-in form."""
    return await _page("login.html")


@ui.get("/ui/audit")
async def audit_page() -> Response:
    """The audit log: filters, the events table, paging, CSV export."""
    return await _page("audit.html")


@ui.get("/ui/gc")
async def gc_page() -> Response:
    """Garbage collection: run now, the runs' history and logs, the schedule."""
    return await _page("gc.html")


@ui.get("/ui/replication")
async def replication_page() -> Response:
    """Replication: remote registries, rules, executions with their tasks and logs."""
    return await _page("replication.html")


async def _page(name: str) -> Response:
    return await send_from_directory(PAGES, name)


@ui.after_request
async def secure(response: Response) -> Response:
    """Every dashboard response carries the same security headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Pages and assets are small: revalidate each time, so an upgrade shows at once.
    response.headers.setdefault("Cache-Control", "no-cache")
    return response
