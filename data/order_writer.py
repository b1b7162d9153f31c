"""Write a batch of allocated orders in one short transaction, a dozen statements in all.

The service decides each order on a read snapshot, outside any lock, and hands the
decisions to one writer (`data.group_commit.BatchCommitter`), which writes every waiting
order at once, in the ledger's global lock order (`data.ledger`):

1. idempotency keys: locked (PostgreSQL advisory locks, sorted) and looked up; an order
   whose key holds an answer gets that answer and writes nothing;
2. order ids: claimed by one INSERT ... ON CONFLICT DO NOTHING (a duplicate is refused);
3. stock: the positions the batch touches are read and locked in (node, SKU) order; the
   orders are admitted in arrival order, each all or nothing, while the ATP lasts; an
   order that lost its race is refused with InsufficientStock (its claimed id removed)
   and the service decides it again on fresh stock; one guarded UPDATE reserves the units
   of every admitted order (the guard re-checks each row: a stale read can never oversell);
4. records: lines, one reservation per (line, node), reserve events, pick load (by node),
   order history, the decisions and the idempotency answers, one multi-row statement each.

Plain SQL on the DB-API cursor (`data.db.RawCursor`): the same rows the ORM models in
`data.models` describe. `tests/data/test_order_writer.py` reads every row back through
the ORM.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from allocation.errors import IdempotencyConflict
from data import ledger
from data.db import RawCursor
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


Decided = Callable[[list[int]], tuple[dict[str, Any], dict[str, Any]]]


@dataclass(slots=True)
class OrderJob:
    """One order for the batch writer: its record, how to render its decision once the
    reservation ids are known (the JSON stored on the order, the answer stored under its
    idempotency key), and that key as (key, scope, request hash)."""

    rec: OrderRecord
    decided: Decided
    idempotency: tuple[str, str, str] | None = None


@dataclass(frozen=True, slots=True)
class Written:
    """The order was written: its database id, reservation ids (in `holds` order) and answer."""

    order_id: int
    reservation_ids: list[int]
    response: dict[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Replayed:
    """The idempotency key already held an answer: this one (nothing was written)."""

    response: dict[str, Any] = field(repr=False)


Outcome = Written | Replayed | BaseException


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


# Parameters per statement stay under SQLite's 32,766 (and PostgreSQL's 65,535).
_MAX_PARAMS = 30_000


def _chunks(rows: Sequence[Sequence[Any]]) -> list[Sequence[Sequence[Any]]]:
    if not rows:
        return []
    per = max(1, _MAX_PARAMS // len(rows[0]))
    return [rows[i:i + per] for i in range(0, len(rows), per)]


def _insert(cur: RawCursor, head: str, rows: Sequence[Sequence[Any]], tail: str = "",
            row_sql: str | None = None) -> list[tuple[Any, ...]]:
    """One multi-row INSERT per chunk of rows; the RETURNING rows of all of them."""
    out: list[tuple[Any, ...]] = []
    for part in _chunks(rows):
        one = row_sql or f"({', '.join('?' * len(part[0]))})"
        params = [v for r in part for v in r]
        res = cur.execute(f"{head} VALUES {', '.join([one] * len(part))} {tail}", params)
        if "RETURNING" in tail:
            out += res.fetchall()
    return out


def _lock_keys(cur: RawCursor, keys: list[str]) -> None:
    if cur.sqlite or not keys:
        return  # SQLite: the writer holds the database
    # Sorted hashes, locked in that order (OFFSET 0 keeps the sort below the locking).
    cur.execute("SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtextextended(k, 0) "
                "AS h FROM unnest(CAST(? AS text[])) AS k ORDER BY h OFFSET 0) AS s", [keys])


def _stored(cur: RawCursor, jobs: list[OrderJob],
            outcomes: list[Outcome | None]) -> None:
    """Answer jobs whose key holds an answer; a repeat of a key within the batch follows
    its first job (filled in at the end)."""
    keyed = [k for k, j in enumerate(jobs) if j.idempotency is not None]
    if not keyed:
        return
    keys = sorted({jobs[k].idempotency[0] for k in keyed})  # type: ignore[index]
    _lock_keys(cur, keys)
    rows = cur.execute('SELECT "key", scope, request_hash, response FROM idempotency_keys '
                       f'WHERE "key" IN ({", ".join("?" * len(keys))})', keys).fetchall()
    stored = {r[0]: r for r in rows}
    for k in keyed:
        key, scope, digest = jobs[k].idempotency  # type: ignore[misc]
        row = stored.get(key)
        if row is None:
            continue
        if row[1] != scope or row[2] != digest:
            outcomes[k] = IdempotencyConflict(
                f"idempotency key {key!r} was used for a different request; use a new key "
                "for a new request", key=key)
        else:
            outcomes[k] = Replayed(row[3] if isinstance(row[3], dict) else orjson.loads(row[3]))


def write_orders(cur: RawCursor, jobs: Sequence[OrderJob]) -> list[Outcome]:
    """Write every order that can be had, in the caller's transaction; one outcome per job.

    An outcome is Written, Replayed, or the exception refusing that order (InsufficientStock:
    it lost its race and nothing of it was written; DuplicateOrder; IdempotencyConflict).
    """
    jobs = list(jobs)
    outcomes: list[Outcome | None] = [None] * len(jobs)
    _stored(cur, jobs, outcomes)
    # A key or an order id repeated within the batch: the first job speaks for it.
    first_of_key: dict[str, int] = {}
    first_of_id: dict[str, int] = {}
    follows: dict[int, int] = {}
    for k, j in enumerate(jobs):
        if outcomes[k] is not None:
            continue
        if j.idempotency is not None:
            lead = first_of_key.setdefault(j.idempotency[0], k)
            if lead != k:
                if jobs[lead].idempotency != j.idempotency:
                    key = j.idempotency[0]
                    outcomes[k] = IdempotencyConflict(
                        f"idempotency key {key!r} was used for a different request; use a "
                        "new key for a new request", key=key)
                else:
                    follows[k] = lead
                continue
        if first_of_id.setdefault(j.rec.external_id, k) != k:
            outcomes[k] = DuplicateOrder(j.rec.external_id)
    live = [k for k, o in enumerate(outcomes) if o is None and k not in follows]
    now = utcnow()
    at = cur.time(now)
    order_ids: dict[int, int] = {}
    if live:
        by_ext = dict(_insert(
            cur, "INSERT INTO orders (external_id, channel, method, pickup_node_id, ship_zip, "
            "ship_lat, ship_lon, status, created_at)",
            [(jobs[k].rec.external_id, "web", jobs[k].rec.method, jobs[k].rec.pickup_node_id,
              jobs[k].rec.ship_zip, jobs[k].rec.ship_lat, jobs[k].rec.ship_lon,
              jobs[k].rec.status.value, at) for k in live],
            "ON CONFLICT (external_id) DO NOTHING RETURNING external_id, id"))
        for k in live:
            oid = by_ext.get(jobs[k].rec.external_id)
            if oid is None:
                outcomes[k] = DuplicateOrder(jobs[k].rec.external_id)
            else:
                order_ids[k] = oid
    live = [k for k in live if k in order_ids]
    admitted, refused = ledger.hold_orders(
        cur, [[(h.node_id, h.sku_id, h.qty, h.node, h.sku) for h in jobs[k].rec.holds]
              for k in live], at)
    for i, exc in refused.items():
        outcomes[live[i]] = exc
    if refused:  # their claimed ids go: nothing of a refused order stays
        ids = [order_ids[live[i]] for i in refused]
        cur.execute(f"DELETE FROM orders WHERE id IN ({', '.join('?' * len(ids))})", ids)
    live = [live[i] for i in admitted]
    if live:
        _write_records(cur, jobs, live, outcomes, order_ids, now, at)
    for k, lead in follows.items():
        o = outcomes[lead]
        outcomes[k] = Replayed(o.response) if isinstance(o, Written | Replayed) else o
    assert all(o is not None for o in outcomes)
    return outcomes  # type: ignore[return-value]




def _write_records(cur: RawCursor, jobs: list[OrderJob], live: list[int],
                   outcomes: list[Outcome | None], order_ids: dict[int, int], now: Any,
                   at: Any) -> None:
    line_rows = [(order_ids[k], no, sku_id, qty, state)
                 for k in live for no, sku_id, qty, state in jobs[k].rec.lines]
    line_id = {(o, no): i for i, o, no in _insert(
        cur, "INSERT INTO order_lines (order_id, line_no, sku_id, qty, state)", line_rows,
        "RETURNING id, order_id, line_no")}
    ext = {k: jobs[k].rec.external_id for k in live}
    res_rows = [(h.node_id, h.sku_id, h.qty, "open", line_id[order_ids[k], h.line_no], ext[k],
                 h.method, at) for k in live for h in jobs[k].rec.holds]
    by_pair = {(line, node): rid for rid, line, node in _insert(
        cur, "INSERT INTO reservations (node_id, sku_id, qty, status, order_line_id, reference, "
        "method, created_at)", res_rows, "RETURNING id, order_line_id, node_id")}
    res_ids = {k: [by_pair[line_id[order_ids[k], h.line_no], h.node_id]
                   for h in jobs[k].rec.holds] for k in live}
    keys: list[tuple[Any, ...]] = []
    decisions: list[tuple[Any, ...]] = []
    for k in live:
        out, response = jobs[k].decided(res_ids[k])
        decisions.append((orjson.dumps(out).decode(), order_ids[k]))
        outcomes[k] = Written(order_ids[k], res_ids[k], response)
        if jobs[k].idempotency is not None:
            key, scope, digest = jobs[k].idempotency  # type: ignore[misc]
            keys.append((key, scope, digest, orjson.dumps(response).decode(), at))
    with cur.pipeline():  # nothing below is read back: one round trip on PostgreSQL
        _write_tail(cur, jobs, live, order_ids, line_id, res_ids, ext, now, at, decisions,
                    keys)


def _write_tail(cur: RawCursor, jobs: list[OrderJob], live: list[int],
                order_ids: dict[int, int], line_id: dict[tuple[int, int], int],
                res_ids: dict[int, list[int]], ext: dict[int, str], now: Any, at: Any,
                decisions: list[tuple[Any, ...]], keys: list[tuple[Any, ...]]) -> None:
    ledger.record_reserve_events(
        cur, [(h.node_id, h.sku_id, h.qty, ext[k], rid)
              for k in live for h, rid in zip(jobs[k].rec.holds, res_ids[k], strict=True)], at)
    per_node: dict[int, int] = {}
    for k in live:
        for h in jobs[k].rec.holds:
            per_node[h.node_id] = per_node.get(h.node_id, 0) + h.qty
    day = cur.day(now.date())
    _insert(cur, "INSERT INTO node_pick_days (node_id, day, units)",
            [(n, day, q) for n, q in sorted(per_node.items())],
            "ON CONFLICT (node_id, day) DO UPDATE SET units = node_pick_days.units + "
            "excluded.units")
    _insert(cur, "INSERT INTO order_events (order_id, order_line_id, action, to_state, actor, "
            "occurred_at)", [(order_ids[k], line_id[order_ids[k], no], "allocate", state,
                              "allocation", at)
                             for k in live for no, _, _, state in jobs[k].rec.lines])
    cur.executemany(f"UPDATE orders SET decision = {cur.json()} WHERE id = ?", decisions)
    if keys:
        _insert(cur, 'INSERT INTO idempotency_keys ("key", scope, request_hash, response, '
                'created_at)', keys, row_sql=f"(?, ?, ?, {cur.json()}, ?)")


def write_order(cur: RawCursor, rec: OrderRecord, decision: Decided,
                idempotency: tuple[str, str, str] | None = None) -> tuple[int, list[int]]:
    """Hold the stock, then write one order; (order id, reservation ids in `holds` order).

    Raises InsufficientStock (a hold lost its race), DuplicateOrder or IdempotencyConflict
    with nothing of the order written.
    """
    (out,) = write_orders(cur, [OrderJob(rec, decision, idempotency)])
    if isinstance(out, BaseException):
        raise out
    if isinstance(out, Replayed):
        raise DuplicateOrder(rec.external_id)
    return out.order_id, out.reservation_ids
