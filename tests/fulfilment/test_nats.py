"""NATS JetStream against the local server: the relay's publisher and the store-feed consumer."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import nats
import pytest

from data import ledger, outbox
from data.db import Database
from fulfilment import inventory
from fulfilment.events.cloudevents import Event, from_row
from fulfilment.events.nats import (
    FeedStats,
    InvalidMessage,
    NatsPublisher,
    connect,
    consume_feed,
    ensure_stream,
    parse_feed,
)
from fulfilment.events.relay import Relay, RelayParams
from fulfilment.events.webhooks import DeliveryFailed
from tests.conftest import _missing_service
from tests.factories import seed_tiny

NATS_URL = os.environ.get("OMNI_TEST_NATS_URL", "nats://127.0.0.1:4222")
PAIR = ("ST-0001", "SKU-A")


async def _reachable(url: str) -> str | None:
    try:
        nc = await connect(url, timeout=3)
    except TimeoutError:
        return "no answer within 3 s"
    except Exception as exc:
        return f"{exc.__class__.__name__}: {exc}"
    await nc.close()
    return None



def _run(coro):  # type: ignore[no-untyped-def]
    """asyncio.run on a thread of its own: the dashboard tests' Playwright (sync API) keeps
    an event loop running on the main thread for the rest of the session."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()

@pytest.fixture(scope="session")
def nats_url() -> str:
    """The NATS server's URL (skipped if unreachable, failed in CI)."""
    error = _run(_reachable(NATS_URL))
    if error is not None:
        _missing_service(f"NATS at {NATS_URL} is unreachable: {error}")
    return NATS_URL


@pytest.fixture
def streams(nats_url: str) -> Iterator[list[str]]:
    """Names of streams a test creates; deleted at the end (durables go with them)."""
    names: list[str] = []
    yield names

    async def drop() -> None:
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        for name in names:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(name)
        await nc.close()
    _run(drop())


async def until(cond: Callable[[], Any], seconds: float = 30) -> None:
    """Poll `cond` (sync or async) until true; a bound against hangs, not a timing test."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ok = cond()
        if asyncio.iscoroutine(ok):
            ok = await ok
        if ok:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


def on_hand(db: Database, node: str = PAIR[0], sku: str = PAIR[1]) -> int:
    """A position's on_hand."""
    return int(db.read_rows("SELECT p.on_hand FROM stock_positions p JOIN nodes n ON "
                            "n.id = p.node_id JOIN skus k ON k.id = p.sku_id WHERE n.code = ? "
                            "AND k.code = ?", (node, sku))[0][0])


# ---------------------------------------------------------------- publisher
def changes(db: Database) -> None:
    """A few ledger changes in separate transactions: receipts, a sale, a reservation."""
    for i in range(6):
        with db.transaction() as s:
            pair = [PAIR, ("DC-DAL", "SKU-B")][i % 2]
            key = ledger.resolve(s, [pair])[pair]
            ledger.receive(s, key, 5 + i, reference=f"po-{i}")
            if i % 3 == 0:
                ledger.sell(s, key, 2, reference=f"pos-{i}")
            if i == 4:
                ledger.reserve(s, key, 3, reference="web-1")


