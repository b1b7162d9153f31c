"""Applying inventory feeds and answering availability."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from api.inventory.schemas import InventoryEventIn, InventoryResult
from data import ledger
from data.db import Database
from data.errors import DomainError
from data.models import EventKind, utcnow


class BatchTooLarge(DomainError):
    """A feed carries more events than one call may."""

    status = 413
    title = "Batch too large"
    type_ = "/problems/too-large"


def apply_events(db: Database, events: list[InventoryEventIn], max_events: int) -> InventoryResult:
    """Apply a feed in one transaction; retry once if a concurrent call wrote the same ids."""
    if len(events) > max_events:
        raise BatchTooLarge(f"{len(events)} events exceed the limit of {max_events} per call; "
                            "split the feed")
    now = utcnow()
    for attempt in (1, 2):
        try:
            with db.transaction() as s:
                keys = ledger.resolve(s, [(e.node, e.sku) for e in events])
                feed = [ledger.FeedEvent(
                    key=keys[(e.node, e.sku)], kind=EventKind(e.kind), qty=e.qty,
                    occurred_at=e.occurred_at or now, event_id=e.event_id,
                    reference=e.reference) for e in events]
                applied, dupes = ledger.apply_feed(s, feed)
            return InventoryResult(applied=applied, duplicates=dupes)
        except IntegrityError:
            # Another call committed some of these event ids first: re-read and skip them.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")
