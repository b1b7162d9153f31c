"""Service load: allocations and availability at three offered rates (make bench).

Targets (issue 7): allocations p99 <= 25 ms at 300 orders/s on SQLite with one worker;
availability p99 <= 10 ms at 1,000 reads/s. Reported, not asserted: the figures depend on
the machine, and the open-loop generator (tests/benchmarks/loadgen.py) shares its cores
with the server. Each row gives the client's view (from the due time of each request, so
queueing counts) and the server's own time per request (its access log: from the ASGI
call to the last byte handed to the socket, without time spent waiting to be read).

    OMNI_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
      .venv/bin/pytest -s tests/benchmarks/test_bench_service_load.py --benchmark-only

Each rate runs REPEATS = 3 times for 6 s; the headline is the three runs pooled (p50/p99
over every request), with the CPU time the hypervisor stole from this VM meanwhile
(/proc/stat). Reads mix network ATP 60%, at a store 25%, near a ZIP 15%; orders of 1-3
lines to the 300 largest Texas ZIPs. 2026-12-01, 2 cores, two runs (A: SQLite only, steal
3-12% during the 100/s and 300/s allocation and 1,000/s read rows; B: both databases,
steal 0% on SQLite, up to 1.6% on PostgreSQL), pooled rows:

                                              client p50/p99 ms     server p50/p99 ms
    route / server                 offered  achieved  run A      run B       run B
    POST allocations, SQLite 1 w      25/s     25/s     3.8 / 7.5    3.4 / 5.3   2.39 / 3.91
                                     100/s    100/s     4.3 / 12.4   3.1 / 5.1   2.25 / 3.69
                                     300/s    300/s     3.2 / 12.4   2.4 / 7.4   1.84 / 5.96
    GET availability, SQLite 1 w     100/s    100/s     1.6 / 3.1    1.5 / 2.8   0.72 / 1.29
                                     300/s    300/s     1.2 / 3.7    0.9 / 2.5   0.51 / 1.04
                                    1000/s   1000/s     1.4 / 7.9    1.0 / 2.6   0.35 / 0.77
    POST allocations, PG 2 w          25/s     25/s                  6.7 / 9.5   5.59 / 8.04
                                     100/s    100/s                  6.6 / 11.7  5.67 / 10.3
                                     300/s    197/s                  1840 / 3804  169 / 1880
    GET availability, PG 2 w         100/s    100/s                  2.8 / 7.4   1.70 / 5.29
                                     300/s    300/s                  1.8 / 5.7   1.15 / 3.98
                                    1000/s   1000/s                  1.7 / 36.6  1.27 / 25.5

Run C, the final code of that day (steal 0-7%), pooled client p50/p99: SQLite allocations
25/s 4.3/8.9, 100/s 4.3/15.5, 300/s 3.3/16.0; reads 100/s 1.5/3.5, 300/s 1.2/8.1, 1,000/s
0.9/3.9. PostgreSQL allocations 25/s 7.8/191 and 100/s 7.5/197 (the first orders of each
worker to cold ZIPs: the warm-up is longer since), 300/s offered 173/s achieved; reads at
1,000/s offered 937/s achieved, p99 1.18 s (saturated).

Targets met on SQLite with one worker in all three runs: allocations p99 7.4-16.0 ms at
300/s (<= 25), reads p99 2.6-7.9 ms at 1,000/s (<= 10). The worst single 6 s run at 300/s
was 18.3 ms; before the generator fix below, runs under 20-30% steal reached 50-500 ms, and
a run under heavy steal can still miss (each run's row is printed). On PostgreSQL with two
workers, the database server and the generator share the two cores: allocations top out
near 200/s (a commit's fsync and a round trip per statement) and reads reach 1,000/s with
a p99 of 37 ms in one run and saturate (937/s) in another.

Earlier versions of this generator charged its own costs to the server: it created every
request's task up front (thousands of sleeping tasks; the first requests waited tens of
milliseconds for the loop) and ran on the stock asyncio loop, whose timer and stream
overhead at 1,000/s came in bursts of 10-60 ms; client p99 at 1,000 reads/s went from
87-362 ms to 3-8 ms with the server unchanged.
"""

from __future__ import annotations

import tempfile
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
