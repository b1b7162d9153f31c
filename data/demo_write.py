"""Write a built demo network into the database in chunks (SQLAlchemy Core bulk inserts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import repeat
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sqlalchemy import Connection, insert, select
from tqdm import tqdm

from data import ledger
from data.db import Database
from data.models import EventKind, Node, NodeKind, SalesHistory, Sku, StockEvent, StockPosition

if TYPE_CHECKING:
    from data.demo import DemoNetwork

INITIAL_STOCK_REFERENCE = "demo-initial-stock"
CHUNK_ROWS = 50_000

NODE_COLUMNS = ("code", "name", "kind", "address", "city", "state", "zip", "lat", "lon",
                "ship_from_store", "click_and_collect", "pick_capacity_per_day",
                "pick_cost_per_unit", "active")
SKU_COLUMNS = ("code", "name", "category", "weight_lb", "unit_price", "unit_cost")


def network_exists(db: Database) -> bool:
    """True when the database holds any node (a network was built or loaded)."""
    with db.read_engine.connect() as conn:
        return conn.execute(select(Node.id).limit(1)).first() is not None


def _records(df: pd.DataFrame, columns: tuple[str, ...]) -> list[dict[str, object]]:
    # Plain Python values (no numpy scalars, no pd.NA) for every DBAPI driver.
    out = df.loc[:, list(columns)].astype(object)
    out = out.where(pd.notna(out), None)
    return [dict(zip(columns, row, strict=True)) for row in out.itertuples(index=False)]


def _id_lookup(local_ids: np.ndarray, codes: pd.Series, db_ids: dict[str, int]) -> np.ndarray:
    """Array mapping a local id to its database id (index = local id)."""
    lookup = np.zeros(int(local_ids.max()) + 1, dtype=np.int64)
    lookup[local_ids] = [db_ids[c] for c in codes]
    return lookup


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    for lo in range(0, n, CHUNK_ROWS):
        yield lo, min(lo + CHUNK_ROWS, n)


def _insert_master(conn: Connection, model: type, df: pd.DataFrame,
                   columns: tuple[str, ...]) -> dict[str, int]:
    rows = _records(df, columns)
    if model is Node:
        for row in rows:
            row["kind"] = NodeKind(row["kind"])
    for lo, hi in _chunks(len(rows)):
        conn.execute(insert(model), rows[lo:hi])
    # The tables were empty (network_exists checked), so every row read back is ours.
    return {code: int(i) for code, i in conn.execute(select(model.code, model.id))}


def _bulk_insert(conn: Connection, model: type, columns: tuple[str, ...],
                 rows: list[tuple[object, ...]]) -> None:
    """executemany of plain tuples; on SQLite straight to the driver (3x faster than Core)."""
    if not rows:
        return
    if conn.dialect.name == "sqlite":
        # Values were bound already (see _bind): the driver needs no per-row processing.
        marks = ", ".join("?" * len(columns))
        conn.exec_driver_sql(
            f"INSERT INTO {model.__tablename__} ({', '.join(columns)}) VALUES ({marks})", rows
        )
    else:
        conn.execute(insert(model), [dict(zip(columns, r, strict=True)) for r in rows])


def _bind(conn: Connection, model: type, column: str, value: object) -> object:
    """A constant as the SQLite driver path needs it (the column type's own bind processor)."""
    if conn.dialect.name != "sqlite":
        return value
    impl = model.__table__.c[column].type.dialect_impl(conn.dialect)
    process = impl.bind_processor(conn.dialect)
    return process(value) if process else value


POSITION_COLUMNS = ("node_id", "sku_id", "on_hand", "reserved", "safety_stock", "updated_at")
EVENT_COLUMNS = ("occurred_at", "recorded_at", "node_id", "sku_id", "kind", "delta_on_hand",
                 "delta_reserved", "reference")
SALES_COLUMNS = ("node_id", "sku_id", "day", "qty")


def write_network(db: Database, net: DemoNetwork, progress: bool = False) -> None:
    """Insert nodes, SKUs, stock (with a matching receipt event each) and sales history."""
    if network_exists(db):
        raise ValueError("the database already holds nodes: write the demo network to an empty one")
    now = dt.datetime.now(dt.UTC)
    as_of = dt.datetime.combine(net.params.start, dt.time(0, 0), tzinfo=dt.UTC)

    with db.engine.begin() as conn:
        node_ids = _insert_master(conn, Node, net.nodes, NODE_COLUMNS)
        sku_ids = _insert_master(conn, Sku, net.skus, SKU_COLUMNS)
        updated = _bind(conn, StockPosition, "updated_at", as_of)
        occurred = _bind(conn, StockEvent, "occurred_at", as_of)
        recorded = _bind(conn, StockEvent, "recorded_at", now)
        receipt = _bind(conn, StockEvent, "kind", EventKind.receipt)
    node_map = _id_lookup(net.nodes["id"].to_numpy(), net.nodes["code"], node_ids)
    sku_map = _id_lookup(net.skus["id"].to_numpy(), net.skus["code"], sku_ids)

    bar = tqdm(total=len(net.stock) + len(net.sales), unit="row", disable=not progress,
               desc="demo network")
    stock = net.stock
    node_col = node_map[stock["node_id"].to_numpy()]
    sku_col = sku_map[stock["sku_id"].to_numpy()]
    on_hand = stock["on_hand"].to_numpy()
    for lo, hi in _chunks(len(stock)):
        positions = list(zip(
            node_col[lo:hi].tolist(), sku_col[lo:hi].tolist(), on_hand[lo:hi].tolist(),
            stock["reserved"].to_numpy()[lo:hi].tolist(),
            stock["safety_stock"].to_numpy()[lo:hi].tolist(), repeat(updated), strict=False,
        ))
        # One receipt per nonzero position, in the same transaction: on_hand == sum(events).
        nz = np.flatnonzero(on_hand[lo:hi] > 0) + lo
        events = list(zip(
            repeat(occurred), repeat(recorded), node_col[nz].tolist(), sku_col[nz].tolist(),
            repeat(receipt), on_hand[nz].tolist(), repeat(0), repeat(INITIAL_STOCK_REFERENCE),
            strict=False,
        ))
        with db.engine.begin() as conn:
            ledger.open_stock(conn, POSITION_COLUMNS, positions, EVENT_COLUMNS, events)
        bar.update(hi - lo)

    if len(net.sales):
        sales = net.sales
        first = sales["day"].min().date()
        offset = (sales["day"] - pd.Timestamp(first)).dt.days.to_numpy()
        with db.engine.connect() as conn:
            days = [_bind(conn, SalesHistory, "day", first + dt.timedelta(days=i))
                    for i in range(int(offset.max()) + 1)]
        calendar = np.array(days, dtype=object)
        s_node = node_map[sales["node_id"].to_numpy()]
        s_sku = sku_map[sales["sku_id"].to_numpy()]
        s_qty = sales["qty"].to_numpy()
        for lo, hi in _chunks(len(sales)):
            rows = list(zip(s_node[lo:hi].tolist(), s_sku[lo:hi].tolist(),
                            calendar[offset[lo:hi]].tolist(), s_qty[lo:hi].tolist(), strict=True))
            with db.engine.begin() as conn:
                _bulk_insert(conn, SalesHistory, SALES_COLUMNS, rows)
            bar.update(hi - lo)
    bar.close()
