"""Idempotency keys: a retried request returns the first outcome and writes nothing new."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from allocation.errors import IdempotencyConflict
from data.db import Database, RawCursor
from data.models import IdempotencyKey, utcnow

# 64-bit hash of the key: a collision only makes two unrelated requests wait in turn.
_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"


def request_hash(payload: Any) -> str:
    """A stable hash of a JSON-able request body."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def lock_key(conn: Session | RawCursor, key: str) -> None:
    """Hold `key` until this transaction ends (PostgreSQL advisory lock; SQLite's one
    writer already serialises). A concurrent request with the same key waits here, then
    finds the first one's stored answer instead of racing it for the stock."""
    if isinstance(conn, RawCursor):
        if not conn.sqlite:
            conn.execute(_LOCK_SQL.replace(":k", "?"), [key])
    elif conn.get_bind().dialect.name == "postgresql":
        conn.execute(text(_LOCK_SQL), {"k": key})


def run_once(
    db: Database,
    key: str | None,
    scope: str,
    payload: Any,
    work: Callable[[Session], dict[str, Any]],
) -> tuple[dict[str, Any], bool]:
    """Run `work` in one transaction and remember its result under `key`; (result, replayed).

    The key row is written in the same transaction as the work, so either both commit or
    neither does. The key is locked first (`lock_key`): a concurrent request with the same
    key waits for the first to commit and then returns its stored result. A deadlock or
    serialization failure runs the whole transaction again (`Database.run`).
    """
    if key is None:
        return db.run(work, what=scope), False
    digest = request_hash(payload)

    def once(s: Session) -> tuple[dict[str, Any], bool]:
        lock_key(s, key)
        seen = s.get(IdempotencyKey, key, populate_existing=True)
        if seen is not None:
            if seen.scope != scope or seen.request_hash != digest:
                raise IdempotencyConflict(
                    f"idempotency key {key!r} was used for a different request; "
                    "use a new key for a new request", key=key)
            return dict(seen.response), True
        result = work(s)
        s.add(IdempotencyKey(key=key, scope=scope, request_hash=digest, response=result,
                             created_at=utcnow()))
        s.flush()
        return result, False

    for attempt in (1, 2):
        try:
            return db.run(once, what=scope)
        except IntegrityError:  # a writer that does not lock keys got there first
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
