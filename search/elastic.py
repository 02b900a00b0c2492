"""The audit index in Elasticsearch (8.x or 9.x), through the official async client.

The bodies are built in search/elastic_body.py; this module only sends them. Retention drops
whole monthly indices and deletes by query only in the month the cutoff falls in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from elasticsearch import AsyncElasticsearch, BadRequestError, NotFoundError
from elasticsearch.helpers import async_bulk

from search import elastic_body as body
from search.audit import AuditPage, AuditQuery, AuditRecord

_TIMEOUT = 30.0
_PING_TIMEOUT = 2.0


class ElasticIndex:
    """The AuditIndex on an Elasticsearch cluster, under one alias."""

    name = "elasticsearch"

    def __init__(self, url: str, alias: str, client: AsyncElasticsearch | None = None) -> None:
        self.alias = alias
        self.client = client or AsyncElasticsearch(
            url, request_timeout=_TIMEOUT, retry_on_timeout=True, max_retries=3
        )
        self._created: set[str] = set()  # monthly indices known to exist

    async def prepare(self) -> None:
        """Install (or update) the index template; new monthly indices follow it. Safe to
        repeat; indices that exist keep the mapping they were created with."""
        await self.client.indices.put_index_template(name=self.alias, **body.template(self.alias))

    async def index(self, records: Sequence[AuditRecord]) -> None:
        """Index the records by id, searchable when this returns. Safe to repeat."""
        if not records:
            return
        actions = body.actions(self.alias, records)
        await self._create_indices({action["_index"] for action in actions})
        # wait_for: searchable on return, as the embedded backend is, without forcing a
        # refresh per batch.
        await async_bulk(self.client, actions, refresh="wait_for")

    async def search(self, query: AuditQuery) -> AuditPage:
        """The page of matching events; ValueError for a query it cannot serve."""
        if query.project_ids is not None and not query.project_ids:
            return AuditPage(0, [])
        request = body.search_body(query)
        try:
            response = await self.client.search(
                index=self.alias, body=request, ignore_unavailable=True, allow_no_indices=True
            )
        except NotFoundError:  # nothing indexed yet: the alias does not exist
            return AuditPage(0, [])
        return body.page_of(response.body, query.count_limit)

    async def delete_before(
        self, cutoff: datetime, operations: frozenset[str] | None = None
    ) -> None:
        """Drop the months wholly before cutoff, then delete the rest of the cutoff's month
        by query; with operations, delete only their events, by query. Safe to repeat."""
        before = {"range": {"occurred_at": {"lt": body.value("occurred_at", cutoff)}}}
        query: dict[str, Any] = before
        if operations is not None:
            query = {"bool": {"filter": [before, {"terms": {"operation": sorted(operations)}}]}}
        else:
            expired = body.expired_indices(self.alias, await self._indices(), cutoff)
            if expired:
                await self.client.indices.delete(index=",".join(expired))
                self._created.difference_update(expired)
        await self.client.delete_by_query(
            index=self.alias,
            query=query,
            conflicts="proceed",
            refresh=True,
            ignore_unavailable=True,
            allow_no_indices=True,
        )

    async def clear(self) -> None:
        """Delete every monthly index (named one by one: clusters refuse wildcard deletes
        by default). Safe to repeat."""
        names = await self._indices()
        if names:
            await self.client.indices.delete(index=",".join(names))
        self._created.clear()

    async def ping(self) -> None:
        """The cluster's root endpoint, once, without the client's retries (health)."""
        await self.client.options(request_timeout=_PING_TIMEOUT, max_retries=0).info()

    async def close(self) -> None:
        await self.client.close()

    async def _indices(self) -> list[str]:
        """The monthly indices of the alias that exist now."""
        found = await self.client.indices.get(
            index=f"{self.alias}-*", allow_no_indices=True, ignore_unavailable=True
        )
        return body.monthly_indices(self.alias, found.body)

    async def _create_indices(self, names: set[str]) -> None:
        """Create missing monthly indices explicitly, so that a cluster which does not
        auto-create indices still takes our events."""
        for name in sorted(names - self._created):
            try:
                await self.client.indices.create(index=name)
            except BadRequestError as exc:
                if exc.error != "resource_already_exists_exception":
                    raise
            self._created.add(name)
