"""Words as every backend sees them, and highlighting done in Python.

A word is a run of letters and digits; everything else separates words, so
`library/app:1.0@sha256:ab` holds `library`, `app`, `1`, `0`, `sha256` and `ab`. The SQLite
tokenizer (unicode61), the PostgreSQL documents (built from these words) and the
Elasticsearch analyzer (a pattern on the same classes) all split alike, so one query finds
the same events on each backend.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from search.audit import MARK_END, MARK_START, TEXT_FIELDS, AuditRecord

WORD = re.compile(r"[^\W_]+")  # letters and digits (Unicode); underscore separates, as in FTS5


def words(text: str) -> list[str]:
    """The distinct lower-case words of text, in their order; user text is never syntax."""
    return list(dict.fromkeys(word.lower() for word in WORD.findall(text)))


def word_text(values: Iterable[str]) -> str:
    """All words of values, lower-case, separated by single spaces."""
    return " ".join(word.lower() for value in values for word in WORD.findall(value))


def mark(value: str, prefixes: Sequence[str]) -> str | None:
    """value with each word that starts with one of prefixes between MARK_START and
    MARK_END; None when no word does."""
    starts = tuple(prefixes)
    pieces: list[str] = []
    last = 0
    for match in WORD.finditer(value):
        if match.group().lower().startswith(starts):
            pieces += [value[last : match.start()], MARK_START, match.group(), MARK_END]
            last = match.end()
    if not pieces:
        return None
    return "".join(pieces) + value[last:]


def highlights(record: AuditRecord, prefixes: Sequence[str]) -> dict[str, str]:
    """Text field -> its marked value, for the fields where some word matched."""
    marked = {name: mark(getattr(record, name), prefixes) for name in TEXT_FIELDS}
    return {name: value for name, value in marked.items() if value is not None}
