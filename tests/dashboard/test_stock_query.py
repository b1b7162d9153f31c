"""The stock page's rows, order, totals and risk against a brute-force reading of the database.

On SQLite and PostgreSQL: every filter, sort, direction and a few pages of a small network
with demand rates (some positions without one, some with under a week of cover, some
reserved), compared with Python sorting the same positions; and on SQLite, the queries
use the indexes of migration 0005 (no sort of the whole table).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from typing import Any

import numpy as np
import pytest
from sqlalchemy import event, select, text, update

from api.dashboard import service
from api.dashboard.service import SORTS, StockQuery, stock_page
from data.db import Database
from data.demo import DemoParams, build_network
from data.demo_write import write_network
from data.forecast_store import History, store_forecasts
from data.ledger import write_demand_rates
from data.models import Node, NodeKind, Sku, StockPosition
from data.stock_cover import COVER_SQL, risk_of

SP = StockPosition
PER_PAGE = 7


def _network(db: Database) -> None:
    """6 stores x 40 SKUs and 3 DCs; store rates (a few high: low cover), some reserved."""
    write_network(db, build_network(DemoParams(stores=6, skus=40, dcs=3, history_days=0)))
    rng = np.random.default_rng(7)
    with db.transaction() as s:
        rows = s.execute(select(SP.node_id, SP.sku_id, SP.on_hand).join(Node, Node.id == SP.node_id)
                         .where(Node.kind == NodeKind.store)
                         .order_by(SP.node_id, SP.sku_id)).all()
        node = np.array([r[0] for r in rows])
        sku = np.array([r[1] for r in rows])
        on_hand = np.array([r[2] for r in rows], float)
        # Cover spread over 0.5 to 60 days; every 9th store position without a forecast.
        rate = (on_hand + 1) / rng.uniform(0.5, 60, len(rows))
        keep = np.arange(len(rows)) % 9 != 0
        assert write_demand_rates(s, node[keep], sku[keep], rate[keep]) == int(keep.sum())
        for n, k, oh in rows[::5]:
            if oh > 1:
                s.execute(update(SP).where(SP.node_id == n, SP.sku_id == k)
                          .values(reserved=int(rng.integers(1, oh))))


@pytest.fixture
def net(database: Database) -> Database:
    _network(database)
    return database


def _positions(db: Database) -> list[dict[str, Any]]:
    with db.read_session() as s:
        rows = s.execute(select(
            Node.code, Sku.code, Sku.name, Sku.category, SP.on_hand, SP.reserved,
            SP.safety_stock, SP.node_id, SP.sku_id, SP.demand_rate, text(COVER_SQL))
            .join(Node, Node.id == SP.node_id).join(Sku, Sku.id == SP.sku_id)).all()
    return [{"node": r[0], "sku": r[1], "name": r[2], "category": r[3], "on_hand": r[4],
             "reserved": r[5], "safety_stock": r[6], "node_id": r[7], "sku_id": r[8],
             "atp": max(r[4] - r[5] - r[6], 0), "cover": r[10],
             "risk": risk_of(r[4], r[5], r[6], r[9])} for r in rows]


def _expected(rows: list[dict[str, Any]], q: StockQuery) -> tuple[list[dict[str, Any]], int]:
    """Filter, order and page in Python by the order stock_page documents."""
    sel = [r for r in rows if (q.node is None or r["node"] == q.node)
           and (q.category is None or r["category"] == q.category)
           and (q.risk is None or r["risk"] == q.risk)]
    key = {"node": lambda r: (r["node"], r["sku_id"]),
           "sku": lambda r: (r["sku"], r["node_id"]),
           "category": lambda r: (r["category"], r["sku_id"], r["node_id"])}.get(q.sort)
    if key is not None:
        ordered = sorted(sel, key=key, reverse=q.descending)
    else:
        field = "cover" if q.sort == "days_of_cover" else q.sort
        known = [r for r in sel if r[field] is not None]
        unknown = [r for r in sel if r[field] is None]
        ordered = (sorted(known, key=lambda r: (r[field], r["node_id"], r["sku_id"]),
                          reverse=q.descending)
                   + sorted(unknown, key=lambda r: (r["node_id"], r["sku_id"]),
                            reverse=q.descending))
    lo = (q.page - 1) * q.per_page
    page = [{"node": r["node"], "sku": r["sku"], "name": r["name"], "category": r["category"],
             "on_hand": r["on_hand"], "reserved": r["reserved"],
             "safety_stock": r["safety_stock"], "atp": r["atp"],
             "days_of_cover": None if r["cover"] is None else round(float(r["cover"]), 1),
             "risk": r["risk"]} for r in ordered[lo:lo + q.per_page]]
    return page, len(sel)


def test_every_filter_sort_and_page_matches_the_database(net: Database) -> None:
    rows = _positions(net)
    risks = {r["risk"] for r in rows}
    assert risks == {"out", "low", "ok"}, risks
    assert any(r["cover"] is None for r in rows) and any(r["reserved"] for r in rows)
    store = next(r["node"] for r in rows if r["node"].startswith("ST-"))
    dc = next(r["node"] for r in rows if r["node"].startswith("DC-"))
    category = max({r["category"] for r in rows}, key=lambda c: sum(
        r["category"] == c for r in rows))
    checked = 0
    with net.read_session() as s:
        for node, cat, risk, sort, desc in itertools.product(
                (None, store, dc), (None, category), (None, "out", "low", "ok"), sorted(SORTS),
                (False, True)):
            q = StockQuery(node, cat, risk, sort, desc, 1, PER_PAGE)
            _, total = _expected(rows, q)
            last = max(1, -(-total // PER_PAGE))
            for page in sorted({1, 2, last, last + 1}):
                q = StockQuery(node, cat, risk, sort, desc, page, PER_PAGE)
                got = stock_page(s, q)
                want, _ = _expected(rows, q)
                assert got["items"] == want, q
                assert (got["total"], got["more"]) == (total, False), q
                checked += 1
    assert checked > 1000


def test_totals_are_capped_and_flagged(net: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "COUNT_CAP", 25)
    with net.read_session() as s:
        out = stock_page(s, StockQuery(sort="atp"))
        assert (out["total"], out["more"]) == (25, True)
        out = stock_page(s, StockQuery(risk="out", sort="node"))
    n_out = sum(r["risk"] == "out" for r in _positions(net))
    assert (out["total"], out["more"]) == (min(n_out, 25), n_out > 25)


def _categories_match(db: Database) -> list[tuple[Any, ...]]:
    """Positions whose stored category is not their SKU's (none, if the triggers work)."""
    with db.read_session() as s:
        return list(s.execute(text(
            "SELECT sp.node_id, sp.sku_id, sp.category, s.category FROM stock_positions sp "
            "JOIN skus s ON s.id = sp.sku_id "
            "WHERE sp.category IS NULL OR sp.category <> s.category")).all())


