"""One module changes stock: nothing but data/ledger.py updates stock_positions or appends
to stock_events (migrations, which create the tables, aside)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEDGER = ROOT / "data" / "ledger.py"
WRITES = re.compile(
    r"UPDATE\s+stock_positions|INSERT\s+INTO\s+stock_events|"
    r"update\(\s*(SP|StockPosition)\b|insert\(\s*(StockEvent|StockPosition|SP)\b|"
    r"(?<!class )(StockEvent|StockPosition)\((?!Base)", re.IGNORECASE)
PACKAGES = ("optimizer", "forecasting", "allocation", "fulfilment", "simulations", "data", "api")


def _writers() -> list[str]:
    found = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "migrations" in path.parts or path == LEDGER:
                continue
            for no, line in enumerate(path.read_text().splitlines(), 1):
                if WRITES.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    return found


def test_only_the_ledger_module_writes_stock() -> None:
    assert _writers() == []


def test_the_check_would_see_a_writer() -> None:
    # The ledger itself matches: the pattern is not blind.
    assert any(WRITES.search(line) for line in LEDGER.read_text().splitlines())
    assert WRITES.search('cur.execute("UPDATE stock_positions SET reserved = 1")')
    assert WRITES.search("session.execute(insert(StockEvent).values(x=1))")
