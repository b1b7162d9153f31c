"""Applying inventory feeds: POS sales, receipts, adjustments (each event has .node, .sku,
.kind, .qty, .occurred_at, .event_id, .reference and model_dump(); the API's
InventoryEventIn is one)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from allocation.errors import BatchTooLarge
from data import ledger
from data.db import Database
from data.idempotency import run_once
from data.models import EventKind, utcnow


def _apply(s: Session, events: Sequence[Any]) -> dict[str, Any]:
    now = utcnow()
    keys = ledger.resolve(s, [(e.node, e.sku) for e in events])
    feed = [ledger.FeedEvent(
        key=keys[(e.node, e.sku)], kind=EventKind(e.kind), qty=e.qty,
        occurred_at=e.occurred_at or now, event_id=e.event_id, reference=e.reference)
        for e in events]
    applied, dupes = ledger.apply_feed(s, feed)
    return {"applied": applied, "duplicates": dupes}


def apply_events(db: Database, events: Sequence[Any], max_events: int,
                 idempotency_key: str | None = None) -> dict[str, int]:
    """Apply a feed in one transaction (idempotent per event id and per request key)."""
    if len(events) > max_events:
        raise BatchTooLarge(f"{len(events)} events exceed the limit of {max_events} per call; "
                            "split the feed")
    payload = [e.model_dump(mode="json") for e in events]
    for attempt in (1, 2):
        try:
            result, _ = run_once(db, idempotency_key, "inventory.events", payload,
                                 lambda s: _apply(s, events))
            return result
        except IntegrityError:
            # A concurrent call committed some of these event ids first: re-read, skip them.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
