"""The patterns of replication filters: Harbor's (github.com/bmatcuk/doublestar v1) globs.

    match("library/**", "library/app/web")    # True: ** crosses "/"
    match("library/*", "library/app/web")     # False: * stays inside one path part
    match("{library,team}/app", "team/app")   # True: alternatives
    literal_paths("{a,b}/app")                # ["a/app", "b/app"]; None for a real glob

The rules, as doublestar v1 has them: a path part that is exactly `**` matches zero or more
whole parts (so `a/**` needs something after `a/`, and `**/b` matches `b`); `*` any run of
characters other than "/", `?` one of them; `[a-z]` and `[^a-z]` one character of a class
(never "/"); `{x,y}` either alternative (nestable); a backslash makes the next character
literal. An empty pattern matches everything. Alternatives are expanded before the rest is
read, so `**` that comes from an alternative counts as a whole part when it is one.
"""

from __future__ import annotations

import functools
from typing import cast

from models.errors import InvalidInput

MAX_ALTERNATIVES = 256  # expanded patterns one pattern may stand for
_SPECIAL = "*?[\\"


class PatternInvalid(InvalidInput):
    """A pattern doublestar cannot read (an unclosed bracket or brace, an empty class...)."""

    def __init__(self, pattern: str, reason: str) -> None:
        shown = pattern if len(pattern) <= 80 else pattern[:77] + "..."
        super().__init__(f"pattern {shown!r}: {reason}")
        self.reason = reason


def match(pattern: str, text: str) -> bool:
    """Whether text (a repository name, a tag, or "" for no tag) matches pattern;
    PatternInvalid for a pattern that does not parse."""
    if not pattern:
        return True
    return any(_run(tokens, text) for tokens in _compiled(pattern))


def check(pattern: str) -> None:
    """Nothing when pattern parses; PatternInvalid naming the problem otherwise."""
    if pattern:
        _compiled(pattern)


def literal_paths(pattern: str) -> list[str] | None:
    """The names a pattern matches when it can match only those (Harbor's "specific path":
    no wildcard, a class or an escape, alternatives allowed); None for any other pattern."""
    if not pattern:
        return None
    expanded = expand(pattern)
    if any(c in p for p in expanded for c in _SPECIAL) or any(not p for p in expanded):
        return None
    return expanded


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> tuple[_Tokens, ...]:
    return tuple(_tokens(p, pattern) for p in expand(pattern))


def expand(pattern: str) -> list[str]:
    """Every pattern the alternatives of pattern stand for, in order (escapes kept)."""
    out = _expand(pattern, pattern)
    return list(dict.fromkeys(out))


def _expand(part: str, whole: str) -> list[str]:
    start = _first_brace(part, whole)
    if start < 0:
        return [part]
    options, end = _alternatives(part, start + 1, whole)
    prefix, rest = part[:start], part[end:]
    out: list[str] = []
    for option in options:
        for tail in _expand(option + rest, whole):
            out.append(prefix + tail)
            if len(out) > MAX_ALTERNATIVES:
                raise PatternInvalid(whole, f"stands for more than {MAX_ALTERNATIVES} patterns")
    return out


