"""The relay: sequences the outbox and delivers the stream to every consumer, at least once.

One task sequences (data.outbox.sequence); one task per consumer (a webhook subscription,
the broker publisher) holds the consumer's lease, reads the events after its cursor, sends
them one by one in stream order, and moves the cursor after each accepted run. A relay that
dies (kill -9) loses nothing: its lease runs out and another relay (or the same one started
again) resumes from the stored cursor, re-sending at most the events sent after the last
cursor write, under the same ids. Several relays (processes, service workers) may run:
a consumer's lease lets one deliver at a time, so the order per item holds.

A failed event is retried on the consumer's backoff schedule; a webhook event still refused
after its last retry goes to the dead-letter list and the cursor moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from data import outbox
from data import webhooks as subs
from data.db import Database
from fulfilment.events.cloudevents import Event, from_row
from fulfilment.events.webhooks import DEFAULT_BACKOFF, DeliveryFailed, WebhookConsumer

log = logging.getLogger("omni.relay")
BROKER_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # the last wait repeats


class Consumer(Protocol):
    """A reader of the stream: a name (its cursor), a filter and a sender."""

    name: str

    def wants(self, event: Event) -> bool:
        """Whether to send this event (skipped ones only move the cursor)."""

    async def deliver(self, event: Event) -> None:
        """Send one event; raise DeliveryFailed to retry it later."""


@dataclass(frozen=True, slots=True)
class RelayParams:
    """How often and how hard the relay works."""

    poll_seconds: float = 0.05
    lease_seconds: float = 15.0
    batch: int = 500
    timeout_seconds: float = 10.0
    backoff: tuple[float, ...] = DEFAULT_BACKOFF
    refresh_seconds: float = 1.0
    prune_every_seconds: float = 3600.0
    keep_seconds: float = 7 * 86400.0
    webhooks: bool = True
    # Partitions (positions, orders) sent at once per consumer; each partition's events go
    # in order. 1: the whole stream strictly in sequence order, one request at a time.
    parallel: int = 16

    def __post_init__(self) -> None:
        for name in ("poll_seconds", "lease_seconds", "timeout_seconds", "refresh_seconds",
                     "prune_every_seconds", "keep_seconds"):
            if not getattr(self, name) > 0:
                raise ValueError(f"expected {name} > 0, got {getattr(self, name)}")
        if self.parallel < 1:
            raise ValueError(f"expected parallel >= 1, got {self.parallel}")
        if self.batch < 1:
            raise ValueError(f"expected batch >= 1, got {self.batch}")
        if not self.backoff or min(self.backoff) < 0:
            raise ValueError("expected a non-empty backoff of seconds >= 0")
        if self.timeout_seconds >= self.lease_seconds:
            raise ValueError("expected timeout_seconds < lease_seconds (a slow receiver "
                             "would outlive the lease)")


@dataclass
class RelayStats:
    """Counters since start (for logs, metrics and tests)."""

    sequenced: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    last_error: str | None = None


def default_owner() -> str:
    """A lease owner id unique to this process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Relay:
    """Sequencer plus one delivery task per consumer; `run` until `stop` is set."""

    db: Database
    params: RelayParams = field(default_factory=RelayParams)
    extra: Sequence[Consumer] = ()
    owner: str = field(default_factory=default_owner)
    # Called with (outcome, consumer name): "delivered", "failed" or "dead" (metrics).
    on_outcome: Callable[[str, str], None] | None = None
    stats: RelayStats = field(default_factory=RelayStats)

    def __post_init__(self) -> None:
        self._tick = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._seen: dict[str, int] = {}  # each consumer's cursor when this relay last looked
        self._quiet_until: dict[str, float] = {}  # leased elsewhere, or waiting for a retry

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; leases are given back on the way out."""
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        async with httpx.AsyncClient(limits=limits) as client:
            self._client = client
            seq_task = asyncio.create_task(self._sequencer(stop), name="outbox-sequencer")
            try:
                for c in self.extra:
                    self._start(c, stop)
                while not stop.is_set():
                    if self.params.webhooks:
                        await self._refresh(stop)
                    await _wait(stop, self.params.refresh_seconds)
            finally:
                for t in [seq_task, *self._tasks.values()]:
                    t.cancel()
                await asyncio.gather(seq_task, *self._tasks.values(), return_exceptions=True)
                for name in list(self._tasks):
                    await _quiet(asyncio.to_thread(outbox.release, self.db, name, self.owner))
                self._tasks.clear()

    async def _refresh(self, stop: asyncio.Event) -> None:
        try:
            active = await asyncio.to_thread(subs.active, self.db)
        except Exception as exc:  # a database hiccup: try again next round
            log.warning("relay: reading subscriptions failed: %s", exc)
            return
        wanted = {f"webhook:{s['id']}": s for s in active}
        for name in [n for n in self._tasks if n.startswith("webhook:") and n not in wanted]:
            self._tasks.pop(name).cancel()
        for name, sub in wanted.items():
            task = self._tasks.get(name)
            if task is not None and getattr(task, "omni_sub", None) == sub:
                continue
            if task is not None:  # changed (url, filter, secret): start again with the new one
                task.cancel()
            self._start(WebhookConsumer(sub, self._client, self.params.timeout_seconds,
                                        self.params.backoff), stop)
            self._tasks[name].omni_sub = sub  # type: ignore[attr-defined]

    def _start(self, consumer: Consumer, stop: asyncio.Event) -> None:
        self._tasks[consumer.name] = asyncio.create_task(self._consume(consumer, stop),
                                                         name=f"relay-{consumer.name}")

    async def _sequencer(self, stop: asyncio.Event) -> None:
        next_prune = time.monotonic() + self.params.prune_every_seconds
        while not stop.is_set():
            try:
                done = await asyncio.to_thread(self._sequence_once)
            except Exception as exc:
                log.warning("relay: sequencer failed: %s", exc)
                done = 0
            if done:
                self.stats.sequenced += done
                tick, self._tick = self._tick, asyncio.Event()
                tick.set()
                continue
            if time.monotonic() > next_prune:
                next_prune = time.monotonic() + self.params.prune_every_seconds
                await _quiet(asyncio.to_thread(outbox.prune, self.db, self.params.keep_seconds))
            await _wait(stop, self.params.poll_seconds)

    def _sequence_once(self) -> int:
        if not outbox.pending(self.db):
            return 0
        return outbox.sequence(self.db).count

    async def _consume(self, consumer: Consumer, stop: asyncio.Event) -> None:
        await asyncio.to_thread(self._ensure, consumer.name)
        while not stop.is_set():
            try:
                busy = await self._serve(consumer)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("relay: %s failed: %s", consumer.name, exc)
                busy = False
            if not busy:
                tick = self._tick
                await _wait_any(stop, tick, self.params.poll_seconds)

    def _ensure(self, name: str) -> None:
        self.db.run_raw(lambda cur: outbox.ensure_consumer(cur, name, 0), what="consumer")

    async def _serve(self, consumer: Consumer) -> bool:
        """One pass for one consumer; True when it sent something (look again at once)."""
        p = self.params
        # An idle pass costs one read, not a lease write: nothing after the cursor we saw.
        if time.time() < self._quiet_until.get(consumer.name, 0.0):
            return False
        if await asyncio.to_thread(outbox.head, self.db) <= self._seen.get(consumer.name, -1):
            return False
        state = await asyncio.to_thread(outbox.take_lease, self.db, consumer.name, self.owner,
                                        p.lease_seconds)
        if state is None:  # another relay delivers it: look again in a while
            self._quiet_until[consumer.name] = time.time() + p.lease_seconds / 3
            return False
        if state["next_attempt_ts"] > time.time():  # waiting out a retry
            self._quiet_until[consumer.name] = state["next_attempt_ts"]
            return False
        self._seen[consumer.name] = state["cursor"]
        rows = await asyncio.to_thread(outbox.read_after, self.db, state["cursor"], p.batch)
        if not rows:
            return False
        cursor, start, sent = state["cursor"], state["cursor"], 0
        renew = time.monotonic() + p.lease_seconds / 3
        events = [from_row(r) for r in rows]
        # A broker keeps the stream in order (its own consumers read it so); webhooks fan out.
        parallel = getattr(consumer, "parallel", None) or (
            p.parallel if getattr(consumer, "subscription_id", None) is not None else 1)
        width = 1 if parallel == 1 else 4 * parallel
        for lo in range(0, len(events), width):
            window = events[lo:lo + width]
            done, failure = await self._window(consumer, window)
            if failure is not None:
                event, exc = failure
                cursor = max(cursor, event.seq - 1)
                sent += sum(1 for e in done if e.seq < event.seq)
                if await self._failed(consumer, state, event, cursor, start, sent, exc):
                    return True  # dead-lettered: the next pass goes on after it
                return sent > 0
            sent += len(done)
            cursor = window[-1].seq
            if time.monotonic() > renew:  # long pass: keep the lease, save the progress
                if not await self._advance(consumer.name, cursor, sent):
                    return False
                start, sent = cursor, 0
                renew = time.monotonic() + p.lease_seconds / 3
        await self._advance(consumer.name, cursor, sent)
        return True

    async def _window(self, consumer: Consumer, window: list[Event]
                      ) -> tuple[list[Event], tuple[Event, Exception] | None]:
        """Send a window's wanted events: each partition in order, partitions at once.
        (delivered events, the earliest failure or None); a partition stops at its first
        failure, so nothing of it is sent out of order."""
        lanes: dict[str, list[Event]] = {}
        for e in window:
            if consumer.wants(e):
                lanes.setdefault(e.partition, []).append(e)
        done: list[Event] = []
        failures: list[tuple[Event, Exception]] = []

        async def lane(items: list[Event]) -> None:
            for e in items:
                try:
                    await consumer.deliver(e)
                except DeliveryFailed as exc:
                    failures.append((e, exc))
                    return
                done.append(e)
                self.stats.delivered += 1
                self._count("delivered", consumer.name)

        if len(window) == 1 or len(lanes) == 1:
            for items in lanes.values():
                await lane(items)
                if failures:
                    break
        else:
            await asyncio.gather(*(lane(items) for items in lanes.values()))
        first = min(failures, key=lambda f: f[0].seq) if failures else None
        return done, first

    def _count(self, outcome: str, name: str) -> None:
        if self.on_outcome is not None:
            self.on_outcome(outcome, name)

    async def _advance(self, name: str, cursor: int, sent: int) -> bool:
        ok = await asyncio.to_thread(outbox.advance, self.db, name, self.owner, cursor, sent,
                                     self.params.lease_seconds)
        if ok:
            self._seen[name] = cursor
        else:
            log.warning("relay: lost the lease of %s; another relay delivers it", name)
        return ok

    async def _failed(self, consumer: Consumer, state: dict[str, Any], event: Event,
                      cursor: int, start: int, sent: int, exc: Exception) -> bool:
        """Record a failure at `event`; True when it was dead-lettered (go on after it)."""
        self.stats.failed += 1
        self.stats.last_error = str(exc)
        self._count("failed", consumer.name)
        if cursor > start and not await self._advance(consumer.name, cursor, sent):
            return False
        first = cursor == state["cursor"]  # the head the stored attempts refer to
        attempts = (state["attempts"] if first else 0) + 1
        first_failed = (state["first_failed_ts"] if first else None) or time.time()
        sub_id = getattr(consumer, "subscription_id", None)
        # A broker is infrastructure, not a customer's endpoint: retry it soon and forever.
        backoff = self.params.backoff if sub_id is not None else getattr(
            consumer, "backoff", BROKER_BACKOFF)
        if attempts > len(backoff) and sub_id is not None:
            self.stats.dead += 1
            self._count("dead", consumer.name)
            log.warning("relay: %s gave up on event %d after %d attempts: %s",
                        consumer.name, event.seq, attempts, exc)
            return await asyncio.to_thread(subs.dead_letter, self.db, sub_id, self.owner,
                                           event.seq, attempts, str(exc))
        wait = backoff[min(attempts, len(backoff)) - 1]
        log.info("relay: %s event %d attempt %d failed (%s); next in %.0f s", consumer.name,
                 event.seq, attempts, exc, wait)
        await asyncio.to_thread(outbox.fail, self.db, consumer.name, self.owner, attempts,
                                first_failed, time.time() + wait, str(exc))
        self._quiet_until[consumer.name] = time.time() + wait
        return False


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _wait_any(stop: asyncio.Event, tick: asyncio.Event, seconds: float) -> None:
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(tick.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _quiet(aw: Awaitable[Any]) -> None:
    try:
        await aw
    except Exception as exc:
        log.warning("relay: %s", exc)