def test_positions_carry_their_skus_category(net: Database) -> None:
    # Migration 0006_dashboard: triggers keep stock_positions.category equal to the SKU's,
    # whoever writes the position (ORM, raw SQL) and when a SKU changes category.
    assert _categories_match(net) == []
    with net.transaction() as s:
        node = s.scalar(select(Node.id).where(Node.kind == NodeKind.store).limit(1))
        sku = Sku(code="SKU-NEW-1", name="new", category="toys", weight_lb=1.0,
                  unit_price=9.0, unit_cost=5.0)
        sku2 = Sku(code="SKU-NEW-2", name="new 2", category="grocery", weight_lb=1.0,
                   unit_price=3.0, unit_cost=1.0)
        s.add_all([sku, sku2])
        s.flush()
        s.add(SP(node_id=node, sku_id=sku.id, on_hand=4, reserved=0, safety_stock=0))
        s.execute(text("INSERT INTO stock_positions (node_id, sku_id, on_hand, reserved, "
                       "safety_stock, updated_at) VALUES (:n, :k, 2, 0, 0, :t)"),
                  {"n": node, "k": sku2.id, "t": dt.datetime.now(dt.UTC)})
        # A direct write of the column is overruled by the SKU's category.
        s.execute(text("UPDATE stock_positions SET category = 'nonsense' "
                       "WHERE node_id = :n AND sku_id = :k"), {"n": node, "k": sku.id})
    assert _categories_match(net) == []
    with net.transaction() as s:
        moved = s.scalars(select(Sku).where(Sku.category == "toys").limit(3)).all()
        for m in moved:
            m.category = "electronics"
    assert _categories_match(net) == []
    # The stock page's category filter follows the SKUs (the reference reads skus).
    rows = _positions(net)
    with net.read_session() as s:
        for cat, risk, sort in itertools.product(("toys", "electronics", "grocery"),
                                                 (None, "ok"), sorted(SORTS)):
            q = StockQuery(None, cat, risk, sort, False, 1, 500)
            want, total = _expected(rows, q)
            got = stock_page(s, q)
            assert (got["items"], got["total"]) == (want, total), q


