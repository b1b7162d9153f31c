"""The relay: retries and dead letters, two relays at once, and a relay killed mid-stream."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from data import ledger, outbox
from data import webhooks as subs
from data.db import Database
from fulfilment.events import feed
from fulfilment.events.relay import Relay, RelayParams
from tests.api.webhook_receiver import Received, receiver
from tests.data.test_outbox import db_state, rebuild, stream
from tests.factories import seed_tiny

REPO = Path(__file__).resolve().parents[2]
PAIRS = [(n, k) for n in ("DC-DAL", "ST-0001", "ST-0002") for k in ("SKU-A", "SKU-B")]
FAST = RelayParams(poll_seconds=0.02, lease_seconds=2.0, timeout_seconds=1.0,
                   backoff=(0.05, 0.05), refresh_seconds=0.1)


def churn(db: Database, n: int, stop: threading.Event | None = None) -> None:
    """`n` small stock changes spread over the positions (receipts and sales)."""
    for i in range(n):
        if stop is not None and stop.is_set():
            return

        def work(s, i=i):  # type: ignore[no-untyped-def]
            key = ledger.resolve(s, [PAIRS[i % len(PAIRS)]])[PAIRS[i % len(PAIRS)]]
            if i % 3:
                ledger.receive(s, key, 1 + i % 4)
            else:
                ledger.sell(s, key, 1)
        db.run(work)


def until(cond: Callable[[], bool], seconds: float = 60) -> None:
    """Wait for `cond` (polling), or fail."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def caught_up(db: Database, sub_id: int) -> bool:
    """Whether the subscription's cursor stands at the stream's head."""
    if outbox.pending(db):
        return False
    return subs.get(db, sub_id)["delivery"]["cursor"] == outbox.head(db)


def in_background(relays: list[Relay]) -> tuple[threading.Thread, Callable[[], None]]:
    """Run relays on an event loop of their own thread; (thread, stop function)."""
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        await asyncio.gather(*(r.run(stop) for r in relays))

    t = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    t.start()
    return t, lambda: (loop.call_soon_threadsafe(stop.set), t.join(30))


def check_complete(db: Database, rec: Received) -> None:
    """Every event of the stream once (after removing same-id redeliveries), each item's
    events in order."""
    events = rec.in_order()
    assert [int(e["id"]) for e in events] == [e.seq for e in stream(db)]
    from tests.api.test_webhooks import _as_event
    assert rebuild([_as_event(e) for e in events]) == db_state(db)


def test_refused_events_are_retried_then_dead_lettered_then_redelivered(
        database: Database) -> None:
    seed_tiny(database, {PAIRS[0]: 5})
    with receiver() as (url, rec):
        rec.failing = True
        sub = subs.create(database, url, ["*"], None, None, None, from_start=True)
        _, stop = in_background([Relay(database, FAST)])
        until(lambda: caught_up(database, sub["id"]))
        stop()
        letters = subs.dead_letters(database, sub["id"])
        head = outbox.head(database)
        assert sorted(d["seq"] for d in letters) == list(range(1, head + 1))
        assert all(d["attempts"] == len(FAST.backoff) + 1 for d in letters)
        # Each event was tried on the whole schedule (positions in parallel: at least that).
        assert rec.refused >= head * (len(FAST.backoff) + 1)
        assert feed.get_subscription(database, sub["id"])["delivery"]["dead_letters"] == head
        rec.failing = False
        out = feed.redeliver(database, sub["id"], letters[0]["id"])
        assert out == {"delivered": True, "error": None}
        assert [h["webhook-id"] for h, _, _ in rec.items] == [str(letters[0]["seq"])]
        assert subs.dead_letters(database, sub["id"])[0]["redelivered_at"] is not None


def test_two_relays_deliver_each_event_once_in_order(database: Database) -> None:
    seed_tiny(database, {p: 100 for p in PAIRS})
    with receiver() as (url, rec):
        sub = subs.create(database, url, ["availability.*"], ["ST-0001"], None, None,
                          from_start=True)
        _, stop = in_background([Relay(database, FAST), Relay(database, FAST)])
        churn(database, 120)
        until(lambda: caught_up(database, sub["id"]))
        stop()
        got = [int(e["id"]) for e in rec.in_order()]
        want = [e.seq for e in stream(database)
                if e.type.startswith("availability.") and e.node in (None, "ST-0001")]
        assert got == want
        assert len(rec.items) == len(got)  # nobody failed, so nothing was sent twice


def test_a_relay_killed_mid_stream_loses_nothing(database: Database) -> None:
    seed_tiny(database, {p: 1000 for p in PAIRS})
    with receiver() as (url, rec):
        sub = subs.create(database, url, ["*"], None, None, None, from_start=True)
        env = {**os.environ, "OMNI_DATABASE_URL": database.url,
               "OMNI_RELAY_POLL_SECONDS": "0.01", "OMNI_RELAY_LEASE_SECONDS": "1",
               "OMNI_WEBHOOK_TIMEOUT_SECONDS": "0.5"}
        cmd = [sys.executable, "-c", "from api.cli import main; main()", "relay"]
        first = subprocess.Popen(cmd, env=env, cwd=REPO, stderr=subprocess.DEVNULL)
        writes = threading.Event()
        writer = threading.Thread(target=lambda: churn(database, 600, writes))
        writer.start()
        try:
            until(lambda: len(rec.items) > 100)
            first.send_signal(signal.SIGKILL)  # mid-stream: no lease given back
            first.wait(10)
            time.sleep(0.3)  # changes keep coming while no relay runs
            second = subprocess.Popen(cmd, env=env, cwd=REPO, stderr=subprocess.DEVNULL)
            try:
                writer.join()
                until(lambda: caught_up(database, sub["id"]), 120)
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(15)
        finally:
            writes.set()
            writer.join()
            if first.poll() is None:
                first.kill()
        check_complete(database, rec)
