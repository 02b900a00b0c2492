"""ASGI entry for multi-process serving: each worker builds the app from the environment."""

import sys

# httpx imports its command line (click, rich, pygments: ~6 MB per process) whenever those
# are installed, as they are for `berth`'s own CLI; a server process never runs it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

from ops.jobs import jobs_factory  # noqa: E402
from ops.logging import configure_logging  # noqa: E402
from ops.settings import load_settings  # noqa: E402
from web.app import create_app  # noqa: E402

settings = load_settings()
configure_logging(settings.log_level)
app = create_app(settings, jobs_factory(settings))
