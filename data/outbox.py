"""The outbox: sequencing committed changes into one stream, reading it, consumer cursors.

Triggers (data/outbox_triggers.py) write an `outbox` row in every transaction that changes
a stock position or records an order event. Insertion ids are not the stream order on
PostgreSQL (a transaction that took its id early may commit late), so one sequencer at a
time (an advisory lock; SQLite has one writer) stamps the committed, not yet stamped rows
with `seq` in id order. That order is gapless, and per item it is the commit order: two
changes of one position (or one order) hold its row lock in turn, so the later one's row
is inserted, and committed, after the earlier one's. The sequencer also keeps each SKU's
network ATP as the running sum of the latest per-node ATP in the stream, so every event
carries a network figure that is exact at its place in the stream.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from data.db import Database, RawCursor
from data.outbox_triggers import (
    TRIGGER_NAMES_PG,
    TRIGGER_NAMES_SQLITE,
    disable_statements,
    enable_statements,
)

SEQUENCER_LOCK = 0x6F6D6E6901  # pg advisory lock key of the sequencer ("omni" + 1)
BATCH = 5000


def _atp(on_hand: int | None, reserved: int | None, safety: int | None) -> int:
    if on_hand is None:
        return 0
    return max(0, on_hand - (reserved or 0) - (safety or 0))


@dataclass(frozen=True, slots=True)
class Sequenced:
    """What one sequencer pass did."""

    count: int
    last_seq: int


def _sequence(cur: RawCursor, limit: int) -> Sequenced:
    if not cur.sqlite and not cur.execute(
            "SELECT pg_try_advisory_xact_lock(?)", (SEQUENCER_LOCK,)).fetchone()[0]:
        return Sequenced(0, 0)  # another sequencer is at work
    rows = cur.execute(
        "SELECT id, kind, sku_id, old_on_hand, old_reserved, old_safety, new_on_hand, "
        "new_reserved, new_safety FROM outbox WHERE seq IS NULL ORDER BY id LIMIT ?",
        (limit,)).fetchall()
    if not rows:
        return Sequenced(0, 0)
    top = int(cur.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])
    skus = sorted({r[2] for r in rows if r[1] == "stock"})
    net: dict[int, int] = {}
    for i in range(0, len(skus), 900):
        chunk = skus[i:i + 900]
        net.update((int(a), int(b)) for a, b in cur.execute(
            f"SELECT sku_id, atp FROM outbox_network_atp WHERE sku_id IN "
            f"({', '.join('?' * len(chunk))})", chunk).fetchall())
    updates: list[tuple[int, int | None, int]] = []
    for rid, kind, sku, o_on, o_res, o_ss, n_on, n_res, n_ss in rows:
        top += 1
        if kind == "resync":  # a snapshot follows: network sums start again from zero
            cur.execute("DELETE FROM outbox_network_atp")
            net = {}
            updates.append((top, None, rid))
        elif kind == "stock":
            net[sku] = net.get(sku, 0) + _atp(n_on, n_res, n_ss) - _atp(o_on, o_res, o_ss)
            updates.append((top, net[sku], rid))
        else:
            updates.append((top, None, rid))
    _stamp(cur, updates)
    if net:
        cur.executemany("INSERT INTO outbox_network_atp (sku_id, atp) VALUES (?, ?) "
                        "ON CONFLICT (sku_id) DO UPDATE SET atp = excluded.atp",
                        sorted(net.items()))
    return Sequenced(len(rows), top)


def _stamp(cur: RawCursor, updates: list[tuple[int, int | None, int]]) -> None:
    if cur.sqlite:
        cur.executemany("UPDATE outbox SET seq = ?, network_atp = ? WHERE id = ?", updates)
        return
    for i in range(0, len(updates), 1000):
        chunk = updates[i:i + 1000]
        values = ", ".join("(?::bigint, ?::bigint, ?::bigint)" for _ in chunk)
        cur.execute(f"UPDATE outbox SET seq = v.s, network_atp = v.n FROM (VALUES {values}) "
                    "AS v(s, n, i) WHERE outbox.id = v.i", [x for u in chunk for x in u])


def sequence(db: Database, limit: int = BATCH) -> Sequenced:
    """Stamp committed outbox rows with their stream order; how many (0: none or busy)."""
    return db.run_raw(lambda cur: _sequence(cur, limit), what="outbox sequencer")


def pending(db: Database) -> bool:
    """Whether committed rows wait for the sequencer (a cheap read on the partial index)."""
    rows = db.read_rows("SELECT id FROM outbox WHERE seq IS NULL LIMIT 1")
    return bool(rows)


def head(db: Database) -> int:
    """The last sequenced position of the stream (0: empty)."""
    return int(db.read_rows("SELECT COALESCE(MAX(seq), 0) FROM outbox")[0][0])


def oldest(db: Database) -> int:
    """The first sequence still kept (older ones were pruned); 0 when empty."""
    return int(db.read_rows("SELECT COALESCE(MIN(seq), 0) FROM outbox")[0][0])


# ---------------------------------------------------------------- reading the stream
ROW_SQL = (
    "SELECT o.seq, o.kind, o.created_ts, n.code, k.code, o.old_on_hand, o.new_on_hand, "
    "o.old_reserved, o.new_reserved, o.old_safety, o.new_safety, o.network_atp, "
    "ord.external_id, l.line_no, lk.code, e.action, e.from_state, e.to_state, e.actor, "
    "e.detail, e.occurred_at, ord.channel, ord.method "
    "FROM outbox o LEFT JOIN nodes n ON n.id = o.node_id LEFT JOIN skus k ON k.id = o.sku_id "
    "LEFT JOIN order_events e ON e.id = o.order_event_id "
    "LEFT JOIN orders ord ON ord.id = o.order_id "
    "LEFT JOIN order_lines l ON l.id = e.order_line_id "
    "LEFT JOIN skus lk ON lk.id = l.sku_id "
    "WHERE o.seq > ? ORDER BY o.seq LIMIT ?")


def read_after(db: Database, after: int, limit: int = 500) -> list[tuple[Any, ...]]:
    """Up to `limit` sequenced rows after `after`, joined with the codes they name."""
    return db.read_rows(ROW_SQL, (after, limit))


# ---------------------------------------------------------------- consumers
def ensure_consumer(cur: RawCursor, name: str, cursor: int) -> None:
    """Create a consumer row starting after `cursor` unless it exists."""
    cur.execute("INSERT INTO outbox_consumers (name, cursor, attempts, next_attempt_ts, "
                "lease_until, delivered) VALUES (?, ?, 0, 0, 0, 0) "
                "ON CONFLICT (name) DO NOTHING", (name, cursor))


def take_lease(db: Database, name: str, owner: str, seconds: float) -> dict[str, Any] | None:
    """Hold the consumer for `seconds` unless another live relay holds it; its state."""
    def work(cur: RawCursor) -> dict[str, Any] | None:
        now = time.time()
        row = cur.execute(
            "UPDATE outbox_consumers SET lease_owner = ?, lease_until = ? WHERE name = ? "
            "AND (lease_owner = ? OR lease_owner IS NULL OR lease_until < ?) "
            "RETURNING cursor, attempts, first_failed_ts, next_attempt_ts, delivered",
            (owner, now + seconds, name, owner, now)).fetchone()
        if row is None:
            return None
        return {"cursor": int(row[0]), "attempts": int(row[1]), "first_failed_ts": row[2],
                "next_attempt_ts": float(row[3]), "delivered": int(row[4])}
    return db.run_raw(work, what="outbox lease")


def advance(db: Database, name: str, owner: str, cursor: int, delivered: int,
            lease_seconds: float) -> bool:
    """Move the consumer's cursor (clearing its retry state, renewing the lease) if `owner`
    still holds it."""
    def work(cur: RawCursor) -> bool:
        return cur.execute(
            "UPDATE outbox_consumers SET cursor = ?, attempts = 0, first_failed_ts = NULL, "
            "next_attempt_ts = 0, last_error = NULL, delivered = delivered + ?, "
            "lease_until = ? WHERE name = ? AND lease_owner = ? AND cursor <= ?",
            (cursor, delivered, time.time() + lease_seconds, name, owner, cursor)
        ).rowcount == 1
    return db.run_raw(work, what="outbox cursor")


def fail(db: Database, name: str, owner: str, attempts: int, first_failed_ts: float,
         next_attempt_ts: float, error: str) -> None:
    """Record a failed attempt at the consumer's head event and when to try again."""
    db.run_raw(lambda cur: cur.execute(
        "UPDATE outbox_consumers SET attempts = ?, first_failed_ts = ?, next_attempt_ts = ?, "
        "last_error = ? WHERE name = ? AND lease_owner = ?",
        (attempts, first_failed_ts, next_attempt_ts, error[:500], name, owner)),
        what="outbox retry state")


