"""ASGI entry for multi-process serving: each worker builds the app from the environment."""

from ops.logging import configure_logging
from ops.settings import load_settings
from web.app import create_app
from workers.runtime import server_jobs

settings = load_settings()
configure_logging(settings.log_level)
app = create_app(
    settings,
    server_jobs(
        settings.broker_url,
        settings.broker_namespace,
        settings.job_threads,
        settings.schedules,
        settings.job_backoff_seconds,
        settings.job_lease_seconds,
    ),
)
