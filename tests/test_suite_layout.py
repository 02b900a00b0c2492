"""The test suite's own rule: a test module imports helpers from a support module
(tests/support.py, tests/factories.py, tests/peers.py, or a folder's own), never from a
conftest.py (pytest loads those itself, as fixtures) nor from another test module."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def forbidden_imports(path: Path) -> list[str]:
    """The modules of tests that path imports and may not: conftests and test modules."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            last = name.rsplit(".", 1)[-1]
            if name.startswith("tests.") and (last == "conftest" or last.startswith("test_")):
                found.append(name)
    return found


def test_no_test_module_imports_a_conftest_or_another_test_module() -> None:
    offenders = {
        str(path.relative_to(TESTS)): bad
        for path in sorted(TESTS.rglob("*.py"))
        if (bad := forbidden_imports(path))
    }
    assert offenders == {}