def release(db: Database, name: str, owner: str) -> None:
    """Give the lease back (a relay stopping cleanly)."""
    db.run_raw(lambda cur: cur.execute(
        "UPDATE outbox_consumers SET lease_owner = NULL, lease_until = 0 "
        "WHERE name = ? AND lease_owner = ?", (name, owner)), what="outbox lease release")


def consumers(db: Database) -> list[dict[str, Any]]:
    """Every consumer's cursor, retry state and lease."""
    rows = db.read_rows("SELECT name, cursor, attempts, next_attempt_ts, last_error, "
                        "lease_owner, lease_until, delivered FROM outbox_consumers ORDER BY name")
    keys = ("name", "cursor", "attempts", "next_attempt_ts", "last_error", "lease_owner",
            "lease_until", "delivered")
    return [dict(zip(keys, r, strict=True)) for r in rows]


# ---------------------------------------------------------------- switch and retention
def enabled(db: Database) -> bool:
    """Whether the outbox triggers are installed."""
    if db.sqlite:
        names = TRIGGER_NAMES_SQLITE
        rows = db.read_rows("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN "
                            f"({', '.join('?' * len(names))})", names)
        return len(rows) == len(names)
    names = TRIGGER_NAMES_PG
    rows = db.read_rows(f"SELECT tgname FROM pg_trigger WHERE tgname IN "
                        f"({', '.join('?' * len(names))}) AND tgrelid IN "
                        "('stock_positions'::regclass, 'order_events'::regclass)", names)
    return len(rows) == len(names)


