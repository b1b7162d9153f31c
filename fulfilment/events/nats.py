"""NATS JetStream: the change feed published to a stream, and the store feed consumed from one.

Outbound, `NatsPublisher` is a relay consumer (fulfilment.events.relay): each event goes to
`<prefix>.<type>` (for example `omni.events.availability.changed`) as its CloudEvent JSON,
with `Nats-Msg-Id` set to the stream sequence. The relay re-sends after a crash only the
events it sent after its last cursor write, under the same ids, and JetStream drops a
re-sent id inside the stream's duplicate window, so the stream holds each event once.

Inbound, `consume_feed` reads POS sales, receipts and adjustments from a durable pull
consumer (bodies shaped as for POST /v1/inventory/events: one event, a list, or
{"events": [...]}) and applies each message with `fulfilment.inventory.apply_events`,
idempotent per event_id, so a redelivered message changes nothing. Invalid messages are
terminated (never redelivered), failures of our side are retried after a delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from allocation.errors import DomainError, InsufficientStock
from data.db import Database
from data.ledger import MAX_QTY
from fulfilment import inventory
from fulfilment.events.cloudevents import Event, matches
from fulfilment.events.webhooks import DeliveryFailed

log = logging.getLogger("omni.nats")

EVENTS_STREAM = "OMNI_EVENTS"
EVENTS_PREFIX = "omni.events"
FEED_STREAM = "OMNI_FEED"
FEED_SUBJECT = "omni.feed.>"
FEED_DURABLE = "omni-feed"
CONTENT_TYPE = "application/cloudevents+json"
# Errors of the broker or the way to it: the relay retries these with its backoff.
NATS_ERRORS = (nats.errors.Error, OSError, asyncio.TimeoutError)


# ---------------------------------------------------------------- connection and streams
async def _on_error(exc: Exception) -> None:
    # The client retries a lost server every reconnect_time_wait: one line each, not a trace.
    log.debug("nats: %s: %s", exc.__class__.__name__, exc)


async def _on_disconnected() -> None:
    log.warning("nats: disconnected; reconnecting")


async def _on_reconnected() -> None:
    log.info("nats: reconnected")


async def connect(url: str, timeout: float = 5.0) -> NatsClient:
    """A client of `url` (comma-separated servers) that reconnects by itself once connected."""
    nc = NatsClient()
    try:
        # The client's own first-connect loop would try 60 times 2 s apart; bound it instead.
        await asyncio.wait_for(nc.connect(
            servers=[u.strip() for u in url.split(",") if u.strip()], name="omni",
            connect_timeout=max(1, int(timeout)), reconnect_time_wait=1,
            max_reconnect_attempts=-1, error_cb=_on_error,
            disconnected_cb=_on_disconnected, reconnected_cb=_on_reconnected), timeout)
    except BaseException:
        with contextlib.suppress(Exception):
            await nc.close()
        raise
    return nc


async def ensure_stream(js: JetStreamContext, name: str, subjects: Sequence[str], *,
                        duplicate_window: float = 0.0, max_age: float | None = None) -> None:
    """Create the stream unless it exists (an existing one is used as configured)."""
    try:
        await js.stream_info(name)
        return
    except nats.js.errors.NotFoundError:
        pass
    config = StreamConfig(name=name, subjects=list(subjects), storage=StorageType.FILE,
                          duplicate_window=duplicate_window, max_age=max_age)
    try:
        await js.add_stream(config)
    except nats.js.errors.BadRequestError:
        # Another process created it between our two calls (fine), or its subjects overlap
        # an existing stream's (stream_info raises NotFound again: the operator must fix).
        await js.stream_info(name)


# ---------------------------------------------------------------- outbound: the change feed
@dataclass
class NatsPublisher:
    """A relay consumer publishing every event to JetStream, awaiting each ack."""

    url: str
    stream: str = EVENTS_STREAM
    prefix: str = EVENTS_PREFIX
    types: tuple[str, ...] = ("*",)
    timeout: float = 5.0
    # Wider than JetStream's default 2 min: a relay killed after publishing re-sends once its
    # lease (15 s) runs out, and a send whose ack was lost is retried after the backoff.
    duplicate_window: float = 600.0
    max_age: float | None = 7 * 86400.0
    name: str = "nats"
    _nc: NatsClient | None = field(default=None, init=False, repr=False)
    _js: JetStreamContext | None = field(default=None, init=False, repr=False)
    _ready: bool = field(default=False, init=False, repr=False)

    def wants(self, event: Event) -> bool:
        """Whether the event's type is among `types` (every event by default)."""
        return matches(event, self.types, None)

    def subject(self, event: Event) -> str:
        """The subject an event is published to."""
        return f"{self.prefix}.{event.type}"

    async def deliver(self, event: Event) -> None:
        """Publish one event and await the stream's ack; DeliveryFailed on any broker error."""
        try:
            js = await self._stream()
            ack = await js.publish(self.subject(event), event.json(), timeout=self.timeout,
                                   headers={"Nats-Msg-Id": str(event.seq),
                                            "content-type": CONTENT_TYPE})
        except NATS_ERRORS as exc:
            self._ready = False  # the stream may have been deleted: look again next time
            raise DeliveryFailed(f"nats: {exc.__class__.__name__}: {exc}") from exc
        if ack.duplicate:
            log.debug("nats: event %d was in the stream already", event.seq)

    async def _stream(self) -> JetStreamContext:
        if self._nc is None or self._nc.is_closed:
            self._nc = await connect(self.url, self.timeout)
            self._js = self._nc.jetstream(timeout=self.timeout)
            self._ready = False
        if not self._nc.is_connected:
            # Not buffered while reconnecting: a publish flushed minutes later could land
            # after the duplicate window, beside the relay's own retry of the same event.
            raise nats.errors.ConnectionClosedError
        assert self._js is not None
        if not self._ready:
            await ensure_stream(self._js, self.stream, [f"{self.prefix}.>"],
                                duplicate_window=self.duplicate_window, max_age=self.max_age)
            self._ready = True
        return self._js

    async def close(self) -> None:
        """Flush and close the connection (a later delivery connects again)."""
        nc, self._nc, self._js, self._ready = self._nc, None, None, False
        if nc is not None and not nc.is_closed:
            with contextlib.suppress(*NATS_ERRORS):
                await nc.close()


