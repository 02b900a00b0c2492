"""`berth worker` processes consuming from Redis for a real `berth serve` that only dispatches."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.factories import push_image
from tests.support import (
    REDIS,
    REPO_ROOT,
    berth_cli,
    berth_worker,
    broker_env,
    free_port,
    redis_answers,
    require,
    require_tool,
    running_berth,
)

FINAL = ("succeeded", "failed")


class RedisProcess:
    """A private redis-server without persistence on a port, started and stopped at will."""

    def __init__(self, port: int) -> None:
        self.url = f"redis://127.0.0.1:{port}/0"
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        exe = require_tool("redis-server")
        cmd = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for("redis-server answers", lambda: redis_answers(self.url), within=10)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@contextmanager
def redis_process(port: int) -> Iterator[RedisProcess]:
    redis = RedisProcess(port)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


def jobs(data_dir: Path, kind: str | None = None) -> list[dict[str, object]]:
    """The job table, as `berth jobs` shows it (read straight from the SQLite file)."""
    with sqlite3.connect(data_dir / "berth.db", timeout=5) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM job ORDER BY id").fetchall()
    return [dict(r) for r in rows if kind is None or r["kind"] == kind]


def wait_for(what: str, condition: object, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        time.sleep(0.1)


def test_a_worker_without_a_broker_url_says_what_it_needs(tmp_path: Path) -> None:
    # Given no BERTH_BROKER_URL
    env = {k: v for k, v in os.environ.items() if k != "BERTH_BROKER_URL"}
    # When a worker starts
    done = subprocess.run(
        [sys.executable, "-m", "ops.cli", "worker", "--data-dir", str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    # Then it exits at once, naming the setting
    assert done.returncode == 2
    assert "BERTH_BROKER_URL=redis://" in done.stdout + done.stderr


def test_a_push_job_runs_on_a_worker_process(tmp_path: Path) -> None:
    require(redis_answers(REDIS), "Redis is not running on 127.0.0.1:6379")
    env = broker_env(REDIS)
    # Given a server that only dispatches and one worker process
    with running_berth(tmp_path, env) as server, berth_worker(tmp_path, env):
        # When an image is pushed
        push_image(server, "library/worked", "v1")
        # Then its push job succeeds, on the worker
        wait_for("push job succeeded", lambda: [j["status"] for j in jobs(tmp_path, "push")]
                 == ["succeeded"])  # fmt: skip
        assert str(jobs(tmp_path, "push")[0]["worker"]).endswith(tuple("0123456789"))


def test_a_job_whose_worker_is_killed_completes_once_after_a_restart(tmp_path: Path) -> None:
    require(redis_answers(REDIS), "Redis is not running on 127.0.0.1:6379")
    env = broker_env(REDIS, BERTH_JOB_LEASE_SECONDS="2")
    record = tmp_path / "effects.txt"
    with running_berth(tmp_path, env):
        # Given a slow job running on a worker
        with berth_worker(tmp_path, env, "first") as first:
            args = json.dumps({"seconds": 4, "record": str(record)})
            job_id = berth_cli(
                tmp_path, env, "jobs", "enqueue", "sleep", "--args", args
            ).stdout.strip()
            wait_for("job half done", lambda: float(jobs(tmp_path)[0]["progress"]) >= 0.3)
            # When the worker dies mid-job
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert jobs(tmp_path)[0]["status"] == "running" and not record.exists()
        # Then another worker finishes it after the lease runs out, and its effect happens once
        with berth_worker(tmp_path, env, "second"):
            # (final means no run is in flight: the first worker is dead, the row is done)
            wait_for("job final", lambda: jobs(tmp_path)[0]["status"] in FINAL)
    job = jobs(tmp_path)[0]
    assert (str(job["id"]), job["status"], job["attempts"]) == (job_id, "succeeded", 2)
    assert record.read_text().splitlines() == [f"done {job_id}"]


def test_pushes_succeed_while_redis_is_down_and_their_jobs_run_when_it_is_back(
    tmp_path: Path,
) -> None:
    with redis_process(free_port()) as redis:
        env = broker_env(redis.url)
        # Given a server and a worker on a private Redis
        with running_berth(tmp_path, env) as server, berth_worker(tmp_path, env):
            push_image(server, "library/outage", "before")
            wait_for("first job done", lambda: jobs(tmp_path, "push")[0]["status"] in FINAL)
            # When Redis goes away while images are pushed
            redis.stop()
            for n in range(3):
                push_image(server, "library/outage", f"during-{n}")
            # Then every push succeeded and its job waits in the database
            assert [j["status"] for j in jobs(tmp_path, "push")][1:] == ["pending"] * 3
            # And once Redis is back, every job runs: none is lost
            redis.start()
            wait_for("all push jobs final", lambda: all(
                j["status"] in FINAL for j in jobs(tmp_path, "push")), within=120)  # fmt: skip
    assert [j["status"] for j in jobs(tmp_path, "push")] == ["succeeded"] * 4
