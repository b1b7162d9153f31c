"""Service load: allocations up to and past saturation, availability reads (make bench).

Targets (issue 14): 700 committed allocations/s with p99 <= 50 ms on SQLite with one
worker, at least 500/s on PostgreSQL with two workers, zero oversold; the saturation point
of each database. Reported, not asserted (except zero oversold): the figures depend on the
machine, and the open-loop generator (tests/benchmarks/loadgen.py) shares its cores with
the server. Each row gives the client's view (from the due time of each request, so
queueing counts) and the server's own time per request (its access log).

    OMNI_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
      .venv/bin/pytest -s tests/benchmarks/test_bench_service_load.py --benchmark-only

Each rate runs REPEATS = 3 times for 6 s, and the network is restocked to its opening
ATP before each run (`Restock`), so every rate meets the same network; the headline is
the three runs pooled. Orders of 1-3 lines to the 300 largest Texas ZIPs; reads mix
network ATP 60%, at a store 25%, near a ZIP 15%. 2026-12-04, 2 cores, one run of the
whole file at commit 73cf0f4 (steal 0-0.8%), pooled rows:

                                              client p50/p99 ms    server p50/p99 ms
    route / server                 offered  achieved
    POST allocations, SQLite 1 w     300/s    300/s     2.9 / 13.0     2.2 / 10.4
                                     500/s    500/s     3.2 / 25.5     2.4 / 21.4
                                     700/s    699/s     8.8 / 69.1     7.5 / 47.9
                                    1000/s    995/s    31.4 / 182      24.0 / 63.8
    GET availability, SQLite 1 w     100/s    100/s     1.0 / 2.3      0.5 / 1.0
                                     300/s    300/s     0.8 / 2.3      0.4 / 0.9
                                    1000/s   1000/s     0.8 / 2.5      0.4 / 0.8
    POST allocations, PG 2 w         300/s    300/s     8.5 / 34.4     7.6 / 31.4
                                     500/s    499/s    23.0 / 78.3    21.1 / 74.0
                                     700/s    678/s     136 / 389      80 / 134
                                    1000/s    641/s    1607 / 3881     92 / 159
    GET availability, PG 2 w         100/s    100/s     2.5 / 5.7      1.7 / 3.7
                                     300/s    300/s     1.8 / 5.7      1.2 / 4.2
                                    1000/s   1000/s     1.5 / 9.4      1.0 / 7.2

Saturation: SQLite with one worker serves about 1,000 allocations/s in full (995/s at
1,000 offered), with p99 <= 50 ms up to 500/s pooled (the three 700/s runs: 87, 27 and
50 ms); PostgreSQL with two workers serves 500/s in full and saturates near 680/s (the
database server, both workers and the generator share the two cores). Zero oversold on
both. Before the batch writer (issue 14), PostgreSQL stopped near 200/s and SQLite was
measured only to 300/s.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from data import ledger
from data.db import Database
from data.demo import DemoParams, build_network
from data.demo_write import write_network
from data.migrate import upgrade
from data.models import EventKind, Node, Sku, utcnow
from data.reference import load_zips
from tests.benchmarks.loadgen import LoadResult, ServerLog, open_loop, pooled, running_server
from tests.benchmarks.test_bench_allocation_api import order_maker

ALLOCATION_RATES = (300, 500, 700, 1000)  # up to and past saturation (issue 14)
AVAILABILITY_RATES = (100, 300, 1000)
SECONDS = 6
REPEATS = 3  # runs per rate: a VM's stolen CPU comes in bursts; each run is shown
SKUS = [f"SKU-{i:06d}" for i in range(1, 101)]


def _tx_zips() -> list[str]:
    zips = load_zips()
    tx = zips[zips["zip"].str[:2].isin(["75", "76", "77", "78", "79"])]
    return tx.nlargest(300, "population")["zip"].tolist()


def read_maker(seed: int, stores: list[str] | None = None,
               zips: list[str] | None = None) -> Callable[[int], tuple[str, str, Any]]:
    """Product-page reads of 1-3 random SKUs: network ATP (60%), at my store (25%) and
    pickup at stores near a ZIP (15%); network only when no stores or ZIPs are given."""
    rng = np.random.default_rng(seed)

    def make(_i: int) -> tuple[str, str, Any]:
        k = int(rng.choice([1, 2, 3], p=[0.6, 0.3, 0.1]))
        query = "&".join(f"sku={s}" for s in rng.choice(SKUS, size=k, replace=False))
        kind = rng.random()
        if stores and kind < 0.25:
            query += f"&node={rng.choice(stores)}"
        elif zips and kind < 0.40:
            query += f"&zip={rng.choice(zips)}"
        return "GET", f"/v1/availability?{query}", None
    return make


def _stores(url: str) -> list[str]:
    db = Database.from_url(url)
    try:
        return [c for (c,) in db.read_rows("SELECT code FROM nodes WHERE kind = 'store'")]
    finally:
        db.dispose()


def _seed(db: Database) -> None:
    write_network(db, build_network(DemoParams(history_days=0)))


class Restock:
    """Receipts that bring every position's ATP back to its opening level between runs, so
    each rate meets the same network (not one emptied by the rates before it: depleted
    SKUs turn orders into multi-node splits and unfilled lines, another workload)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opening = dict(self._atp())

    def _atp(self) -> list[tuple[tuple[int, int], int]]:
        db = Database.from_url(self.url)
        try:
            return [((n, k), a) for n, k, a in db.read_rows(
                "SELECT node_id, sku_id, on_hand - reserved FROM stock_positions")]
        finally:
            db.dispose()

    def __call__(self) -> int:
        """Receive what the runs took; the units received."""
        db = Database.from_url(self.url)
        try:
            with db.transaction() as s:
                codes = {i: c for i, c in s.execute(select(Node.id, Node.code))}
                skus = {i: c for i, c in s.execute(select(Sku.id, Sku.code))}
                events = [ledger.FeedEvent(
                    ledger.StockKey(n, k, codes[n], skus[k]), EventKind.receipt,
                    self.opening[n, k] - a, utcnow(), f"restock-{uuid.uuid4().hex}")
                    for (n, k), a in self._atp() if self.opening.get((n, k), 0) > a]
                ledger.apply_feed(s, events)
            time.sleep(1.0)  # the service's WAL checkpoint of the receipts, before the clock
            return sum(e.qty for e in events)
        finally:
            db.dispose()


