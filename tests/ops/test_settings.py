"""Settings come from defaults, a config file and BERTH_* variables, in that rising order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from ops.settings import SettingsError, load_settings
from tests.support import REPO_ROOT


def test_defaults_are_the_embedded_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.listen == "127.0.0.1:5000"
    assert settings.db_url == f"sqlite://{tmp_path / 'data' / 'berth.db'}"
    assert settings.storage.driver == "filesystem"
    assert settings.storage_root == tmp_path / "data" / "storage"


def test_environment_beats_config_file_and_flags_beat_both(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "berth.toml"
    config.write_text(
        'listen = "127.0.0.1:6000"\ndata_dir = "/srv/from-file"\n[uploads]\nmax_age_seconds = 60\n'
    )
    monkeypatch.setenv("BERTH_CONFIG_FILE", str(config))
    monkeypatch.setenv("BERTH_LISTEN", "127.0.0.1:7000")
    monkeypatch.setenv("BERTH_STORAGE__ROOT", "/srv/blobs")
    settings = load_settings()
    assert settings.listen == "127.0.0.1:7000"  # environment over file
    assert settings.data_dir == Path("/srv/from-file")  # file over default
    assert settings.uploads.max_age_seconds == 60
    assert settings.storage_root == Path("/srv/blobs")
    assert load_settings(listen="127.0.0.1:8000").listen == "127.0.0.1:8000"  # flag over env


@pytest.mark.parametrize("listen", ["5000", "localhost", ":5000", "host:port", "h:0", "h:70000"])
def test_listen_must_be_host_and_port(listen: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(listen=listen)
    (line,) = refused.value.lines
    assert line.startswith(f"--listen={listen!r}: must be HOST:PORT with a port from 1 to 65535")


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.listen = "0.0.0.0:1"  # type: ignore[misc]


def test_cli_help_lists_the_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "ops.cli", "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("serve", "project", "uploads"):
        assert command in out


def test_project_create_makes_a_project_pushes_can_use(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "ops.cli",
            "project",
            "create",
            "team-a",
            "--data-dir",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    import sqlite3

    with sqlite3.connect(tmp_path / "berth.db") as db:
        names = {row[0] for row in db.execute("SELECT name FROM project")}
    assert names == {"library", "team-a"}
