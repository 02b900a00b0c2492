"""GET /api/v2.0/health (Harbor's shape) and GET /metrics (Prometheus).

Health is read in-process (each component's probe is real: a query, a storage write/read/
delete, a search backend request, a broker PING); metrics on the session's real server."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import push_image
from tests.support import InProcessBerth, RunningBerth, berth_app, free_port, wait_until

COMPONENTS = {"database", "storage", "broker", "search", "notary"}
HEALTH = "/api/v2.0/health"


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["status"] for c in body["components"]}


def component(body: dict[str, Any], name: str) -> dict[str, str]:
    return dict(next(c for c in body["components"] if c["name"] == name))


async def health(berth: InProcessBerth) -> dict[str, Any]:
    answer = await berth.client.get(HEALTH)
    assert answer.status_code == 200  # Harbor answers 200 whatever the components say
    return dict(await answer.get_json())


async def test_a_running_registry_reports_every_component_healthy(
    in_process: InProcessBerth,
) -> None:
    # When anybody asks for the health
    body = await health(in_process)
    # Then every component is healthy, and so is the whole (no error fields)
    assert body["status"] == "healthy"
    assert statuses(body) == dict.fromkeys(COMPONENTS, "healthy")
    assert all("error" not in c for c in body["components"])
    # and the storage probe leaves nothing behind
    assert not list((in_process.data_dir / "storage").glob("_health/*"))


async def test_a_search_backend_that_is_down_makes_the_registry_unhealthy(
    tmp_path: Path,
) -> None:
    # Given a server whose Elasticsearch URL points at a closed port
    closed = f"http://127.0.0.1:{free_port()}"
    audit = {"search": "elasticsearch", "elasticsearch_url": closed}
    async with berth_app(tmp_path, audit=audit) as berth:
        # When the health is asked for, it answers within the probes' timeout
        started = time.monotonic()
        body = await health(berth)
    assert time.monotonic() - started < 5
    # Then search is unhealthy, saying why, and nothing else is
    assert body["status"] == "unhealthy"
    assert statuses(body) == {**dict.fromkeys(COMPONENTS, "healthy"), "search": "unhealthy"}
    assert component(body, "search")["error"]


async def test_storage_that_cannot_be_written_makes_the_registry_unhealthy(
    tmp_path: Path,
) -> None:
    async with berth_app(tmp_path) as berth:
        assert statuses(await health(berth))["storage"] == "healthy"
        # Given the storage folder gone and a plain file in its place (a lost mount)
        root = tmp_path / "storage"
        root.rename(tmp_path / "storage.lost")
        root.write_bytes(b"")
        # When the health is asked for
        body = await health(berth)
    # Then storage is unhealthy, saying why, and nothing else is
    assert body["status"] == "unhealthy"
    assert statuses(body) == {**dict.fromkeys(COMPONENTS, "healthy"), "storage": "unhealthy"}
    assert component(body, "storage")["error"]


async def test_an_unreachable_broker_makes_the_registry_unhealthy(tmp_path: Path) -> None:
    # Given a server whose Redis broker does not answer
    async with berth_app(tmp_path, broker_url=f"redis://127.0.0.1:{free_port()}/0") as berth:
        # When the health is asked for
        body = await health(berth)
    # Then it still answers 200, naming the broker as the unhealthy part
    assert body["status"] == "unhealthy"
    assert statuses(body) == {**dict.fromkeys(COMPONENTS, "healthy"), "broker": "unhealthy"}
    assert component(body, "broker")["error"]


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_health_needs_no_credentials(in_process: InProcessBerth, method: str) -> None:
    answer = await in_process.client.open(HEALTH, method=method)
    assert answer.status_code == 200


def scrape(server: RunningBerth) -> str:
    answer = httpx.get(f"{server.url}/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


def test_metrics_count_jobs_their_durations_and_requests(berth_server: RunningBerth) -> None:
    # Given a pushed image, whose push job runs in the server
    push_image(berth_server, "library/metered", "v1")
    # When Prometheus scrapes, until the job is done
    done = 'berth_jobs{kind="push",status="succeeded"}'

    def counted() -> str | None:
        text = scrape(berth_server)
        return text if done in text else None

    text = wait_until("the push job in the job gauges", counted)
    # Then the job table, the finished jobs' durations and the requests are there
    assert 'berth_job_duration_seconds_count{kind="push",status="succeeded"}' in text
    # (request counts are per server process: each process counts the requests it answered)
    counted = 'berth_http_requests_total{route="metrics",status="200"}'
    assert any(counted in scrape(berth_server) for _ in range(20))
