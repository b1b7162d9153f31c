"""Idempotency keys: a retried request returns the first outcome and writes nothing new."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data.db import Database
from data.errors import IdempotencyConflict
from data.models import IdempotencyKey, utcnow


def request_hash(payload: Any) -> str:
    """A stable hash of a JSON-able request body."""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def run_once(
    db: Database,
    key: str | None,
    scope: str,
    payload: Any,
    work: Callable[[Session], dict[str, Any]],
) -> tuple[dict[str, Any], bool]:
    """Run `work` in one transaction and remember its result under `key`; (result, replayed).

    The key row is written in the same transaction as the work, so either both commit or
    neither does. Two concurrent requests with one key: the second waits on the key's
    unique index, fails when the first commits, and then returns the stored result.
    """
    if key is None:
        with db.transaction() as s:
            return work(s), False
    digest = request_hash(payload)
    for attempt in (1, 2):
        try:
            with db.transaction() as s:
                seen = s.get(IdempotencyKey, key)
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
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
