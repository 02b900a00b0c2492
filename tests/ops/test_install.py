"""A plain install (the wheel, no extras, as a user or an image installs it) starts and serves."""

from __future__ import annotations

import ast
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import httpx

from tests.ops.support import assert_nothing_left, clean_env
from tests.support import ADMIN, REPO_ROOT, free_port, require, wait_http

# The server's packages: the ones mypy checks (pyproject.toml names each room once there).
SERVER_PACKAGES = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["mypy"][
    "packages"
]


def runtime_dependencies() -> set[str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    names = (re.match(r"[A-Za-z0-9_.-]+", dep) for dep in project["dependencies"])
    return {_normal(m.group(0)) for m in names if m}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports() -> dict[str, str]:
    """Every top-level module the server packages import -> one file that imports it."""
    found: dict[str, str] = {}
    ours = set(SERVER_PACKAGES)
    for package in SERVER_PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            if "dev" in path.relative_to(REPO_ROOT).parts:  # ops/dev: the test machine's tools
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in ours:
                        found.setdefault(top, str(path.relative_to(REPO_ROOT)))
    return found


def test_every_module_the_server_imports_is_a_runtime_dependency() -> None:
    declared = runtime_dependencies()
    providers = packages_distributions()
    missing = {
        module: where
        for module, where in third_party_imports().items()
        if not {_normal(d) for d in providers.get(module, [module])} & declared
    }
    assert not missing, f"imported but not in [project].dependencies: {missing}"


def build_wheel(into: Path) -> Path:
    """The wheel of the working tree's files (tracked and new), built outside the tree: a
    build/ folder left by an earlier build could smuggle deleted files into it."""
    source = into / "source"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (REPO_ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(into), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = into.glob("berth-*.whl")
    return wheel


def test_the_wheel_without_extras_starts_and_answers(tmp_path: Path) -> None:
    # Given the wheel installed into a clean virtual environment, without the dev extras
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    installed = subprocess.run([*pip, str(wheel)], capture_output=True, text=True, timeout=600)
    offline = any(sign in installed.stderr for sign in ("NewConnectionError", "Network is unre"))
    require(not offline, "the package index is not reachable to install the dependencies")
    assert installed.returncode == 0, installed.stderr[-3000:]
    assert not (venv / "bin" / "pytest").exists()  # no dev extra came along
    # When `berth serve` is started from it, outside the source tree
    host = f"127.0.0.1:{free_port()}"
    env = clean_env(BERTH_ADMIN_PASSWORD=ADMIN[1])
    cmd = [str(venv / "bin" / "berth"), "serve", "--listen", host, "--data-dir", "data"]
    run = tmp_path / "run"
    run.mkdir()
    with (tmp_path / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=run, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_http(f"http://{host}/v2/", timeout=60, proc=proc)
        # Then the registry and the API answer
        assert httpx.get(f"http://{host}/v2/", timeout=10).status_code == 401
        health = httpx.get(f"http://{host}/api/v2.0/health", timeout=10)
        assert health.status_code == 200, health.text
        # And SIGTERM stops it, with all its processes
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert_nothing_left(proc.pid)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in (tmp_path / "server.log").read_text()
