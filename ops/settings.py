"""The one typed Settings object: a TOML config file plus BERTH_* environment variables."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.service import AuditOptions


class StorageSettings(BaseModel):
    model_config = {"frozen": True}

    driver: str = "filesystem"
    root: Path | None = None  # default: <data_dir>/storage


class UploadSettings(BaseModel):
    model_config = {"frozen": True}

    max_age_seconds: int = 24 * 3600  # abandoned sessions older than this are removed
    purge_interval_seconds: int = 3600
    flush_every_bytes: int = 64 * 1024 * 1024  # fdatasync while an upload arrives


class AuditSettings(BaseModel):
    model_config = {"frozen": True}

    search: str = "embedded"  # where events are searched: embedded | elasticsearch
    elasticsearch_url: str | None = None  # http://host:9200 (search = elasticsearch)
    elasticsearch_index: str = "berth-audit"  # alias; monthly indices <alias>-YYYY.MM
    index_interval_seconds: float = 1.0  # how often new events go to the search backend
    index_batch: int = 2000  # events per batch
    retention_days: int = 0  # purge events older than this; 0 keeps them forever
    purge_cron: str = "30 2 * * *"  # when the retention purge runs (UTC)
    syslog_address: str | None = None  # forward every event: udp://host:514 or tcp://host:601


class Settings(BaseSettings):
    """Everything that picks a backend or a limit. Built once, then passed in."""

    model_config = SettingsConfigDict(
        env_prefix="BERTH_", env_nested_delimiter="__", frozen=True, extra="ignore"
    )

    config_file: Path | None = None
    data_dir: Path = Path("data")
    listen: str = "127.0.0.1:5000"
    database_url: str | None = None  # default: SQLite file in the data folder
    workers: int = 0  # server processes; 0 = one per CPU core, at most 8
    log_level: str = "info"
    max_manifest_bytes: int = 4 * 1024 * 1024
    admin_password: SecretStr | None = None  # first start only; generated and printed if unset
    broker_url: str | None = None  # None: Dramatiq workers inside `berth serve`; redis://...
    broker_namespace: str = "berth"  # Redis key prefix of the job queue
    job_threads: int = 2  # Dramatiq worker threads per process
    job_backoff_seconds: float = 2.0  # first retry delay; doubles per attempt
    job_lease_seconds: float = 300.0  # a worker silent this long is taken to be dead
    scrub_cron: str = "0 3 * * *"  # re-hash stored blobs daily (UTC)
    scrub_rate_bytes: int = 64 * 1024 * 1024  # bytes/s the scrub may read
    token_ttl_seconds: int = 1800
    token_service: str = "berth-registry"
    token_issuer: str = "berth-token-service"
    self_registration: bool = False  # anybody may create a local account
    storage: StorageSettings = Field(default_factory=StorageSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("listen must be HOST:PORT")
        return value

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite://{self.data_dir.resolve() / 'berth.db'}"

    @property
    def server_processes(self) -> int:
        import os

        return self.workers or min(os.cpu_count() or 1, 8)

    @property
    def schedules(self) -> dict[str, tuple[str, str, dict[str, Any]]]:
        """Cron triggers: name -> (cron, job kind, job args)."""
        triggers = {"scrub": (self.scrub_cron, "scrub", {"rate": self.scrub_rate_bytes})}
        if self.audit.retention_days > 0:
            args = {"days": self.audit.retention_days}
            triggers["audit-purge"] = (self.audit.purge_cron, "audit-purge", args)
        return triggers

    @property
    def audit_options(self) -> AuditOptions:
        audit = self.audit
        return AuditOptions(
            audit.search,
            audit.elasticsearch_url,
            audit.elasticsearch_index,
            audit.index_batch,
            audit.syslog_address,
        )

    @property
    def keys_dir(self) -> Path:
        return (self.data_dir / "keys").resolve()

    @property
    def storage_root(self) -> Path:
        return (self.storage.root or self.data_dir / "storage").resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlFileSource(settings_cls))


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the file named by BERTH_CONFIG_FILE (or berth.toml in the working folder)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        import os

        path = Path(os.environ.get("BERTH_CONFIG_FILE", "berth.toml"))
        if not path.is_file():
            return {}
        with path.open("rb") as fh:
            return tomllib.load(fh)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once: explicit overrides > environment > config file > defaults."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
