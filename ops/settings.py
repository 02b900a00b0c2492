"""The one typed Settings object: a TOML config file plus BERTH_* environment variables.

Every value is checked here, before anything starts: a bad one is a SettingsError whose lines
(ops/settings_errors.py) name the setting as the user wrote it and what it allows."""

from __future__ import annotations

import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic_settings
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from core.service import AuditOptions
from ops.settings_errors import SettingsError, check_environment, render_validation_error
from storage import S3Config, StorageDriver, build_driver

CONFIG_FILE = "berth.toml"  # read from the working folder unless BERTH_CONFIG_FILE names one


def _cron(value: str) -> str:
    from core.schedules import cron_problem

    if problem := cron_problem(value):
        raise ValueError(f"{problem}: use five fields, e.g. '0 3 * * *'")
    return value


def _url(*schemes: str) -> AfterValidator:
    def check(value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            allowed = " or ".join(s + "://" for s in schemes)
            scheme = parts.scheme or "a URL without a scheme"
            raise ValueError(f"{scheme} is not supported: use {allowed}")
        return value

    return AfterValidator(check)


Cron = Annotated[str, AfterValidator(_cron)]


def _sealing_key(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < 16:
        raise ValueError("must be at least 16 characters: a long random string")
    return value


SealingKey = Annotated[SecretStr, AfterValidator(_sealing_key)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
LogLevel = Annotated[
    Literal["debug", "info", "warning", "error", "critical"],
    BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v),
]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _bucket(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", value):
        raise ValueError("a bucket name is 3-63 lowercase letters, digits, '.' and '-'")
    return value


Bucket = Annotated[str, AfterValidator(_bucket)]


class StorageSettings(_Section):
    driver: Literal["filesystem", "s3"] = "filesystem"
    root: Path | None = None  # filesystem: default <data_dir>/storage
    # Distribution's option: blob GETs on /v2 answer 307 to a presigned URL (drivers that can
    # presign, i.e. s3; the filesystem driver serves the bytes itself)
    redirect: bool = False
    redirect_seconds: Annotated[int, Field(ge=10, le=3600)] = 300  # the URL's lifetime
    s3_endpoint: Annotated[str, _url("http", "https")] | None = None  # default: AWS
    s3_region: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,40}$")] = "us-east-1"
    s3_bucket: Bucket | None = None
    s3_path_style: bool = False  # http://host/bucket/key rather than http://bucket.host/key
    s3_access_key: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    s3_secret_key: SecretStr | None = None  # both keys, or neither: botocore's own chain

    @model_validator(mode="after")
    def _s3_needs_a_bucket(self) -> StorageSettings:
        if self.driver == "s3" and not self.s3_bucket:
            raise ValueError("driver = 's3' needs s3_bucket (BERTH_STORAGE__S3_BUCKET=NAME)")
        if (self.s3_access_key is None) != (self.s3_secret_key is None):
            raise ValueError("s3_access_key and s3_secret_key go together: set both or neither")
        return self

    def s3_config(self) -> S3Config | None:
        if self.driver != "s3" or self.s3_bucket is None:
            return None
        secret = self.s3_secret_key.get_secret_value() if self.s3_secret_key else None
        return S3Config(
            self.s3_bucket,
            self.s3_endpoint,
            self.s3_region,
            self.s3_path_style,
            self.s3_access_key,
            secret,
        )


class UploadSettings(_Section):
    max_age_seconds: PositiveInt = 24 * 3600  # abandoned sessions older than this are removed
    purge_interval_seconds: PositiveInt = 3600
    flush_every_bytes: PositiveInt = 64 * 1024 * 1024  # fdatasync while an upload arrives


class AuditSettings(_Section):
    search: Literal["embedded", "elasticsearch"] = "embedded"  # where events are searched
    elasticsearch_url: Annotated[str, _url("http", "https")] | None = None  # search = elastic…
    elasticsearch_index: Name = "berth-audit"  # alias; monthly indices <alias>-YYYY.MM
    index_interval_seconds: PositiveFloat = 1.0  # how often new events go to the search backend
    index_batch: PositiveInt = 2000  # events per batch
    retention_days: NonNegativeInt = 0  # purge events older than this; 0 keeps them forever
    purge_cron: Cron = "30 2 * * *"  # when the retention purge runs (UTC)
    syslog_address: Annotated[str, _url("udp", "tcp")] | None = None  # udp://host:514, tcp://…

    @model_validator(mode="after")
    def _elasticsearch_needs_url(self) -> AuditSettings:
        if self.search == "elasticsearch" and not self.elasticsearch_url:
            raise ValueError(
                "search = 'elasticsearch' needs elasticsearch_url (BERTH_AUDIT__ELASTICSEARCH_URL"
                "=http://HOST:9200)"
            )
        return self


class GcSettings(_Section):
    window_seconds: NonNegativeInt = 7200  # a blob untouched this long may be collected
    on_start: bool = False  # `berth serve` starts a collection each time it starts
    workers: Annotated[int, Field(ge=1, le=10)] = 1  # parallel sweepers when none are asked for

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)


class Settings(BaseSettings):
    """Everything that picks a backend or a limit. Built once, then passed in."""

    model_config = SettingsConfigDict(
        env_prefix="BERTH_", env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    config_file: Path | None = None
    data_dir: Path = Path("data")
    listen: str = "127.0.0.1:5000"
    # HTTPS on the listen address: "" plain HTTP; "self-signed": a CA made in <data_dir>/tls;
    # "files": tls_cert and tls_key (PEM), which, given both, mean "files" without saying so
    tls: Literal["", "self-signed", "files"] = ""
    tls_cert: Path | None = Field(default=None, validate_default=True)
    tls_key: Path | None = Field(default=None, validate_default=True)
    database_url: Annotated[str, _url("sqlite", "postgres", "postgresql")] | None = None
    workers: NonNegativeInt = 0  # server processes; 0 = one per CPU core, at most 8
    log_level: LogLevel = "info"
    max_manifest_bytes: PositiveInt = 4 * 1024 * 1024
    admin_password: SecretStr | None = None  # first start only; generated and printed if unset
    broker_url: Annotated[str, _url("redis", "rediss", "unix")] | None = None  # None: embedded
    broker_namespace: Name = "berth"  # Redis key prefix of the job queue
    job_threads: PositiveInt = 2  # Dramatiq worker threads per process
    job_backoff_seconds: PositiveFloat = 2.0  # first retry delay; doubles per attempt
    job_lease_seconds: PositiveFloat = 300.0  # a worker silent this long is taken to be dead
    scrub_cron: Cron = "0 3 * * *"  # re-hash stored blobs daily (UTC)
    scrub_rate_bytes: NonNegativeInt = 64 * 1024 * 1024  # bytes/s the scrub may read; 0: no cap
    token_ttl_seconds: PositiveInt = 1800
    token_service: Name = "berth-registry"
    token_issuer: Name = "berth-token-service"
    # the token service name of Content Trust (Notary v1) calls; a token for it or for the
    # registry's service name is taken on /v2/{gun}/_trust/
    notary_service: Name = "berth-notary"
    self_registration: bool = False  # anybody may create a local account
    # seals secrets at rest (registry passwords, trigger secrets); default: keys/secret.key
    secret_key: SealingKey | None = None
    retired_secret_keys: list[SealingKey] = []  # still open what they sealed
    storage: StorageSettings = Field(default_factory=StorageSettings)
    uploads: UploadSettings = Field(default_factory=UploadSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    gc: GcSettings = Field(default_factory=GcSettings)

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:5000")
        return value

    @field_validator("tls_cert")
    @classmethod
    def _certificate(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        from ops.tls import certificate_problem

        mode = info.data.get("tls")
        if value is None and mode == "files":
            raise ValueError(
                "tls = 'files' needs tls_cert and tls_key, PEM files"
                " (BERTH_TLS_CERT=PATH BERTH_TLS_KEY=PATH)"
            )
        if value is not None and mode == "self-signed":
            raise ValueError("tls = 'self-signed' makes its own certificate: set tls = 'files'")
        if value is not None and (problem := certificate_problem(value)):
            raise ValueError(problem)
        return value

    @field_validator("tls_key")
    @classmethod
    def _private_key(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        from ops.tls import key_problem

        mode, cert = info.data.get("tls"), info.data.get("tls_cert")
        if value is None and cert is not None:
            raise ValueError("the certificate needs its private key (BERTH_TLS_KEY=PATH, PEM)")
        if value is not None and mode == "self-signed":
            raise ValueError("tls = 'self-signed' makes its own key: set tls = 'files'")
        if value is not None and "tls_cert" in info.data and cert is None:
            raise ValueError("a private key needs its certificate (BERTH_TLS_CERT=PATH, PEM)")
        if value is not None and cert is not None and (problem := key_problem(value, cert)):
            raise ValueError(problem)
        return value

    @field_validator("admin_password")
    @classmethod
    def _password_policy(cls, value: SecretStr | None) -> SecretStr | None:
        from access.errors import PasswordPolicyViolation
        from access.passwords import check_password_policy

        if value is not None:
            try:
                check_password_policy(value.get_secret_value())
            except PasswordPolicyViolation as exc:
                raise ValueError(str(exc)) from None
        return value

    @property
    def tls_mode(self) -> Literal["", "self-signed", "files"]:
        """How the listen address is served: "" (plain HTTP), "self-signed" or "files"."""
        return "files" if self.tls_cert is not None else self.tls

    @property
    def listen_host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def tls_dir(self) -> Path:
        return (self.data_dir / "tls").resolve()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite://{self.data_dir.resolve() / 'berth.db'}"

    @property
    def server_processes(self) -> int:
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

    def sealing_keys(self) -> list[bytes]:
        """The key-encryption keys, current first (signer.sealing); the generated
        keys/secret.key when secret_key is not set — every node of a cluster needs the same."""
        from signer.sealing import load_or_create_secret

        current = (
            self.secret_key.get_secret_value().encode()
            if self.secret_key is not None
            else load_or_create_secret(self.keys_dir / "secret.key")
        )
        return [current, *(k.get_secret_value().encode() for k in self.retired_secret_keys)]

    @property
    def storage_root(self) -> Path:
        return (self.storage.root or self.data_dir / "storage").resolve()

    def storage_driver(self) -> StorageDriver:
        """The configured blob store (nothing is contacted until it is used)."""
        return build_driver(self.storage.driver, self.storage_root, self.storage.s3_config())

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


def config_path() -> tuple[Path, bool]:
    """The config file and whether the user named it (a named file must exist)."""
    named = os.environ.get("BERTH_CONFIG_FILE")
    return Path(named or CONFIG_FILE), bool(named)


class _TomlFileSource(PydanticBaseSettingsSource):
    """Reads the file named by BERTH_CONFIG_FILE (or berth.toml in the working folder)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path, named = config_path()
        if not path.is_file():
            if named:
                raise SettingsError([f"BERTH_CONFIG_FILE={path}: no such file"])
            return {}
        try:
            with path.open("rb") as fh:
                return tomllib.load(fh)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError([f"{path}: not valid TOML: {exc}"]) from None


SECRET = frozenset(
    {"admin_password", "database_url", "broker_url", "secret_key", "retired_secret_keys"}
)  # never echoed


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once: explicit overrides > environment > config file > defaults.
    SettingsError, with one line per bad setting, when anything is wrong."""
    given = {k: v for k, v in overrides.items() if v is not None}
    check_environment(Settings, os.environ)
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError(
            render_validation_error(exc, given, os.environ, config_path()[0], SECRET)
        ) from None
    except pydantic_settings.SettingsError as exc:  # a list or section that is not JSON
        found = re.search(r'field "(\w+)"', str(exc))
        name = f"BERTH_{found.group(1).upper()}" if found else "a BERTH_ variable"
        raise SettingsError(
            [f'{name}: is not valid JSON (a list is written ["a", "b"], a section {{...}})']
        ) from None
