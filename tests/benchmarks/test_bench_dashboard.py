"""Stock page server time on a 1,000-node x 10,000-SKU network (make bench).

The network has a daily demand rate per (store, SKU), as `omni forecast-network` stores
them (written here from the demo's expected sales times a forecast error, in seconds, not
by forecasting 3.4 million series); DCs have no sales history, so no rate and no days of
cover, like after a real forecast run. Every query must answer in under 300 ms.

SQLite: built once (a few minutes) and kept under OMNI_BENCH_CACHE (/tmp/omni-bench).
PostgreSQL (when OMNI_TEST_POSTGRES_URL is set): the same rows copied from the SQLite file
into the schema PG_SCHEMA of that database, kept between runs and rebuilt when the SQLite
file changes; OMNI_BENCH_PG_DROP=1 drops the schema after the run.

test_stock_page_server_time times the named QUERIES with pytest-benchmark;
test_every_filter_sort_and_page_under_budget sweeps every combination a person can click
and writes each median to tests/artifacts/bench_dashboard_<database>.json.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from api.dashboard.service import SORTS, StockQuery, stock_page
from data.db import Database
from data.demo import DemoNetwork, DemoParams, build_network
from data.demo_write import write_network
from data.migrate import upgrade
from data.models import Base, Sku, StockPosition
from data.stock_cover import INDEXES
from tests.conftest import PG_URL, _missing_service
from tests.factories import synthetic_demand_rates

BIG = DemoParams(region="US", stores=1000, skus=10_000, dcs=5, history_days=0)
CACHE = Path(os.environ.get("OMNI_BENCH_CACHE", "/tmp/omni-bench"))
# The PostgreSQL copy of the network: a schema of its own in OMNI_TEST_POSTGRES_URL's database.
PG_SCHEMA = "omni_bench_dashboard_1000x10000"
BUDGET_S = 0.300
FORECAST_ERROR = 0.5  # lognormal sigma of the synthetic rates around the expected sales


def synthetic_rates(db: Database, net: DemoNetwork) -> int:
    """Write a demand rate for every store position: expected sales x a forecast error."""
    return synthetic_demand_rates(db, net, FORECAST_ERROR, seed=BIG.seed)


def _build_sqlite(path: Path) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    upgrade(f"sqlite:///{tmp}")
    db = Database.from_url(f"sqlite:///{tmp}")
    t0 = time.perf_counter()
    # Bulk load: the stock indexes of migration 0005 are dropped while 3.4 million
    # positions and their rates go in, and built again after (same names, same SQL).
    with db.engine.begin() as conn:
        for name in INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {name}")
    net = build_network(BIG)
    write_network(db, net)
    t1 = time.perf_counter()
    n = synthetic_rates(db, net)
    t2 = time.perf_counter()
    with db.engine.begin() as conn:
        for name, cols in INDEXES.items():
            conn.exec_driver_sql(f"CREATE INDEX {name} ON stock_positions ({', '.join(cols)})")
    db.dispose()
    tmp.rename(path)
    print(f"\nbuilt the benchmark network in {t1 - t0:.1f}s, {n:,} demand rates in "
          f"{t2 - t1:.1f}s, stock indexes in {time.perf_counter() - t2:.1f}s")


def _sqlite_big() -> Database:
    """The benchmark network in SQLite, built once and kept between runs (a few minutes)."""
    path = CACHE / "big-1000x10000.db"
    if not path.exists():
        _build_sqlite(path)
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database.from_url(url)
    with db.read_session() as s:
        rated = s.scalar(select(StockPosition.node_id)
                         .where(StockPosition.demand_rate.is_not(None)).limit(1))
    if rated is None:  # a cache from before demand rates: delete it to rebuild
        pytest.fail(f"{path} has no demand rates: delete it so the benchmark rebuilds it")
    return db


# The stock page reads these tables only; the PostgreSQL copy holds just them.
PG_TABLES = ("nodes", "skus", "stock_positions")


def _pg_stamp(sqlite_path: Path) -> str:
    st = sqlite_path.stat()
    return f"{sqlite_path.name}:{st.st_size}:{int(st.st_mtime)}"


def _copy_to_pg(sqlite_path: Path, pg: Database) -> None:
    """Copy nodes, SKUs and stock positions (ids kept) from the SQLite cache with COPY."""
    import sqlite3

    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    with pg.engine.begin() as conn:
        for name in INDEXES:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
        conn.exec_driver_sql(f"TRUNCATE {', '.join(PG_TABLES)} CASCADE")
        raw = conn.connection.driver_connection
        for table in PG_TABLES:
            cols = [c.name for c in Base.metadata.tables[table].columns]
            with raw.cursor() as cur, cur.copy(
                    f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in src.execute(f"SELECT {', '.join(cols)} FROM {table}"):
                    copy.write_row(row)
        for table in ("nodes", "skus"):
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT max(id) FROM {table}))")
        for name, cols in INDEXES.items():
            conn.exec_driver_sql(f"CREATE INDEX {name} ON stock_positions ({', '.join(cols)})")
    src.close()
    with pg.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in PG_TABLES:  # statistics and the visibility map, as autovacuum would
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")


def _pg_big(sqlite_db: Database) -> tuple[Database, Callable[[], None]]:
    """The same network in PostgreSQL: schema PG_SCHEMA of OMNI_TEST_POSTGRES_URL's database.

    Copied from the SQLite cache once and kept (about a gigabyte); a changed SQLite cache
    rebuilds it; OMNI_BENCH_PG_DROP=1 drops the schema after the run.
    """
    if not PG_URL:
        _missing_service("OMNI_TEST_POSTGRES_URL is not set")
    sqlite_path = Path(sqlite_db.engine.url.database or "")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            stamp = conn.exec_driver_sql(
                "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace "
                "WHERE nspname = %s", (PG_SCHEMA,)).scalar()
    except Exception as exc:
        admin.dispose()
        _missing_service(f"PostgreSQL at {PG_URL} is unreachable: {exc.__class__.__name__}")
    url = (make_url(PG_URL).update_query_dict({"options": f"-csearch_path={PG_SCHEMA}"})
           .render_as_string(hide_password=False))
    if stamp != _pg_stamp(sqlite_path):  # none yet, or of another SQLite cache: rebuild
        t0 = time.perf_counter()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
            conn.exec_driver_sql(f'CREATE SCHEMA "{PG_SCHEMA}"')
        upgrade(url)
        db = Database.from_url(url)
        _copy_to_pg(sqlite_path, db)
        with admin.connect() as conn:  # the stamp, once the copy is complete
            conn.exec_driver_sql(f"COMMENT ON SCHEMA \"{PG_SCHEMA}\" IS "
                                 f"'{_pg_stamp(sqlite_path)}'")
        print(f"\ncopied the benchmark network to PostgreSQL schema {PG_SCHEMA} in "
              f"{time.perf_counter() - t0:.1f}s")
    else:
        upgrade(url)
        db = Database.from_url(url)

    def drop() -> None:
        db.dispose()
        if os.environ.get("OMNI_BENCH_PG_DROP", "") in {"1", "true", "yes"}:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
        admin.dispose()

    return db, drop


@pytest.fixture(scope="module")
def sqlite_big() -> Iterator[Database]:
    db = _sqlite_big()
    yield db
    db.dispose()


@pytest.fixture(scope="module", params=["sqlite",
                                        pytest.param("postgres", marks=pytest.mark.postgres)])
def big_db(request: pytest.FixtureRequest, sqlite_big: Database) -> Iterator[Database]:
    """The 1,000 x 10,000 network on SQLite, then the same rows on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_big
        return
    db, drop = _pg_big(sqlite_big)
    try:
        yield db
    finally:
        drop()


