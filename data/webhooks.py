"""Webhook subscriptions and their dead letters (the consumer rows live in data.outbox)."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from data import outbox
from data.db import Database, RawCursor
from data.models import utcnow

COLUMNS = ("id", "url", "event_types", "nodes", "description", "active", "created_at")


def consumer_name(subscription_id: int) -> str:
    """The outbox consumer that carries a subscription's cursor."""
    return f"webhook:{subscription_id}"


def new_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _row(r: tuple[Any, ...]) -> dict[str, Any]:
    d = dict(zip(COLUMNS, r, strict=True))
    d["event_types"] = _load(d["event_types"])
    d["nodes"] = _load(d["nodes"])
    d["active"] = bool(d["active"])
    return d


def create(db: Database, url: str, event_types: list[str], nodes: list[str] | None,
           description: str | None, secret: str | None, from_start: bool) -> dict[str, Any]:
    """A new subscription, delivering from the stream's head (or its start); with secret."""
    secret = secret or new_secret()

    def work(cur: RawCursor) -> int:
        # The sequencer runs first so "from now" means every change committed before this.
        outbox._sequence(cur, outbox.BATCH)
        start = 0 if from_start else int(
            cur.execute("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetchone()[0])
        sid = cur.execute(
            "INSERT INTO webhook_subscriptions (url, secret, event_types, nodes, description, "
            f"active, created_at) VALUES (?, ?, {cur.json()}, {cur.json()}, ?, ?, ?) "
            "RETURNING id", (url, secret, json.dumps(event_types),
                             None if nodes is None else json.dumps(nodes), description, True,
                             cur.time(utcnow()))).fetchone()[0]
        outbox.ensure_consumer(cur, consumer_name(int(sid)), start)
        return int(sid)
    sid = db.run_raw(work, what="webhook subscription")
    out = get(db, sid)
    assert out is not None
    out["secret"] = secret
    return out


def get(db: Database, subscription_id: int) -> dict[str, Any] | None:
    """One subscription with its delivery state (no secret), or None."""
    rows = db.read_rows(f"SELECT {', '.join(COLUMNS)} FROM webhook_subscriptions WHERE id = ?",
                        (subscription_id,))
    if not rows:
        return None
    out = _row(rows[0])
    out["delivery"] = _state(db, subscription_id)
    return out


def _state(db: Database, subscription_id: int) -> dict[str, Any]:
    rows = db.read_rows("SELECT cursor, attempts, next_attempt_ts, last_error, delivered "
                        "FROM outbox_consumers WHERE name = ?", (consumer_name(subscription_id),))
    dead = db.read_rows("SELECT COUNT(*) FROM webhook_dead_letters WHERE subscription_id = ? "
                        "AND redelivered_at IS NULL", (subscription_id,))[0][0]
    if not rows:
        return {"cursor": 0, "attempts": 0, "next_attempt_ts": 0, "last_error": None,
                "delivered": 0, "dead_letters": int(dead)}
    c, a, n, e, d = rows[0]
    return {"cursor": int(c), "attempts": int(a), "next_attempt_ts": float(n),
            "last_error": e, "delivered": int(d), "dead_letters": int(dead)}


def listing(db: Database) -> list[dict[str, Any]]:
    """Every subscription, newest last, with its delivery state."""
    rows = db.read_rows(f"SELECT {', '.join(COLUMNS)} FROM webhook_subscriptions ORDER BY id")
    out = [_row(r) for r in rows]
    for d in out:
        d["delivery"] = _state(db, d["id"])
    return out


def active(db: Database, subscription_id: int | None = None) -> list[dict[str, Any]]:
    """Active subscriptions (or the one asked for, if active) with their secrets."""
    where, params = ("AND id = ? ", (True, subscription_id)) if subscription_id else ("", (True,))
    rows = db.read_rows(f"SELECT {', '.join(COLUMNS)}, secret FROM webhook_subscriptions "
                        f"WHERE active = ? {where}ORDER BY id", params)
    out = []
    for r in rows:
        d = _row(r[:-1])
        d["secret"] = r[-1]
        out.append(d)
    return out


def set_active(db: Database, subscription_id: int, active_: bool) -> bool:
    """Pause or resume a subscription (paused: its cursor waits); whether it exists."""
    return db.run_raw(lambda cur: cur.execute(
        "UPDATE webhook_subscriptions SET active = ? WHERE id = ?",
        (active_, subscription_id)).rowcount == 1, what="webhook subscription")


def delete(db: Database, subscription_id: int) -> bool:
    """Remove a subscription, its cursor and dead letters; whether it existed."""
    def work(cur: RawCursor) -> bool:
        cur.execute("DELETE FROM webhook_dead_letters WHERE subscription_id = ?",
                    (subscription_id,))
        cur.execute("DELETE FROM outbox_consumers WHERE name = ?",
                    (consumer_name(subscription_id),))
        return cur.execute("DELETE FROM webhook_subscriptions WHERE id = ?",
                           (subscription_id,)).rowcount == 1
    return db.run_raw(work, what="webhook subscription")


def dead_letter(db: Database, subscription_id: int, owner: str, seq: int, attempts: int,
                error: str) -> bool:
    """Give up on one event: record it and move the cursor past it (if still leased)."""
    name = consumer_name(subscription_id)

    def work(cur: RawCursor) -> bool:
        moved = cur.execute(
            "UPDATE outbox_consumers SET cursor = ?, attempts = 0, first_failed_ts = NULL, "
            "next_attempt_ts = 0, last_error = ? WHERE name = ? AND lease_owner = ? "
            "AND cursor < ?", (seq, error[:500], name, owner, seq)).rowcount == 1
        if moved:
            cur.execute("INSERT INTO webhook_dead_letters (subscription_id, seq, attempts, "
                        "last_error, dead_at) VALUES (?, ?, ?, ?, ?)",
                        (subscription_id, seq, attempts, error[:500], cur.time(utcnow())))
        return moved
    return db.run_raw(work, what="webhook dead letter")


def dead_letters(db: Database, subscription_id: int | None = None, limit: int = 100,
                 letter_id: int | None = None) -> list[dict[str, Any]]:
    """Dead letters, newest first (of one subscription or all; or the one letter asked for)."""
    where = "" if subscription_id is None else "WHERE subscription_id = ? "
    params: tuple[Any, ...] = () if subscription_id is None else (subscription_id,)
    if letter_id is not None:
        where += ("AND " if where else "WHERE ") + "id = ? "
        params += (letter_id,)
    rows = db.read_rows("SELECT id, subscription_id, seq, attempts, last_error, dead_at, "
                        f"redelivered_at FROM webhook_dead_letters {where}ORDER BY id DESC "
                        "LIMIT ?", (*params, limit))
    keys = ("id", "subscription_id", "seq", "attempts", "last_error", "dead_at",
            "redelivered_at")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def mark_redelivered(db: Database, dead_letter_id: int) -> None:
    """Record that a dead letter was delivered by hand."""
    db.run_raw(lambda cur: cur.execute(
        "UPDATE webhook_dead_letters SET redelivered_at = ? WHERE id = ?",
        (cur.time(utcnow()), dead_letter_id)), what="webhook dead letter")
