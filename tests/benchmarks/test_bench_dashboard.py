"""Stock page server time on a 1,000-node x 10,000-SKU network (make bench)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from api.dashboard.service import StockQuery, stock_page
from data.db import Database
from data.demo import DemoParams, build_network
from data.demo_write import write_network
from data.migrate import upgrade

BIG = DemoParams(region="US", stores=1000, skus=10_000, dcs=5, history_days=0)
CACHE = Path(os.environ.get("OMNI_BENCH_CACHE", "/tmp/omni-bench"))


@pytest.fixture(scope="module")
def big_db() -> Database:
    """The benchmark network in SQLite, built once and kept between runs (about 40 s)."""
    path = CACHE / "big-1000x10000.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        upgrade(f"sqlite:///{tmp}")
        db = Database.from_url(f"sqlite:///{tmp}")
        t0 = time.perf_counter()
        write_network(db, build_network(BIG))
        db.dispose()
        tmp.rename(path)
        print(f"\nbuilt the benchmark network in {time.perf_counter() - t0:.1f}s")
    else:
        upgrade(url)
    return Database.from_url(url)


QUERIES = {
    "one_node_by_cover": StockQuery(node="ST-1", sort="days_of_cover"),
    "category_low_by_atp_desc": StockQuery(category="grocery", risk="low", sort="atp",
                                           descending=True),
    "all_by_atp_page_100": StockQuery(sort="atp", descending=True, page=100),
    "out_of_stock_by_node": StockQuery(risk="out", sort="node"),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_stock_page_server_time(benchmark, big_db: Database, name: str) -> None:
    q = QUERIES[name]

    def run() -> int:
        with big_db.read_session() as s:
            return len(stock_page(s, q)["items"])

    rows = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert rows >= 0
    print(f"\nstock page {name}: median {benchmark.stats['median'] * 1e3:.0f} ms")
