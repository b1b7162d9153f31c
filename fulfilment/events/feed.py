"""The change feed's service functions: read the stream, manage subscriptions, redeliver."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx

from allocation.errors import Gone, InvalidQuantity, NotFound, UnknownReference
from data import outbox
from data import webhooks as subs
from data.db import Database
from fulfilment.events.cloudevents import EVENT_TYPES, Event, from_row, matches, valid_type_pattern
from fulfilment.events.webhooks import DeliveryFailed, send

MAX_PAGE = 1000


def check_filters(types: Sequence[str] | None, nodes: Sequence[str] | None,
                  db: Database) -> None:
    """Refuse unknown event types and node codes (a 422 naming them)."""
    bad = [t for t in types or () if not valid_type_pattern(t)]
    if bad:
        raise InvalidQuantity(f"unknown event type(s) {', '.join(bad)}; expected some of "
                              f"{', '.join(EVENT_TYPES)}, a prefix like order.* or *")
    if nodes:
        marks = ", ".join("?" * len(nodes))
        known = {r[0] for r in db.read_rows(f"SELECT code FROM nodes WHERE code IN ({marks})",
                                            list(nodes))}
        missing = sorted(set(nodes) - known)
        if missing:
            raise UnknownReference(f"unknown node(s): {', '.join(missing)}")


def catch_up(db: Database) -> None:
    """Sequence what is committed (cheap when nothing waits), so readers see it at once."""
    if outbox.pending(db):
        outbox.sequence(db)


def page(db: Database, after: int | None, limit: int, types: Sequence[str] | None,
         nodes: Sequence[str] | None) -> dict[str, Any]:
    """Events after `after` (default: the head, i.e. none yet), filtered; the next cursor."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuantity(f"expected 1 <= limit <= {MAX_PAGE}, got {limit}")
    catch_up(db)
    top = outbox.head(db)
    start = top if after is None else after
    check_retained(db, start)
    events, cursor = scan(db, start, limit, types, nodes)
    return {"events": [e.body for e in events], "next_after": cursor, "head": top}


def check_retained(db: Database, after: int) -> None:
    """Gone unless every event after `after` is still kept."""
    low = outbox.oldest(db)
    if low and after < low - 1:
        raise Gone(f"events after {after} were pruned (the oldest kept is {low}); read the "
                   "current stock from /v1/availability and resume from the head",
                   oldest=low)


def scan(db: Database, after: int, limit: int, types: Sequence[str] | None,
         nodes: Sequence[str] | None) -> tuple[list[Event], int]:
    """Up to `limit` matching events after `after` and the cursor after the rows scanned."""
    found: list[Event] = []
    cursor = after
    for _ in range(20):  # a sparse filter scans on, within bounds
        rows = outbox.read_after(db, cursor, MAX_PAGE)
        if not rows:
            break
        for row in rows:
            event = from_row(row)
            cursor = event.seq
            if matches(event, types or ["*"], nodes):
                found.append(event)
                if len(found) == limit:
                    return found, cursor
    return found, cursor


def _valid_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidQuantity(f"expected an http(s) URL with a host, got {url!r}")
    return url


def create_subscription(db: Database, body: dict[str, Any]) -> dict[str, Any]:
    """A new subscription (its secret is in the answer, only this once)."""
    types = body.get("event_types") or ["*"]
    check_filters(types, body.get("nodes"), db)
    return subs.create(db, _valid_url(body["url"]), list(types), body.get("nodes"),
                       body.get("description"), body.get("secret"),
                       body.get("start") == "oldest")


def get_subscription(db: Database, subscription_id: int) -> dict[str, Any]:
    """One subscription with its delivery state, or NotFound."""
    out = subs.get(db, subscription_id)
    if out is None:
        raise NotFound(f"no webhook subscription {subscription_id}")
    return out


def set_active(db: Database, subscription_id: int, active: bool) -> dict[str, Any]:
    """Pause or resume a subscription."""
    if not subs.set_active(db, subscription_id, active):
        raise NotFound(f"no webhook subscription {subscription_id}")
    return get_subscription(db, subscription_id)


def delete_subscription(db: Database, subscription_id: int) -> None:
    """Remove a subscription with its cursor and dead letters."""
    if not subs.delete(db, subscription_id):
        raise NotFound(f"no webhook subscription {subscription_id}")


def dead_letters(db: Database, subscription_id: int | None, limit: int) -> list[dict[str, Any]]:
    """Dead letters of one subscription (or all), newest first."""
    if subscription_id is not None:
        get_subscription(db, subscription_id)
    return subs.dead_letters(db, subscription_id, limit)


def redeliver(db: Database, subscription_id: int, dead_letter_id: int,
              timeout: float = 10.0) -> dict[str, Any]:
    """Send one dead letter again now (same webhook-id); 'delivered' or the error."""
    found = subs.active(db, subscription_id)
    letters = subs.dead_letters(db, subscription_id, 1, letter_id=dead_letter_id)
    if not found or not letters:
        raise NotFound(f"no dead letter {dead_letter_id} of active subscription "
                       f"{subscription_id}")
    sub, letter = found[0], letters[0]
    rows = outbox.read_after(db, int(letter["seq"]) - 1, 1)
    if not rows or int(rows[0][0]) != int(letter["seq"]):
        raise Gone(f"event {letter['seq']} was pruned")

    async def go() -> None:
        async with httpx.AsyncClient() as client:
            await send(client, sub["url"], sub["secret"], from_row(rows[0]), timeout)
    try:
        _run_sync(go())
    except DeliveryFailed as exc:
        return {"delivered": False, "error": str(exc)}
    subs.mark_redelivered(db, dead_letter_id)
    return {"delivered": True, "error": None}


def _run_sync(coro):  # type: ignore[no-untyped-def]
    """Run a coroutine to its end from sync code, on a thread of its own when this thread
    already runs an event loop (asyncio.run refuses there)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def status(db: Database) -> dict[str, Any]:
    """Whether the outbox records changes, the stream's head and every consumer's state."""
    catch_up(db)  # the head includes every change committed before this call
    return {"enabled": outbox.enabled(db), "head": outbox.head(db),
            "oldest": outbox.oldest(db), "pending": outbox.pending(db),
            "consumers": outbox.consumers(db)}
