"""Service load: allocations and availability at three offered rates (make bench).

Targets (issue 7): allocations p99 <= 25 ms at 300 orders/s on SQLite with one worker;
availability p99 <= 10 ms at 1,000 reads/s. Reported, not asserted: the figures depend on
the machine, and the open-loop generator (tests/benchmarks/loadgen.py) shares its cores
with the server. Each row gives the client's view (from the due time of each request, so
queueing counts) and the server's own time per request (its access log: from the ASGI
call to the last byte handed to the socket, without time spent waiting to be read).

    OMNI_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
      .venv/bin/pytest -s tests/benchmarks/test_bench_service_load.py --benchmark-only

One run each, 2026-12-01, 2 shared cores (load average 2-3 from other jobs during the
SQLite run, 5-10 during the PostgreSQL one); reads mix network ATP 60%, at a store 25%,
near a ZIP 15%; orders of 1-3 lines to the 300 largest Texas ZIPs:

    route / server                 offered  achieved  client p50/p99 ms  server p50/p99 ms
    POST allocations, SQLite 1 w      25/s     25/s        6.0 / 10.9        3.90 / 9.15
                                     100/s    100/s        5.7 / 11.6        3.93 / 9.54
                                     300/s    300/s       14.5 / 120         11.7 / 107
    GET availability, SQLite 1 w     100/s    100/s        2.7 / 6.0         1.19 / 2.24
                                     300/s    300/s        2.0 / 234         0.88 / 2.86
                                    1000/s    999/s        7.3 / 362         0.59 / 1.67
    POST allocations, PG 2 w          25/s     25/s       14.7 / 32.3        12.3 / 27.4
                                     100/s     90/s        671 / 3405         436 / 3192
                                     300/s    105/s       6027 / 11292        329 / 2802
    GET availability, PG 2 w         100/s    100/s        6.0 / 17.4        3.90 / 13.1
                                     300/s    299/s       33.3 / 296         26.7 / 253
                                    1000/s    345/s       5868 / 11253        120 / 708

SQLite reads meet the target on the server's clock (p99 1.7 ms at 1,000/s) but not on the
client's, whose tail is the generator and server fighting for two loaded cores (the
server's largest gap between two logged requests was 19 ms while the client saw 150-360
ms). Allocations keep up with 300/s on SQLite (about 2.5-3 ms of CPU each, one writer)
but queue: p99 well above 25 ms. PostgreSQL on this box saturates near 100 allocations/s
(a 4 ms fsync per commit and a round trip per statement, with the database server on the
same two cores).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data.db import Database
from data.demo import DemoParams, build_network
from data.demo_write import write_network
from data.migrate import upgrade
from data.reference import load_zips
from tests.benchmarks.loadgen import LoadResult, ServerLog, open_loop, pooled, running_server
from tests.benchmarks.test_bench_allocation_api import order_maker

ALLOCATION_RATES = (25, 100, 300)
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


def _repeat(label: str, fire: Callable[[int], LoadResult]) -> list[tuple[str, LoadResult]]:
    """REPEATS runs at one rate: each run's row, then all of them pooled (the headline)."""
    runs = [fire(k) for k in range(REPEATS)]
    rows = [(f"{label} run {k + 1}", r) for k, r in enumerate(runs)]
    return [*rows, (f"{label} pooled", pooled(runs))]


def _run(url: str, workers: int, label: str) -> list[tuple[str, LoadResult]]:
    zips = _tx_zips()
    stores = _stores(url)
    out: list[tuple[str, LoadResult]] = []
    log_path = tempfile.mktemp(suffix=".log")
    log = ServerLog(log_path)
    # Auth is measured by its own tests; here the cost of the work itself.
    try:
        with running_server(url, workers=workers, env={"OMNI_AUTH_REQUIRED": "false"},
                            log_path=log_path) as base:
            open_loop(base, 20, 2, order_maker(0, SKUS, zips, f"{label}-warm"))
            open_loop(base, 50, 2, read_maker(0, stores, zips))
            log.times_ms("")  # skip the warm-up
            for rate in ALLOCATION_RATES:
                out += _repeat(f"POST /v1/allocations {label}", lambda k, rate=rate: (
                    log.annotate(open_loop(base, rate, SECONDS, order_maker(
                        100 * rate + k, SKUS, zips, f"{label}-{rate}-{k}")),
                        "/v1/allocations")))
            for rate in AVAILABILITY_RATES:
                out += _repeat(f"GET /v1/availability {label}", lambda k, rate=rate: (
                    log.annotate(open_loop(base, rate, SECONDS,
                                           read_maker(100 * rate + k, stores, zips)),
                                 "/v1/availability")))
    finally:
        Path(log_path).unlink(missing_ok=True)
    return out


def _report(benchmark: Any, rows: list[tuple[str, LoadResult]]) -> None:
    for name, r in rows:
        print(f"\n{name}: {r.row()}")
        benchmark.extra_info[f"{name} @{int(r.offered_rps)}"] = r.row()
    assert all(r.ok > 0 for _, r in rows)


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
    _report(benchmark, rows)


@pytest.mark.postgres
def test_service_load_postgres_two_workers(benchmark: Any, pg_db: Database) -> None:
    """PostgreSQL, two uvicorn workers sharing the ledger."""
    _seed(pg_db)
    rows: list[tuple[str, LoadResult]] = []
    benchmark.pedantic(lambda: rows.extend(_run(pg_db.url, 2, "postgres 2 workers")),
                       rounds=1, iterations=1)
    _report(benchmark, rows)