def test_node_sort_pages_span_nodes(net: Database) -> None:
    # The filtered node sort counts nodes in growing batches, then sorts the nodes a page
    # spans: pages of every size start and end inside a node, on a node boundary, or span
    # many nodes.
    rows = _positions(net)
    checked = 0
    with net.read_session() as s:
        for cat, risk, desc, per_page in itertools.product(
                (None, "toys"), (None, "out", "ok"), (False, True), (1, 3, 13, 40, 97)):
            if cat is None and risk is None:
                continue
            _, total = _expected(rows, StockQuery(None, cat, risk, "node", desc, 1, per_page))
            for page in range(1, -(-total // per_page) + 2):
                q = StockQuery(None, cat, risk, "node", desc, page, per_page)
                want, _ = _expected(rows, q)
                assert stock_page(s, q)["items"] == want, q
                checked += 1
    assert checked > 300


def test_pages_start_within_the_counted_rows() -> None:
    # The count stops at COUNT_CAP (the page says "10,000+"), and so does the pager.
    last = service.COUNT_CAP // 50
    assert StockQuery(page=last).page == last
    with pytest.raises(ValueError, match="filter by node, category or risk"):
        StockQuery(page=last + 1)
    with pytest.raises(ValueError):
        StockQuery(page=2, per_page=service.COUNT_CAP)


def test_unknown_node_is_an_empty_page(net: Database) -> None:
    with net.read_session() as s:
        out = stock_page(s, StockQuery(node="NOPE"))
    assert out["items"] == [] and out["total"] == 0


def test_a_forecast_run_stores_demand_rates(net: Database) -> None:
    with net.read_session() as s:
        keys = s.execute(select(SP.node_id, SP.sku_id).order_by(SP.node_id, SP.sku_id)
                         .limit(3)).all()
    hist = History(y=np.zeros(0), indptr=np.zeros(4, np.int64),
                   node_id=np.array([k[0] for k in keys]), sku_id=np.array([k[1] for k in keys]),
                   end=dt.date(2026, 1, 1))
    mean = np.array([[1.0, 3.0], [0.5, 0.5], [0.0, 0.0]])
    store_forecasts(net, hist, mean, np.zeros((3, 2, 4)), ["naive"] * 3, "naive", 0.0)
    with net.read_session() as s:
        got = dict(((n, k), r) for n, k, r in s.execute(
            select(SP.node_id, SP.sku_id, SP.demand_rate)).all())
    assert [got[tuple(k)] for k in keys] == [2.0, 0.5, 0.0]
    # Every other position lost its old rate: the run is the only source of demand rates.
    assert sum(r is not None for r in got.values()) == 3


def test_sqlite_walks_the_stock_indexes(sqlite_db: Database) -> None:
    _network(sqlite_db)
    statements: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    event.listen(sqlite_db.read_engine, "before_cursor_execute", capture)
    try:
        with sqlite_db.read_session() as s:
            for sort, risk, cat in itertools.product(sorted(SORTS), (None, "low"),
                                                     (None, "toys")):
                stock_page(s, StockQuery(None, cat, risk, sort, True, 3, PER_PAGE))
    finally:
        event.remove(sqlite_db.read_engine, "before_cursor_execute", capture)
    checked = 0
    with sqlite_db.engine.connect() as conn:
        for sql, params in statements:
            if "stock_positions" not in sql:
                continue
            plan = [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql,
                                                        params).all()]
            text_plan = "\n".join(plan)
            # Never a full scan of the positions; sorts only of the page (outer query).
            assert not re.search(r"SCAN sp\b(?! USING)", text_plan), (sql, text_plan)
            if "count(*)" in sql:
                continue
            sorts = [p for p in plan if "TEMP B-TREE" in p]
            # The merge sorts its page; the node sort, the rows of the nodes its page spans
            # (read by their ranges of the (risk class, category, node) index).
            span = "sp.sku_id + 0" in sql
            if span:
                assert "ix_stock_positions_risk_cat_node" in text_plan, (sql, text_plan)
            assert len(sorts) <= (1 if sql.startswith("WITH page") or span else 0), (
                sql, text_plan)
            checked += 1
    assert checked >= 32


def test_the_migration_indexes_the_expressions_the_page_queries() -> None:
    # Migration 0006_dashboard keeps its own copy of the SQL (migrations never change); it
    # must match.
    import importlib.util

    from data import stock_cover
    from data.migrate import MIGRATIONS

    path = MIGRATIONS / "versions" / "0006_dashboard_category.py"
    spec = importlib.util.spec_from_file_location("m0006_dashboard", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.INDEXES == stock_cover.INDEXES
