"""Searchable copies of the audit log (the contract is search/audit.py)."""

from __future__ import annotations

from search.audit import AuditIndex

KINDS = ("embedded", "elasticsearch")


def open_audit_index(kind: str, elasticsearch_url: str | None, alias: str) -> AuditIndex:
    """The backend settings.audit.search names; embedded needs the database open already.
    ValueError for an unknown kind or Elasticsearch without a URL."""
    if kind == "embedded":
        from search.embedded import EmbeddedIndex

        return EmbeddedIndex()
    if kind == "elasticsearch":
        if not elasticsearch_url:
            raise ValueError("audit search 'elasticsearch' needs an elasticsearch_url")
        from search.elastic import ElasticIndex  # the client loads only when chosen

        return ElasticIndex(elasticsearch_url, alias)
    raise ValueError(f"audit search {kind!r} is not one of {', '.join(KINDS)}")