def _repeat(label: str, fire: Callable[[int], LoadResult],
            between: Callable[[], object] = lambda: None) -> list[tuple[str, LoadResult]]:
    """REPEATS runs at one rate: each run's row, then all of them pooled (the headline)."""
    runs = []
    for k in range(REPEATS):
        between()
        runs.append(fire(k))
    rows = [(f"{label} run {k + 1}", r) for k, r in enumerate(runs)]
    return [*rows, (f"{label} pooled", pooled(runs))]


def _run(url: str, workers: int, label: str) -> list[tuple[str, LoadResult]]:
    zips = _tx_zips()
    stores = _stores(url)
    tag = label.replace(" ", "-")  # order ids follow api.validation.ID_PATTERN
    out: list[tuple[str, LoadResult]] = []
    log_path = tempfile.mktemp(suffix=".log")
    log = ServerLog(log_path)
    # Auth is measured by its own tests; here the cost of the work itself.
    try:
        with running_server(url, workers=workers, env={"OMNI_AUTH_REQUIRED": "false"},
                            log_path=log_path) as base:
            # Warm every worker's caches (decide's per-location prices for the 300 ZIPs,
            # prepared statements): the first seconds after start-up are not the service.
            open_loop(base, 50, 4, order_maker(0, SKUS, zips, f"{tag}-warm"))
            open_loop(base, 50, 2, read_maker(0, stores, zips))
            log.times_ms("")  # skip the warm-up
            restock = Restock(url)
            for rate in ALLOCATION_RATES:
                out += _repeat(f"POST /v1/allocations {label}", lambda k, rate=rate: (
                    log.annotate(open_loop(base, rate, SECONDS, order_maker(
                        100 * rate + k, SKUS, zips, f"{tag}-{rate}-{k}")),
                        "/v1/allocations")), restock)
            for rate in AVAILABILITY_RATES:
                out += _repeat(f"GET /v1/availability {label}", lambda k, rate=rate: (
                    log.annotate(open_loop(base, rate, SECONDS,
                                           read_maker(100 * rate + k, stores, zips)),
                                 "/v1/availability")))
    finally:
        Path(log_path).unlink(missing_ok=True)
    return out


def oversold(url: str) -> int:
    """Positions holding more reservations than stock allows, or negative (must be 0)."""
    db = Database.from_url(url)
    try:
        return int(db.read_rows(
            "SELECT count(*) FROM stock_positions WHERE (reserved > 0 AND reserved > "
            "on_hand - safety_stock) OR on_hand < 0 OR reserved < 0")[0][0])
    finally:
        db.dispose()


def saturation(rows: list[tuple[str, LoadResult]], route: str, p99_ms: float = 50.0) -> str:
    """The highest offered rate still served in full (>= 98%) with pooled p99 <= p99_ms."""
    ok = [r.offered_rps for name, r in rows if route in name and name.endswith("pooled")
          and r.achieved_rps >= 0.98 * r.offered_rps and r.p99_ms <= p99_ms]
    return f"{max(ok):.0f}/s" if ok else "below the lowest rate"


def _report(benchmark: Any, rows: list[tuple[str, LoadResult]], url: str) -> None:
    for name, r in rows:
        print(f"\n{name}: {r.row()}")
        benchmark.extra_info[f"{name} @{int(r.offered_rps)}"] = r.row()
    sat = saturation(rows, "POST /v1/allocations")
    bad = oversold(url)
    print(f"\nallocations served in full with p99 <= 50 ms up to {sat}; oversold positions: {bad}")
    benchmark.extra_info["allocation saturation"] = sat
    assert all(r.ok > 0 for _, r in rows)
    assert bad == 0


@pytest.fixture(scope="module")
def demo_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The default TX demo network in a SQLite file."""
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('load')) / 'demo.db'}"
    upgrade(url)
    db = Database.from_url(url)
    _seed(db)
    db.dispose()
    return url


def test_service_load_sqlite_one_worker(benchmark: Any, demo_sqlite_url: str) -> None:
    """SQLite, one uvicorn worker (the one-machine default)."""
    rows: list[tuple[str, LoadResult]] = []
    benchmark.pedantic(lambda: rows.extend(_run(demo_sqlite_url, 1, "sqlite 1 worker")),
                       rounds=1, iterations=1)
    _report(benchmark, rows, demo_sqlite_url)


@pytest.mark.postgres
def test_service_load_postgres_two_workers(benchmark: Any, pg_db: Database) -> None:
    """PostgreSQL, two uvicorn workers sharing the ledger."""
    _seed(pg_db)
    rows: list[tuple[str, LoadResult]] = []
    benchmark.pedantic(lambda: rows.extend(_run(pg_db.url, 2, "postgres 2 workers")),
                       rounds=1, iterations=1)
    _report(benchmark, rows, pg_db.url)
