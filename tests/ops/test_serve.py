"""`berth serve` starts, or says in one line why it cannot, and exits; it never half-starts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.ops.support import BERTH, assert_nothing_left, clean_env, run_berth, session_processes
from tests.support import ADMIN, free_port, running_berth

BAD_SETTINGS = [
    # (environment, what the one line must say)
    ({"BERTH_WORKERS": "abc"}, ["BERTH_WORKERS='abc'", "valid integer", "whole number"]),
    ({"BERTH_SECRET_KEY": "short"}, ["BERTH_SECRET_KEY", "at least 16 characters"]),
    ({"BERTH_RETIRED_SECRET_KEYS": "old-key"}, ["BERTH_RETIRED_SECRET_KEYS", "not valid JSON"]),
    ({"BERTH_GC": "nope"}, ["BERTH_GC:", "not valid JSON"]),
    ({"BERTH_MAX_MANIFEST_BYTES": "4MB"}, ["BERTH_MAX_MANIFEST_BYTES='4MB'", "without units"]),
    ({"BERTH_DATABASE_URL": "mysql://u:s3cret@db/berth"}, ["BERTH_DATABASE_URL", "postgres://"]),
    ({"BERTH_AUDIT__SEARCH": "elastic"}, ["BERTH_AUDIT__SEARCH='elastic'", "'elasticsearch'"]),
    ({"BERTH_AUDIT__SEARCH": "elasticsearch"}, ["BERTH_AUDIT__ELASTICSEARCH_URL"]),
    ({"BERTH_BROKER_URL": "http://x"}, ["BERTH_BROKER_URL", "redis://"]),
    ({"BERTH_SCRUB_CRON": "every night"}, ["BERTH_SCRUB_CRON='every night'", "cron", "* * *"]),
    ({"BERTH_SCRUB_CRON": "0 3 31 2 *"}, ["BERTH_SCRUB_CRON='0 3 31 2 *'", "never fires"]),
    ({"BERTH_TOKEN_TTL_SECONDS": "-5"}, ["BERTH_TOKEN_TTL_SECONDS='-5'", "greater than 0"]),
    ({"BERTH_ADMIN_PASSWORD": "weakling"}, ["BERTH_ADMIN_PASSWORD", "upper-case", "digit"]),
    ({"BERTH_WROKERS": "2"}, ["unknown setting BERTH_WROKERS", "did you mean BERTH_WORKERS"]),
    ({"BERTH_AUDIT__SERCH": "x"}, ["unknown setting BERTH_AUDIT__SERCH", "BERTH_AUDIT__SEARCH"]),
    ({"BERTH_LOG_LEVEL": "loud"}, ["BERTH_LOG_LEVEL='loud'", "'debug'", "'critical'"]),
    ({"BERTH_SELF_REGISTRATION": "maybe"}, ["BERTH_SELF_REGISTRATION", "true or false"]),
    ({"BERTH_STORAGE__DRIVER": "gcs"}, ["BERTH_STORAGE__DRIVER='gcs'", "'filesystem'", "'s3'"]),
    ({"BERTH_STORAGE__DRIVER": "s3"}, ["s3_bucket", "BERTH_STORAGE__S3_BUCKET=NAME"]),
    ({"BERTH_STORAGE__S3_BUCKET": "Bad_Bucket"}, ["BERTH_STORAGE__S3_BUCKET", "lowercase"]),
    ({"BERTH_STORAGE__S3_ENDPOINT": "localhost:9000"}, ["BERTH_STORAGE__S3_ENDPOINT", "http://"]),
    ({"BERTH_STORAGE__S3_PATH_STYLE": "no way"}, ["BERTH_STORAGE__S3_PATH_STYLE", "true or false"]),
    ({"BERTH_STORAGE__S3_ACCESS_KEY": "AK"}, ["s3_access_key and s3_secret_key go together"]),
    ({"BERTH_STORAGE__REDIRECT_SECONDS": "5"}, ["BERTH_STORAGE__REDIRECT_SECONDS", "10"]),
    ({"BERTH_AUDIT__SYSLOG_ADDRESS": "host:514"}, ["BERTH_AUDIT__SYSLOG_ADDRESS", "udp://"]),
    ({"BERTH_CONFIG_FILE": "/nonexistent/berth.toml"}, ["BERTH_CONFIG_FILE", "no such file"]),
]


def serve(tmp_path: Path, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    listen = f"127.0.0.1:{free_port()}"
    args = ["serve", "--listen", listen, "--data-dir", str(tmp_path / "data"), *flags]
    return run_berth(tmp_path, *args, env=env, timeout=30)


@pytest.mark.parametrize(
    ("env", "says"), BAD_SETTINGS, ids=[next(iter(e)) for e, _ in BAD_SETTINGS]
)  # noqa: E501
def test_a_bad_setting_is_one_line_and_status_2_before_anything_starts(
    tmp_path: Path, env: dict[str, str], says: list[str]
) -> None:
    done = serve(tmp_path, env)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    for part in says:
        assert part in line
    assert "s3cret" not in line and "weakling" not in line  # secrets are never echoed
    assert not (tmp_path / "data").exists()  # no data folder, no database, no process


def test_a_bad_flag_is_named_as_the_flag(tmp_path: Path) -> None:
    done = serve(tmp_path, {}, "--workers", "-1")
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line == "berth: --workers=-1: input should be greater than or equal to 0"


@pytest.mark.parametrize(
    ("toml", "says"),
    [
        ("wrokers = 2\n", "berth.toml: unknown setting wrokers; did you mean workers?"),
        ('[audit]\nsearch = "x"\n', "berth.toml: audit.search='x': input should be"),
        ("[uploads]\nmax_age_seconds = 0\n", "uploads.max_age_seconds=0: input should be greater"),
        ("workers = [\n", "berth.toml: not valid TOML"),
    ],
    ids=["unknown-key", "bad-choice", "bad-number", "not-toml"],
)
def test_a_bad_config_file_is_one_line_naming_the_key(tmp_path: Path, toml: str, says: str) -> None:
    (tmp_path / "berth.toml").write_text(toml)
    done = serve(tmp_path, {})
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert says in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_server_that_fails_while_starting_exits_1_and_leaves_nothing(
    tmp_path: Path, workers: str
) -> None:
    # Given a data folder whose keys/token.pem is a folder: the server processes cannot
    # create their token key
    data = tmp_path / "data"
    (data / "keys" / "token.pem").mkdir(parents=True)
    env = clean_env(BERTH_WORKERS=workers, BERTH_ADMIN_PASSWORD=ADMIN[1])
    cmd = [*BERTH, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(data)]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Then it ends with status 1, the cause on stderr, without ever saying it listens
    assert proc.returncode == 1, stderr
    last = stderr.splitlines()[-1]
    assert "failed to start" in last and "keys" in last
    assert "Berth listening" not in stderr
    assert_nothing_left(proc.pid)


def test_a_keys_folder_that_cannot_be_made_is_one_line_and_status_1(tmp_path: Path) -> None:
    # Given a data folder whose keys/ is a file: the secret key cannot be made
    data = tmp_path / "data"
    data.mkdir()
    (data / "keys").write_text("not a folder")
    done = serve(tmp_path, {"BERTH_ADMIN_PASSWORD": ADMIN[1]})
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("berth: cannot make the secret key in") and "keys" in line


def test_an_unreachable_database_is_one_line_and_status_1(tmp_path: Path) -> None:
    closed = free_port()
    env = {"BERTH_DATABASE_URL": f"postgres://postgres:s3cret@127.0.0.1:{closed}/berth"}
    done = serve(tmp_path, env)
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("berth: cannot open the database postgres://postgres:***@127.0.0.1")
    assert "s3cret" not in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_second_server_on_a_served_port_refuses(tmp_path: Path, workers: str) -> None:
    env = {"BERTH_WORKERS": workers}
    with running_berth(tmp_path / "first", env) as first:
        # When a second Berth, with another data folder, is started on the same address
        second = run_berth(
            tmp_path, "serve", "--listen", first.host, "--data-dir", str(tmp_path / "second"),
            env={**env, "BERTH_ADMIN_PASSWORD": ADMIN[1]},
        )  # fmt: skip
        # Then it refuses in one line, saying how to choose another address
        assert second.returncode == 1, second.stderr
        (line,) = second.stderr.splitlines()
        assert f"address already in use: {first.host}" in line
        assert "--listen" in line and "BERTH_LISTEN" in line
        assert not (tmp_path / "second" / "berth.db").exists()
        # And every request still reaches the first one
        with httpx.Client(base_url=first.url, auth=ADMIN, timeout=10) as client:
            assert {client.get("/v2/").status_code for _ in range(30)} == {200}


def test_a_port_held_by_another_program_is_refused(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        host = f"127.0.0.1:{other.getsockname()[1]}"
        done = run_berth(tmp_path, "serve", "--listen", host, "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"berth: address already in use: {host}")


def test_sigterm_stops_every_server_process(tmp_path: Path) -> None:
    with running_berth(tmp_path, {"BERTH_WORKERS": "2"}) as server:
        deadline = time.monotonic() + 30  # announced once every server process has started
        while "Berth listening on" not in server.log.read_text():
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.1)
        server.proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert server.proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 30
        assert_nothing_left(server.proc.pid)


def test_a_server_process_that_dies_stops_the_server_with_status_1(tmp_path: Path) -> None:
    with running_berth(tmp_path, {"BERTH_WORKERS": "2"}) as server:
        deadline = time.monotonic() + 30
        while "Berth listening on" not in server.log.read_text():
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.1)
        # When one server process dies (the kernel's OOM killer, a crash)
        servers = [
            pid for pid in session_processes(server.proc.pid)
            if b"server_process_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]  # fmt: skip
        assert len(servers) == 2
        os.kill(servers[0], signal.SIGKILL)
        # Then `berth serve` stops the other and exits 1 saying so, not half a server
        assert server.proc.wait(timeout=30) == 1
        assert_nothing_left(server.proc.pid)
    assert "exited unasked" in server.log.read_text().splitlines()[-1]