async def read_stream(url: str, stream: str, subject: str) -> list[tuple[str, str, str, bytes]]:
    """Every message of the stream as (subject, Nats-Msg-Id, content-type, body)."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        total = (await js.stream_info(stream)).state.messages
        sub = await js.pull_subscribe(subject, stream=stream)
        got: list[Any] = []
        while len(got) < total:
            got += await sub.fetch(total - len(got), timeout=5)
        for m in got:
            await m.ack()
        return [(m.subject, m.headers["Nats-Msg-Id"], m.headers["content-type"], m.data)
                for m in got]
    finally:
        await nc.close()


def test_relay_publishes_exactly_the_outbox_stream(database: Database, nats_url: str,
                                                   streams: list[str]) -> None:
    tag = uuid.uuid4().hex[:10]
    stream, prefix = f"T_EVENTS_{tag}", f"t{tag}.events"
    streams.append(stream)
    seed_tiny(database, {PAIR: 10, ("DC-DAL", "SKU-B"): 50})
    publisher = NatsPublisher(nats_url, stream=stream, prefix=prefix)

    def caught_up() -> bool:
        if outbox.pending(database):
            return False
        cursor = {c["name"]: c["cursor"] for c in outbox.consumers(database)}.get("nats")
        return cursor == outbox.head(database) > 0

    async def main() -> list[tuple[str, str, str, bytes]]:
        relay = Relay(database, RelayParams(webhooks=False, poll_seconds=0.02,
                                            refresh_seconds=0.05), extra=[publisher])
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        try:
            await asyncio.to_thread(changes, database)  # while the relay runs
            await until(lambda: asyncio.to_thread(caught_up))
        finally:
            stop.set()
            await task
            await publisher.close()
        return await read_stream(nats_url, stream, f"{prefix}.>")

    got = _run(main())
    expected = [from_row(r) for r in outbox.read_after(database, 0, 10_000)]
    assert len(expected) > 10
    assert got == [(f"{prefix}.{e.type}", str(e.seq), "application/cloudevents+json", e.json())
                   for e in expected]


def test_a_resent_sequence_is_stored_once(nats_url: str, streams: list[str]) -> None:
    tag = uuid.uuid4().hex[:10]
    stream = f"T_DEDUP_{tag}"
    streams.append(stream)
    publisher = NatsPublisher(nats_url, stream=stream, prefix=f"t{tag}.events")

    def event(seq: int) -> Event:
        return Event(seq, "order.allocated", None, "order/o-1", 0.0,
                     {"specversion": "1.0", "id": str(seq), "type": "com.omni.order.allocated"})

    async def main() -> int:
        try:
            await publisher.deliver(event(1))
            await publisher.deliver(event(1))  # a relay re-sending after a crash
            await publisher.deliver(event(2))
            assert publisher._js is not None
            count = (await publisher._js.stream_info(stream)).state.messages
            await publisher._js.delete_stream(stream)  # an operator drops it: it comes back
            with contextlib.suppress(DeliveryFailed):
                await publisher.deliver(event(3))
            await publisher.deliver(event(3))
            return count
        finally:
            await publisher.close()

    assert _run(main()) == 2


def test_an_unreachable_server_is_a_failed_delivery() -> None:
    publisher = NatsPublisher("nats://127.0.0.1:1", timeout=1.0)  # nothing listens on port 1
    event = Event(1, "order.allocated", None, "order/o-1", 0.0, {"id": "1"})
    with pytest.raises(DeliveryFailed):
        _run(publisher.deliver(event))


# ---------------------------------------------------------------- feed consumer
def test_feed_messages_parse_like_the_http_body() -> None:
    one = {"event_id": "pos-1", "kind": "sale", "node": "ST-0001", "sku": "SKU-A", "qty": 2,
           "occurred_at": "2026-11-23T10:00:00Z"}
    assert [e.event_id for e in parse_feed(json.dumps(one).encode())] == ["pos-1"]
    assert len(parse_feed(json.dumps([one, {**one, "event_id": "pos-2"}]).encode())) == 2
    assert len(parse_feed(json.dumps({"events": [one]}).encode())) == 1
    assert parse_feed(json.dumps(one).encode())[0].model_dump("json")["occurred_at"] == (
        "2026-11-23T10:00:00Z")
    for bad in (b"{", b"[]", b"3", {**one, "qty": True}, {**one, "qty": 0},
                {**one, "kind": "transfer"}, {**one, "extra": 1}, {**one, "node": "a b"},
                {**one, "occurred_at": "2026-11-23T10:00:00"}, {"events": [one], "x": 1},
                {k: v for k, v in one.items() if k != "event_id"}):
        with pytest.raises(InvalidMessage):
            parse_feed(bad if isinstance(bad, bytes) else json.dumps(bad).encode())


def _sale(event_id: str, qty: int, sku: str = PAIR[1], kind: str = "sale") -> bytes:
    return json.dumps({"event_id": event_id, "kind": kind, "node": PAIR[0], "sku": sku,
                       "qty": qty}).encode()


async def _feed(db: Database, url: str, stream: str, tag: str,
                script: Callable[[Any, str, FeedStats], Any]) -> FeedStats:
    """Run the consumer on a fresh stream while `script(js, subject_prefix, stats)` runs."""
    subject = f"t{tag}.feed"
    nc = await nats.connect(url)
    js = nc.jetstream()
    await ensure_stream(js, stream, [f"{subject}.>"])  # so the first publish has a home
    stop, stats = asyncio.Event(), FeedStats()
    task = asyncio.create_task(consume_feed(
        db, url, stop, stream=stream, subject=f"{subject}.>", durable=f"t-{tag}",
        retry_delay=0.05, stock_retries=1, fetch_timeout=0.2, stats=stats))
    try:
        await script(js, subject, stats)

        async def settled() -> bool:
            info = await js.consumer_info(stream, f"t-{tag}")
            return info.num_pending == 0 and info.num_ack_pending == 0
        await until(settled)
    finally:
        stop.set()
        result = await task
        await nc.close()
    return result


def test_feed_applies_once_and_terminates_invalid_messages(
        database: Database, nats_url: str, streams: list[str]) -> None:
    tag = uuid.uuid4().hex[:10]
    streams.append(f"T_FEED_{tag}")
    seed_tiny(database, {PAIR: 10})

    async def script(js: Any, subject: str, stats: FeedStats) -> None:
        await js.publish(f"{subject}.ST-0001", _sale("pos-1", 3))
        await until(lambda: stats.applied == 1)
        assert on_hand(database) == 7
        await js.publish(f"{subject}.ST-0001", _sale("pos-1", 3))  # the POS sends it again
        await until(lambda: stats.applied == 2)
        assert on_hand(database) == 7
        for bad in (b"{not json", _sale("pos-2", 0), _sale("pos-3", 1, sku="SKU-NOPE"),
                    _sale("pos-4", 999)):  # bad JSON, bad qty, unknown SKU, short of stock
            await js.publish(f"{subject}.ST-0001", bad)
        receipt = json.dumps({"events": [json.loads(_sale("rcv-1", 5, kind="receipt"))]})
        await js.publish(f"{subject}.ST-0001", receipt.encode())
        await until(lambda: stats.applied == 3 and stats.rejected == 4)

    stats = _run(_feed(database, nats_url, f"T_FEED_{tag}", tag, script))
    assert on_hand(database) == 12
    assert (stats.applied, stats.rejected, stats.events, stats.duplicates) == (3, 4, 2, 1)
    assert stats.retried == 1  # the oversell waited once for a receipt, then was given up


def test_feed_retries_when_the_database_fails(database: Database, nats_url: str,
                                              streams: list[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    tag = uuid.uuid4().hex[:10]
    streams.append(f"T_FEED_{tag}")
    seed_tiny(database, {PAIR: 10})
    real, calls = inventory.apply_events, []

    def flaky(*args: Any, **kwargs: Any) -> dict[str, int]:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("database unreachable")
        return real(*args, **kwargs)
    monkeypatch.setattr(inventory, "apply_events", flaky)

    async def script(js: Any, subject: str, stats: FeedStats) -> None:
        await js.publish(f"{subject}.ST-0001", _sale("pos-1", 4))
        await until(lambda: stats.applied == 1)

    stats = _run(_feed(database, nats_url, f"T_FEED_{tag}", tag, script))
    assert (stats.applied, stats.retried, stats.rejected, len(calls)) == (1, 1, 0, 2)
    assert on_hand(database) == 6