def _script(db: Database, statements: Sequence[str]) -> None:
    def work(cur: RawCursor) -> None:
        for sql in statements:
            cur.execute(sql)
    db.run_raw(work, what="outbox switch")


def enable(db: Database) -> None:
    """Install the triggers and start the stream again with a snapshot of the positions."""
    _script(db, enable_statements(db.sqlite))


def disable(db: Database) -> None:
    """Remove the triggers (for bulk loads): changes meanwhile reach no consumer."""
    _script(db, disable_statements(db.sqlite))


def prune(db: Database, keep_seconds: float) -> int:
    """Delete rows older than `keep_seconds` that every live consumer has passed (a paused
    subscription holds nothing back: it resumes after a gap); how many."""
    def work(cur: RawCursor) -> int:
        cutoff = time.time() - keep_seconds
        top = cur.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0]
        paused = {f"webhook:{i}" for (i,) in cur.execute(
            "SELECT id FROM webhook_subscriptions WHERE active = ?", (False,)).fetchall()}
        cursors = [c for n, c in cur.execute(
            "SELECT name, cursor FROM outbox_consumers").fetchall() if n not in paused]
        low = min(cursors, default=top)
        # The newest sequenced row stays: it carries the stream's head across restarts.
        return cur.execute("DELETE FROM outbox WHERE seq IS NOT NULL AND seq <= ? AND seq < ? "
                           "AND created_ts < ?", (low, top, cutoff)).rowcount
    return db.run_raw(work, what="outbox prune")