def _first_brace(part: str, whole: str) -> int:
    """The index of the first "{" that opens alternatives (not escaped, not in a class)."""
    i = 0
    while i < len(part):
        char = part[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(part, i + 1, whole) + 1
            continue
        if char == "{":
            return i
        i += 1
    return -1


def _alternatives(part: str, i: int, whole: str) -> tuple[list[str], int]:
    """The options of the alternatives opened just before i, and the index after "}"."""
    options, depth, start, escaped = [], 1, i, False
    while i < len(part):
        char = part[i]
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                options.append(part[start:i])
                return options, i + 1
        elif char == "," and depth == 1:
            options.append(part[start:i])
            start = i + 1
        i += 1
    raise PatternInvalid(whole, "a { has no closing }")


def _class_end(part: str, i: int, whole: str) -> int:
    """The index of the "]" closing the class whose content starts at i."""
    escaped = False
    while i < len(part):
        if escaped:
            escaped = False
        elif part[i] == "\\":
            escaped = True
        elif part[i] == "]":
            return i
        i += 1
    raise PatternInvalid(whole, "a [ has no closing ]")


# One expanded pattern as tokens, run as a small NFA over the text: time is linear in the
# text for each token, never the backtracking blow-up a regular expression of many * has.
_LIT, _ONE, _CLASS, _STAR, _REST, _DIRS = range(6)
_Token = tuple[int, object]  # (kind, a literal's character or a class)
_Class = tuple[bool, tuple[tuple[str, str], ...]]  # (negated, ranges)
_Tokens = tuple[_Token, ...]


def _tokens(pattern: str, whole: str) -> _Tokens:
    """The tokens of one expanded pattern (no alternatives left)."""
    parts = _split(pattern)
    out: list[_Token] = []
    for n, part in enumerate(parts):
        last = n == len(parts) - 1
        if part == "**":
            out.append((_REST, None) if last else (_DIRS, None))  # .* / (?:.*/)?
            continue
        out.extend(_part(part, whole))
        if not last:
            out.append((_LIT, "/"))
    return tuple(out)


def _run(tokens: _Tokens, text: str) -> bool:
    """Whether tokens match all of text. A state is (token index, inside a ** directory run
    that still needs its closing "/")."""
    states = _closure(tokens, {(0, False)})
    for char in text:
        following: set[tuple[int, bool]] = set()
        for index, inside in states:
            following |= _step(tokens, index, inside, char)
        states = _closure(tokens, following)
        if not states:
            return False
    return (len(tokens), False) in states


def _closure(tokens: _Tokens, states: set[tuple[int, bool]]) -> set[tuple[int, bool]]:
    """states and every state reached from them without reading a character."""
    pending, seen = list(states), set(states)
    while pending:
        index, inside = pending.pop()
        if inside or index >= len(tokens):
            continue
        kind = tokens[index][0]
        reached = []
        if kind in (_STAR, _REST):
            reached.append((index + 1, False))
        elif kind == _DIRS:
            reached += [(index + 1, False), (index, True)]
        for state in reached:
            if state not in seen:
                seen.add(state)
                pending.append(state)
    return seen


def _step(tokens: _Tokens, index: int, inside: bool, char: str) -> set[tuple[int, bool]]:
    """The states after reading char in state (index, inside)."""
    if index >= len(tokens):
        return set()
    kind, value = tokens[index]
    if kind == _DIRS:
        if not inside:
            return set()
        return {(index, True), (index, False)} if char == "/" else {(index, True)}
    if kind == _REST:
        return {(index, False)}
    if char == "/" and kind != _LIT:
        return set()
    if kind == _STAR:
        return {(index, False)}
    if kind == _ONE or (kind == _LIT and value == char):
        return {(index + 1, False)}
    if kind == _CLASS and _in_class(value, char):
        return {(index + 1, False)}
    return set()


def _in_class(value: object, char: str) -> bool:
    negated, ranges = cast(_Class, value)
    inside = any(low <= char <= high for low, high in ranges)
    return inside != negated


def _split(pattern: str) -> list[str]:
    """pattern's path parts: split on each "/" that is not escaped."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "/":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _part(part: str, whole: str) -> list[_Token]:
    """The tokens of one path part (none of them reads "/")."""
    out: list[_Token] = []
    i = 0
    while i < len(part):
        char = part[i]
        if char == "\\":
            if i + 1 >= len(part):
                raise PatternInvalid(whole, "ends with a lone backslash")
            out.append((_LIT, part[i + 1]))
            i += 2
        elif char == "*":
            out.append((_STAR, None))
            while i < len(part) and part[i] == "*":
                i += 1
        elif char == "?":
            out.append((_ONE, None))
            i += 1
        elif char == "[":
            end = _class_end(part, i + 1, whole)
            out.append((_CLASS, _character_class(part[i + 1 : end], whole)))
            i = end + 1
        else:
            out.append((_LIT, char))
            i += 1
    return out


def _character_class(content: str, whole: str) -> _Class:
    """[a-z], [^a-z] (doublestar negates with ^ only): (negated, ranges)."""
    if not content:
        raise PatternInvalid(whole, "an empty character class []")
    negated = content.startswith("^")
    runes = content[1:] if negated else content
    ranges: list[tuple[str, str]] = []
    i = 0
    while i < len(runes):
        low, i = _class_rune(runes, i, whole)
        high = low
        if i < len(runes) and runes[i] == "-":
            if i + 1 >= len(runes):
                raise PatternInvalid(whole, "a range in [] has no upper end")
            high, i = _class_rune(runes, i + 1, whole)
        ranges.append((low, high))  # a reversed range holds nothing, as in doublestar
    return negated, tuple(ranges)


def _class_rune(runes: str, i: int, whole: str) -> tuple[str, int]:
    char = runes[i]
    if char == "-":
        raise PatternInvalid(whole, "a - in [] has no lower end")
    if char != "\\":
        return char, i + 1
    if i + 1 >= len(runes):
        raise PatternInvalid(whole, "a [] ends with a lone backslash")
    return runes[i + 1], i + 2
