"""GET /api/v2.0/health (Harbor's shape) and GET /metrics (Prometheus), on a real server."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.support import RunningBerth, free_port, running_berth
from tests.workers.test_worker_process import push_image

COMPONENTS = {"database", "storage", "broker", "search"}


def statuses(body: dict[str, object]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in body["components"]}  # type: ignore[attr-defined]


def test_a_running_registry_reports_every_component_healthy(berth_server: RunningBerth) -> None:
    # When anybody asks for the health
    answer = httpx.get(f"{berth_server.url}/api/v2.0/health")
    # Then every component is healthy, and so is the whole
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "healthy"
    assert statuses(body) == dict.fromkeys(COMPONENTS, "healthy")


def test_an_unreachable_broker_makes_the_registry_unhealthy(tmp_path: Path) -> None:
    # Given a server whose Redis broker does not answer
    env = {"BERTH_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    with running_berth(tmp_path, env) as server:
        # When the health is asked for
        answer = httpx.get(f"{server.url}/api/v2.0/health", timeout=10)
    # Then it still answers 200, naming the broker as the unhealthy part
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "unhealthy"
    assert statuses(body) == {**dict.fromkeys(COMPONENTS, "healthy"), "broker": "unhealthy"}
    broker = next(c for c in body["components"] if c["name"] == "broker")
    assert broker["error"]


def scrape(server: RunningBerth) -> str:
    answer = httpx.get(f"{server.url}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def test_metrics_count_jobs_their_durations_and_requests(berth_server: RunningBerth) -> None:
    # Given a pushed image, whose push job runs in the server
    push_image(berth_server, "library/metered", "v1")
    # When Prometheus scrapes, until the job is done
    deadline = time.monotonic() + 30
    while 'berth_jobs{kind="push",status="succeeded"}' not in (text := scrape(berth_server)):
        assert time.monotonic() < deadline, text
        time.sleep(0.2)
    # Then the job table, the finished jobs' durations and the requests are there
    assert 'berth_job_duration_seconds_count{kind="push",status="succeeded"}' in text
    # (request counts are per server process: each process counts the requests it answered)
    counted = 'berth_http_requests_total{route="metrics",status="200"}'
    assert any(counted in scrape(berth_server) for _ in range(20))