# ---------------------------------------------------------------- inbound: the store feed
class InvalidMessage(ValueError):
    """A feed message that no retry can make valid (bad JSON or shape)."""


# The same rules as the HTTP edge's InventoryEventIn (api/validation.py); fulfilment may
# not import api, and a message must fail here exactly where the HTTP body would.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:~@-]{0,99}$")
_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,40}$")
_CONTROL = re.compile(r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F\uD800-\uDFFF]")
_KINDS = ("receipt", "sale", "adjustment")
_FIELDS = {"event_id", "kind", "node", "sku", "qty", "occurred_at", "reference"}


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """One POS sale, receipt or adjustment read from a feed message."""

    event_id: str
    kind: str
    node: str
    sku: str
    qty: int
    occurred_at: dt.datetime | None = None
    reference: str | None = None

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        """The event as a dict (what apply_events hashes for idempotency keys)."""
        out: dict[str, Any] = {"event_id": self.event_id, "kind": self.kind,
                               "node": self.node, "sku": self.sku, "qty": self.qty,
                               "occurred_at": self.occurred_at, "reference": self.reference}
        if mode == "json" and self.occurred_at is not None:
            out["occurred_at"] = self.occurred_at.isoformat().replace("+00:00", "Z")
        return out


def _event(raw: Any, i: int) -> InboundEvent:
    where = f"event {i}"
    if not isinstance(raw, dict):
        raise InvalidMessage(f"{where}: expected an object, got {type(raw).__name__}")
    extra = sorted(set(raw) - _FIELDS)
    if extra:
        raise InvalidMessage(f"{where}: unknown field(s) {', '.join(map(str, extra))}")
    missing = [k for k in ("event_id", "kind", "node", "sku", "qty") if k not in raw]
    if missing:
        raise InvalidMessage(f"{where}: missing {', '.join(missing)}")
    event_id, kind, node, sku, qty = (raw[k] for k in ("event_id", "kind", "node", "sku", "qty"))
    if not isinstance(event_id, str) or not _ID.match(event_id):
        raise InvalidMessage(f"{where}: event_id must be 1-100 characters matching {_ID.pattern}")
    if kind not in _KINDS:
        raise InvalidMessage(f"{where}: kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    for name, code in (("node", node), ("sku", sku)):
        if not isinstance(code, str) or not _CODE.match(code):
            raise InvalidMessage(f"{where}: {name} must be a code matching {_CODE.pattern}")
    if type(qty) is not int or abs(qty) > MAX_QTY:  # bool is an int: not a quantity
        raise InvalidMessage(f"{where}: qty must be an integer within +-{MAX_QTY}")
    if kind == "adjustment" and qty == 0:
        raise InvalidMessage(f"{where}: an adjustment needs a nonzero qty")
    if kind != "adjustment" and qty <= 0:
        raise InvalidMessage(f"{where}: expected qty > 0 for a {kind}, got {qty}")
    occurred = raw.get("occurred_at")
    if occurred is not None:
        try:
            occurred = dt.datetime.fromisoformat(occurred)
        except (TypeError, ValueError):
            raise InvalidMessage(f"{where}: occurred_at must be an ISO 8601 time") from None
        if occurred.tzinfo is None:
            raise InvalidMessage(f"{where}: occurred_at needs a time zone")
    reference = raw.get("reference")
    if reference is not None and (not isinstance(reference, str) or len(reference) > 120
                                  or _CONTROL.search(reference)):
        raise InvalidMessage(f"{where}: reference must be text of up to 120 characters "
                             "without control characters")
    return InboundEvent(event_id, kind, node, sku, qty, occurred, reference)


def parse_feed(body: bytes) -> list[InboundEvent]:
    """The events of one feed message: one event, a list, or {"events": [...]}."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None
    if isinstance(data, dict) and "events" in data:
        if set(data) != {"events"}:
            raise InvalidMessage("a batch carries only 'events'")
        data = data["events"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data:
        raise InvalidMessage("expected an event, a non-empty list of events or {'events': [...]}")
    return [_event(raw, i) for i, raw in enumerate(data)]


@dataclass
class FeedStats:
    """What the feed consumer did: messages acked, terminated and put back; events written."""

    applied: int = 0  # messages acked (their events written now or before)
    rejected: int = 0  # messages terminated as invalid
    retried: int = 0  # deliveries put back for later (our side failed)
    events: int = 0  # events written
    duplicates: int = 0  # events whose event_id was in the ledger already


async def consume_feed(db: Database, url: str, stop: asyncio.Event, *,
                       stream: str = FEED_STREAM, subject: str = FEED_SUBJECT,
                       durable: str = FEED_DURABLE, max_events: int = 10_000,
                       batch: int = 10, ack_wait: float = 60.0, retry_delay: float = 5.0,
                       stock_retries: int = 5, fetch_timeout: float = 1.0,
                       stats: FeedStats | None = None) -> FeedStats:
    """Apply the store feed from a durable JetStream consumer until `stop` is set."""
    stats = stats if stats is not None else FeedStats()
    nc: NatsClient | None = None
    sub: JetStreamContext.PullSubscription | None = None
    try:
        while not stop.is_set():
            try:
                if nc is None or nc.is_closed:
                    nc, sub = await connect(url), None
                if sub is None:
                    js = nc.jetstream()
                    await ensure_stream(js, stream, [subject])
                    sub = await js.pull_subscribe(subject, durable=durable, stream=stream,
                                                  config=ConsumerConfig(
                                                      ack_policy=AckPolicy.EXPLICIT,
                                                      ack_wait=ack_wait, max_deliver=-1))
            except NATS_ERRORS as exc:
                log.warning("feed: nats %s unavailable (%s: %s); retrying", url,
                            exc.__class__.__name__, exc)
                await _wait(stop, retry_delay)
                continue
            try:
                msgs = await sub.fetch(batch, timeout=fetch_timeout)
            except nats.errors.TimeoutError:
                continue  # nothing to do: look at `stop` again
            except NATS_ERRORS as exc:  # the client reconnects by itself; fetch again soon
                log.warning("feed: fetch failed (%s: %s)", exc.__class__.__name__, exc)
                await _wait(stop, min(retry_delay, 1.0))
                continue
            for i, msg in enumerate(msgs):
                if stop.is_set():  # hand the rest back now rather than after ack_wait
                    for rest in msgs[i:]:
                        await _settle(rest.nak())
                    break
                await _handle(db, msg, stats, max_events, retry_delay, stock_retries)
    finally:
        if nc is not None:
            with contextlib.suppress(*NATS_ERRORS):
                await nc.close()
    return stats


async def _handle(db: Database, msg: Msg, stats: FeedStats, max_events: int,
                  retry_delay: float, stock_retries: int) -> None:
    where = f"{msg.subject} #{_stream_seq(msg)}"
    try:
        events = parse_feed(msg.data)
        result = await asyncio.to_thread(inventory.apply_events, db, events, max_events)
    except InsufficientStock as exc:
        # Feeds from several stores and consumers interleave: the receipt this sale needs may
        # still be on its way. Retry a few times before giving the message up.
        if _delivered(msg) <= stock_retries:
            stats.retried += 1
            log.info("feed: %s waits for stock (%s); retry in %.0f s", where, exc, retry_delay)
            await _settle(msg.nak(delay=retry_delay))
            return
        await _reject(msg, stats, where, exc)
        return
    except (InvalidMessage, DomainError) as exc:
        await _reject(msg, stats, where, exc)
        return
    except Exception as exc:
        # Our side (database unreachable, deadlock, a bug): never drop a sale for it.
        stats.retried += 1
        log.warning("feed: %s failed (%s: %s); retry in %.0f s", where,
                    exc.__class__.__name__, exc, retry_delay)
        await _settle(msg.nak(delay=retry_delay))
        return
    # A lost ack redelivers the message, whose event ids then make it a no-op.
    await _settle(msg.ack())
    stats.applied += 1
    stats.events += int(result["applied"])
    stats.duplicates += int(result["duplicates"])


async def _reject(msg: Msg, stats: FeedStats, where: str, exc: Exception) -> None:
    stats.rejected += 1
    log.warning("feed: rejected %s: %s: %s", where, exc.__class__.__name__, exc)
    await _settle(msg.term())


async def _settle(aw: Any) -> None:
    try:
        await aw
    except NATS_ERRORS as exc:  # the server redelivers after ack_wait; harmless (idempotent)
        log.warning("feed: could not settle a message (%s: %s)", exc.__class__.__name__, exc)


def _delivered(msg: Msg) -> int:
    try:
        return int(msg.metadata.num_delivered)
    except Exception:  # not a JetStream message (no reply subject)
        return 1


def _stream_seq(msg: Msg) -> int | str:
    try:
        return int(msg.metadata.sequence.stream)
    except Exception:
        return "?"


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
