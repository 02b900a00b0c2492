"""The repositories API's pages are cut by an index walk: no sort of the project's (or the
registry's) repositories, however many there are (SQLite's plan; PostgreSQL's planner
picks the same index on a large table)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core import repositories
from core.repositories import Listing
from models import Project, close_database, open_database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "berth.db"
    await open_database(f"sqlite://{path}")
    one = await Project.create(name="big")
    await Project.create(name="small")
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO repository (name, project_id, created_at)"
            " VALUES (?, ?, datetime('now', ?))",
            [(f"big/r{i}", one.id, f"-{5000 - i} seconds") for i in range(5000)],
        )
        conn.execute("ANALYZE")
    try:
        yield path
    finally:
        await close_database()


@pytest.mark.parametrize(
    "project_ids",
    [
        pytest.param({1}, id="one-project"),
        pytest.param(None, id="every-project"),
        pytest.param({1, 2}, id="visible-projects"),
    ],
)
async def test_a_deep_page_walks_an_index_without_sorting(
    database: Path, project_ids: set[int] | None
) -> None:
    listing = Listing(project_ids, {}, [])
    sql = repositories.page_query(listing, 4000, 10).sql(params_inline=True)
    with sqlite3.connect(database) as conn:
        plan = " ".join(str(row[-1]) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
    assert "USING" in plan and "INDEX repository_" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # no sort of the rows
    rows, total = await repositories.list_repositories(listing, 4000, 10)
    assert total == 5000
    assert [r.name for r in rows] == [f"big/r{i}" for i in range(999, 989, -1)]