QUERIES = {
    # The four of the first measurement.
    # (It named ST-1, a store this network does not have: it measured an empty page.)
    "one_node_by_cover": StockQuery(node="ST-7", sort="days_of_cover"),
    "category_low_by_atp_desc": StockQuery(category="grocery", risk="low", sort="atp",
                                           descending=True),
    "all_by_atp_page_100": StockQuery(sort="atp", descending=True, page=100),
    "out_of_stock_by_node": StockQuery(risk="out", sort="node"),
    # The page as it opens, and every sort column network-wide.
    "all_by_cover": StockQuery(sort="days_of_cover"),
    "all_by_cover_desc": StockQuery(sort="days_of_cover", descending=True),
    "all_by_node_desc": StockQuery(sort="node", descending=True),
    "all_by_sku": StockQuery(sort="sku"),
    "all_by_category_desc": StockQuery(sort="category", descending=True),
    "all_by_on_hand_desc": StockQuery(sort="on_hand", descending=True),
    "all_by_reserved": StockQuery(sort="reserved"),
    "all_by_safety_stock_desc": StockQuery(sort="safety_stock", descending=True),
    # Each risk filter with the cover sort, and with other sorts.
    "out_by_cover": StockQuery(risk="out", sort="days_of_cover"),
    "low_by_cover": StockQuery(risk="low", sort="days_of_cover"),
    "ok_by_cover_desc": StockQuery(risk="ok", sort="days_of_cover", descending=True),
    "low_by_sku": StockQuery(risk="low", sort="sku"),
    "ok_by_category": StockQuery(risk="ok", sort="category"),
    "low_by_node": StockQuery(risk="low", sort="node"),
    # Filters together, and one node with a risk filter.
    "category_out_by_on_hand": StockQuery(category="electronics", risk="out", sort="on_hand"),
    "category_ok_by_sku_desc": StockQuery(category="toys", risk="ok", sort="sku",
                                          descending=True),
    "one_node_out_by_atp": StockQuery(node="ST-7", risk="out", sort="atp"),
    "one_dc_by_cover_desc": StockQuery(node="DC-Chicago", sort="days_of_cover",
                                       descending=True),
    # Deep pages: the last the page offers (10,000 rows) and past the positions with cover.
    "all_by_cover_page_200": StockQuery(sort="days_of_cover", page=200),
    "low_by_cover_desc_last_page": StockQuery(risk="low", sort="days_of_cover",
                                              descending=True, per_page=100),
    # Its last page ends among the DC positions, which have no forecast (cover then NULL).
    "category_out_by_cover_last_page": StockQuery(category="electronics", risk="out",
                                                  sort="days_of_cover"),
    "out_by_node_page_200": StockQuery(risk="out", sort="node", page=200),
    "low_by_category_desc_last_page": StockQuery(risk="low", sort="category",
                                                 descending=True, per_page=100),
    "low_by_node_last_page": StockQuery(risk="low", sort="node"),
    "low_by_sku_desc_last_page": StockQuery(risk="low", sort="sku", descending=True),
    # The slowest of the sweep before migration 0006_dashboard (electronics: the smallest
    # category, 3% of positions; grocery the largest): category filters on deep pages.
    "category_by_reserved_last_page": StockQuery(category="electronics", sort="reserved"),
    "category_ok_by_cover_desc_last_page": StockQuery(category="electronics", risk="ok",
                                                      descending=True),
    "category_ok_by_category_desc_last_page": StockQuery(category="electronics", risk="ok",
                                                         sort="category", descending=True),
    "category_by_node_last_page": StockQuery(category="electronics", sort="node"),
    "category_out_by_node_desc_last_page": StockQuery(category="electronics", risk="out",
                                                      sort="node", descending=True),
    "big_category_out_by_sku_desc_last_page": StockQuery(category="grocery", risk="out",
                                                         sort="sku", descending=True),
    "one_dc_ok_by_on_hand_last_page": StockQuery(node="DC-Chicago", risk="ok", sort="on_hand"),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_stock_page_server_time(benchmark, big_db: Database, name: str) -> None:
    q = QUERIES[name]
    if name.endswith("_last_page"):
        with big_db.read_session() as s:
            total = stock_page(s, q)["total"]
        q = dataclasses.replace(q, page=max(1, -(-total // q.per_page)))

    def run() -> dict:
        with big_db.read_session() as s:
            return stock_page(s, q)

    out = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    median = benchmark.stats["median"]
    print(f"\nstock page {name}: median {median * 1e3:.1f} ms, {len(out['items'])} rows, "
          f"total {out['total']:,}{'+' if out['more'] else ''}")
    assert out["items"], f"{name}: an empty page measures nothing"
    assert median < BUDGET_S, f"{name}: {median * 1e3:.0f} ms over {BUDGET_S * 1e3:.0f} ms"


def _timed(db: Database, q: StockQuery, runs: int = 3) -> tuple[float, dict]:
    """Median server time of `runs` calls after one warm-up call."""
    times = []
    with db.read_session() as s:
        out = stock_page(s, q)
    for _ in range(runs):
        t0 = time.perf_counter()
        with db.read_session() as s:
            out = stock_page(s, q)
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2], out


def _sweep(db: Database) -> list[tuple[float, StockQuery, int, bool]]:
    with db.read_session() as s:
        sizes = sorted(s.execute(select(Sku.category, func.count()).group_by(Sku.category))
                       .all(), key=lambda r: (r[1], r[0]))
    cats = (None, sizes[-1][0], sizes[0][0])
    results: list[tuple[float, StockQuery, int, bool]] = []
    for node, cat, risk, sort, desc in itertools.product(
            (None, "ST-7", "DC-Chicago"), cats, (None, "out", "low", "ok"), sorted(SORTS),
            (False, True)):
        q = StockQuery(node, cat, risk, sort, desc)
        t_first, out = _timed(db, q)
        last = max(1, -(-out["total"] // q.per_page))
        results.append((t_first, q, out["total"], out["more"]))
        if last > 1:
            q = dataclasses.replace(q, page=last)
            t_last, out_last = _timed(db, q)
            results.append((t_last, q, out["total"], out["more"]))
            assert out_last["items"], q
    return sorted(results, key=lambda r: -r[0])


def test_every_filter_sort_and_page_under_budget(benchmark, big_db: Database) -> None:
    """Every combination a person can click: node (none, a store, a DC) x category (none,
    the largest, the smallest) x risk (none, out, low, ok) x each sort column both ways x
    the first and the last page the pager offers (10,000 rows at most), each the median of
    3 calls. Prints the slowest and writes every timing to
    tests/artifacts/bench_dashboard_<database>.json (the benchmark times the whole sweep)."""
    import json

    results = benchmark.pedantic(_sweep, args=(big_db,), rounds=1, iterations=1)
    backend = big_db.engine.dialect.name
    print(f"\n{backend}: {len(results)} stock pages, slowest first (median of 3, ms):")
    for t, q, total, more in results[:15]:
        print(f"  {t * 1e3:7.1f}  node={q.node} category={q.category} risk={q.risk} "
              f"sort={q.sort}{' desc' if q.descending else ''} page={q.page} "
              f"total={total:,}{'+' if more else ''}")
    out_dir = Path(__file__).resolve().parents[1] / "artifacts"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"bench_dashboard_{backend}.json").write_text(json.dumps(
        [{"ms": round(t * 1e3, 2), **dataclasses.asdict(q), "total": total, "more": more}
         for t, q, total, more in results], indent=1))
    over = [(round(t * 1e3), q) for t, q, _, _ in results if t >= BUDGET_S]
    assert not over, f"{len(over)} pages over {BUDGET_S * 1e3:.0f} ms: {over[:10]}"
