"""Running `berth` commands as a user would: a clean environment, a folder of their own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

BERTH = [sys.executable, "-m", "ops.cli"]


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any BERTH_* variable, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("BERTH_")}
    env.pop("COLUMNS", None)  # as a pipe sees it: no terminal width
    return {**env, **settings}


def run_berth(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """Run one command to completion; it must end by itself within timeout."""
    return subprocess.run(
        [*BERTH, *args],
        cwd=cwd,
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


def session_processes(session: int) -> list[int]:
    """The live processes of a session (a command started with start_new_session=True)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()  # after "(comm)": state ppid pgrp session
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def assert_nothing_left(session: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while (left := session_processes(session)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, f"processes left behind: {left}"
