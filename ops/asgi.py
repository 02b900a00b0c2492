"""ASGI entry for multi-process serving: each worker builds the app from the environment."""

from ops.jobs import jobs_factory
from ops.logging import configure_logging
from ops.settings import load_settings
from web.app import create_app

settings = load_settings()
configure_logging(settings.log_level)
app = create_app(settings, jobs_factory(settings))
