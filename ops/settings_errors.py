"""Bad settings as one line each, naming the setting the way the user wrote it.

A setting comes from a command-line flag, a BERTH_* environment variable or a key of the
config file; the line names that one (`BERTH_WORKERS='abc': ...`, `audit.search in
berth.toml: ...`), says what was wrong and what is allowed. pydantic's ValidationError is
rendered here and nowhere else."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from models.errors import InvalidInput

PREFIX = "BERTH_"
NOT_SETTINGS = ("BERTH_TEST_", "BERTH_E2E_")  # read by the test suite, not by the server


class SettingsError(InvalidInput):
    """One or more bad settings; `lines` holds one line per setting."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("; ".join(lines))


def setting_names(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Every environment variable the settings read -> the field path it sets."""
    names: dict[str, tuple[str, ...]] = {}
    for field, info in model.model_fields.items():
        names[f"{PREFIX}{field}".upper()] = (field,)
        section = _section(info)
        for sub in section.model_fields if section else ():
            names[f"{PREFIX}{field}__{sub}".upper()] = (field, sub)
    return names


def check_environment(model: type[BaseModel], environ: Mapping[str, str]) -> None:
    """A BERTH_* variable no setting reads is a typo: say so instead of ignoring it."""
    known = setting_names(model)
    lines = []
    for name in sorted(environ):
        upper = name.upper()
        if upper.startswith(PREFIX) and upper not in known and not upper.startswith(NOT_SETTINGS):
            lines.append(f"unknown setting {name}{_did_you_mean(upper, known)}")
    if lines:
        raise SettingsError(lines)


def render_validation_error(
    error: ValidationError,
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    config_file: Path,
    secret: Iterable[str],
) -> list[str]:
    """One line per failed setting."""
    lines = []
    hidden = set(secret)
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"])
        label = _label(loc, flags, environ, config_file)
        where, _, name = label.rpartition(": ")  # "berth.toml: audit.search" for a file key
        where = where and where + ": "
        if item["type"] == "extra_forbidden":
            lines.append(f"{where}unknown setting {name}{_did_you_mean_key(loc)}")
            continue
        unset = item["input"] is None  # a setting that is missing, checked by its default
        shown = not (hidden & set(loc) or unset or isinstance(item["input"], dict))
        value = _shown(item) if shown else ""
        message = item["msg"].removeprefix("Value error, ")
        hint = _hint(item["type"], loc)
        lines.append(f"{label}{value}: {message[:1].lower()}{message[1:]}{hint}")
    return lines


def _label(
    loc: tuple[str, ...], flags: Mapping[str, Any], environ: Mapping[str, str], config: Path
) -> str:
    """The flag, variable or config key the bad value came from (highest precedence first)."""
    if len(loc) == 1 and loc[0] in flags:
        return "--" + loc[0].replace("_", "-")
    upper = {name.upper(): name for name in environ}
    env = f"{PREFIX}{'__'.join(loc)}".upper()
    if env in upper:
        return upper[env]
    under = sorted(name for key, name in upper.items() if key.startswith(env + "__"))
    if under:  # a check of a whole section, e.g. [audit], fed by its variables
        return under[0]
    return f"{config}: {'.'.join(loc)}" if config.is_file() else env


def _shown(item: Any) -> str:
    text = repr(item["input"])
    return "=" + (text if len(text) <= 60 else text[:57] + "...")


def _hint(kind: str, loc: tuple[str, ...]) -> str:
    """What is allowed, where pydantic's message says only what went wrong."""
    from ops.settings import Settings

    info = _field(Settings, loc)
    if info is None:
        return ""
    bound = next((f"{m.gt}" for m in info.metadata if isinstance(m, Gt)), None)
    at_least = next((f"{m.ge}" for m in info.metadata if isinstance(m, Ge)), None)
    limit = f" greater than {bound}" if bound else f" of {at_least} or more" if at_least else ""
    if kind.startswith("int_"):
        return f" (allowed: a whole number{limit}, without units)"
    if kind.startswith("float_"):
        return f" (allowed: a number{limit}, without units)"
    if kind.startswith("bool_"):
        return " (allowed: true or false)"
    return ""


def _field(model: type[BaseModel], loc: tuple[str, ...]) -> FieldInfo | None:
    info = model.model_fields.get(loc[0]) if loc else None
    section = _section(info) if info else None
    if len(loc) > 1 and section:
        return _field(section, loc[1:])
    return info


def _section(info: FieldInfo) -> type[BaseModel] | None:
    kind = info.annotation
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _did_you_mean_key(loc: tuple[str, ...]) -> str:
    from ops.settings import Settings

    parent = _field(Settings, loc[:-1]) if len(loc) > 1 else None
    section = _section(parent) if parent else Settings
    return _did_you_mean(loc[-1], section.model_fields if section else ())


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else " (no setting has that name)"
