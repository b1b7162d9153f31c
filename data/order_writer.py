"""Write an allocated order in one short transaction: guarded holds first, then the records.

The service decides on a read snapshot and opens the write transaction only to commit
(on SQLite the write lock is then held for a handful of statements, not for the
decision). The stock rows are updated first, each a conditional UPDATE that the database
re-checks on the row it locks (`on_hand - reserved - safety_stock >= :qty`); if any fails,
InsufficientStock is raised before anything else is written and the caller's transaction
rolls back, so a lost race never oversells and leaves nothing behind. Then the order, its
lines, one reservation per (line, node), the reserve events, the pick-load counters, the
order history and the idempotency key go in as multi-row statements.

Plain SQL on the DB-API cursor (`data.db.RawCursor`): the same rows the ORM models in
`data.models` describe, about 15 statements' worth of ORM and Core work less per order.
`tests/data/test_order_writer.py` reads every row back through the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from data.db import RawCursor
from data.errors import IdempotencyConflict, InsufficientStock
from data.models import OrderStatus, utcnow


@dataclass(frozen=True, slots=True)
class Hold:
    """Units of one order line taken from one node (one reservation)."""

    line_no: int
    node_id: int
    node: str
    sku_id: int
    sku: str
    qty: int
    method: str


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """What the service writes for one allocated order."""

    external_id: str
    method: str
    pickup_node_id: int | None
    ship_zip: str | None
    ship_lat: float
    ship_lon: float
    status: OrderStatus
    lines: Sequence[tuple[int, int, int, str]]  # (line_no, sku_id, qty, state)
    holds: Sequence[Hold]


class DuplicateOrder(Exception):
    """The order's external id is in the database already (nothing was written)."""


def stored_response(cur: RawCursor, key: str, scope: str, digest: str) -> dict[str, Any] | None:
    """The answer stored under an idempotency key, None if new, or IdempotencyConflict."""
    row = cur.execute('SELECT scope, request_hash, response FROM idempotency_keys '
                      'WHERE "key" = ?', [key]).fetchone()
    if row is None:
        return None
    if row[0] != scope or row[1] != digest:
        raise IdempotencyConflict(f"idempotency key {key!r} was used for a different request; "
                                  "use a new key for a new request", key=key)
    return row[2] if isinstance(row[2], dict) else orjson.loads(row[2])


def _values(n_rows: int, row: str) -> str:
    return ", ".join([row] * n_rows)


def write_order(cur: RawCursor, rec: OrderRecord,
                decision: Callable[[list[int]], tuple[dict[str, Any], dict[str, Any]]],
                idempotency: tuple[str, str, str] | None = None) -> tuple[int, list[int]]:
    """Hold the stock, then write the order; (order id, reservation ids in `holds` order).

    `decision(reservation_ids)` gives (the decision JSON stored on the order, the response
    stored under `idempotency` = (key, scope, request hash)) once the ids are known.
    Raises InsufficientStock (a hold lost its race) or DuplicateOrder before writing any
    record; the caller's transaction must then roll back.
    """
    now = utcnow()
    at = cur.time(now)
    need: dict[tuple[int, int], int] = {}
    for h in rec.holds:
        need[h.node_id, h.sku_id] = need.get((h.node_id, h.sku_id), 0) + h.qty
    # (node, SKU) order: two orders touching the same rows lock them in the same order.
    for (node_id, sku_id), qty in sorted(need.items()):
        done = cur.execute(
            "UPDATE stock_positions SET reserved = reserved + ?, updated_at = ? "
            "WHERE node_id = ? AND sku_id = ? AND on_hand - reserved - safety_stock >= ?",
            [qty, at, node_id, sku_id, qty]).rowcount
        if done != 1:
            h = next(x for x in rec.holds if (x.node_id, x.sku_id) == (node_id, sku_id))
            row = cur.execute("SELECT on_hand - reserved - safety_stock FROM stock_positions "
                              "WHERE node_id = ? AND sku_id = ?", [node_id, sku_id]).fetchone()
            raise InsufficientStock(h.node, h.sku, qty, max(row[0] if row else 0, 0))
    row = cur.execute(
        "INSERT INTO orders (external_id, channel, method, pickup_node_id, ship_zip, ship_lat, "
        "ship_lon, status, created_at) VALUES (?, 'web', ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (external_id) DO NOTHING RETURNING id",
        [rec.external_id, rec.method, rec.pickup_node_id, rec.ship_zip, rec.ship_lat,
         rec.ship_lon, rec.status.value, at]).fetchone()
    if row is None:
        raise DuplicateOrder(rec.external_id)
    order_id = row[0]
    params: list[Any] = []
    for no, sku_id, qty, state in rec.lines:
        params += [order_id, no, sku_id, qty, state]
    line_id = {no: i for i, no in cur.execute(
        f"INSERT INTO order_lines (order_id, line_no, sku_id, qty, state) VALUES "
        f"{_values(len(rec.lines), '(?, ?, ?, ?, ?)')} RETURNING id, line_no", params)}
    res_ids: list[int] = []
    if rec.holds:
        params = []
        for h in rec.holds:
            params += [h.node_id, h.sku_id, h.qty, "open", line_id[h.line_no], rec.external_id,
                       h.method, at]
        # A reservation per (line, node): the pair names it, whatever order RETURNING keeps.
        by_pair = {(line, node): rid for rid, line, node in cur.execute(
            f"INSERT INTO reservations (node_id, sku_id, qty, status, order_line_id, reference, "
            f"method, created_at) VALUES {_values(len(rec.holds), '(?, ?, ?, ?, ?, ?, ?, ?)')} "
            f"RETURNING id, order_line_id, node_id", params)}
        res_ids = [by_pair[line_id[h.line_no], h.node_id] for h in rec.holds]
        cur.executemany(
            "INSERT INTO stock_events (occurred_at, recorded_at, node_id, sku_id, kind, "
            "delta_on_hand, delta_reserved, reference, reservation_id) "
            "VALUES (?, ?, ?, ?, 'reserve', 0, ?, ?, ?)",
            [(at, at, h.node_id, h.sku_id, h.qty, rec.external_id, rid)
             for h, rid in zip(rec.holds, res_ids, strict=True)])
        per_node: dict[int, int] = {}
        for h in rec.holds:
            per_node[h.node_id] = per_node.get(h.node_id, 0) + h.qty
        cur.executemany(
            "INSERT INTO node_pick_days (node_id, day, units) VALUES (?, ?, ?) "
            "ON CONFLICT (node_id, day) DO UPDATE SET units = node_pick_days.units + "
            "excluded.units", [(n, cur.day(now.date()), q) for n, q in sorted(per_node.items())])
    cur.executemany(
        "INSERT INTO order_events (order_id, order_line_id, action, to_state, actor, "
        "occurred_at) VALUES (?, ?, 'allocate', ?, 'allocation', ?)",
        [(order_id, line_id[no], state, at) for no, _, _, state in rec.lines])
    out, response = decision(res_ids)
    cur.execute(f"UPDATE orders SET decision = {cur.json()} WHERE id = ?",
                [orjson.dumps(out).decode(), order_id])
    if idempotency is not None:
        key, scope, digest = idempotency
        cur.execute(f'INSERT INTO idempotency_keys ("key", scope, request_hash, response, '
                    f'created_at) VALUES (?, ?, ?, {cur.json()}, ?)',
                    [key, scope, digest, orjson.dumps(response).decode(), at])
    return order_id, res_ids

