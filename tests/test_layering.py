"""The layers import down only: a pure core, a fulfilment layer without HTTP, a thin api."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("optimizer", "forecasting", "allocation", "fulfilment", "simulations", "data", "api")
WEB = ("fastapi", "starlette")
DRIVERS = ("sqlalchemy", "psycopg", "sqlite3")
# package -> what none of its modules may import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "optimizer": ("data", "fulfilment", "api", "allocation", *WEB, *DRIVERS),
    "forecasting": ("data", "fulfilment", "api", "allocation", *WEB, *DRIVERS),
    "allocation": ("data", "fulfilment", "api", *WEB, *DRIVERS),
    "fulfilment": ("api", *WEB),
    "simulations": ("api", "fulfilment", *WEB),
    "data": ("api", "fulfilment", *WEB),
}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(package: str) -> None:
    files = sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)
    assert files
    bad = [f"{path.relative_to(ROOT)} imports {name}" for path in files
           for name in _imports(path)
           for f in FORBIDDEN[package] if name == f or name.startswith(f + ".")]
    assert not bad, "\n".join(bad)


def test_nothing_outside_api_imports_api() -> None:
    outside = [p for pkg in PACKAGES if pkg != "api" for p in (ROOT / pkg).rglob("*.py")]
    bad = [f"{p.relative_to(ROOT)} imports {n}" for p in outside for n in _imports(p)
           if n == "api" or n.startswith("api.")]
    assert not bad, "\n".join(bad)
