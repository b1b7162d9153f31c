"""The change feed end to end against a real server (SQLite 1 worker, PostgreSQL 2 workers,
each worker running its own relay): a concurrent order workload, a receiver that refuses
for a while, and the ledger rebuilt from what the receiver got."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from data.db import Database
from tests.api.test_races import _mixed
from tests.api.webhook_receiver import receiver
from tests.benchmarks.loadgen import running_server
from tests.data.test_outbox import db_state, rebuild
from tests.factories import seed_tiny

ENV = {"OMNI_AUTH_REQUIRED": "false", "OMNI_SWEEP_INTERVAL_SECONDS": "0.2",
       "OMNI_PICKUP_EXPIRY_DAYS": "0.000001", "OMNI_RELAY": "true",
       "OMNI_RELAY_POLL_SECONDS": "0.02",
       "OMNI_WEBHOOK_BACKOFF_SECONDS": "[0.1, 0.2, 0.4, 0.8, 1, 1, 1, 1, 1, 1, 1, 1]"}


@pytest.fixture
def server(database: Database) -> Iterator[tuple[str, Database]]:
    """The tiny network with deep stock behind a server whose workers run the relay."""
    seed_tiny(database, {("DC-DAL", "SKU-A"): 100_000, ("DC-DAL", "SKU-B"): 100_000,
                         ("ST-0001", "SKU-A"): 50_000, ("ST-0001", "SKU-B"): 50_000})
    workers = 1 if database.sqlite else 2
    with running_server(database.url, workers=workers, env=ENV,
                        log_path=f"/tmp/webhooks-{database.sqlite}.log") as base:
        yield base, database


def wait_delivered(base: str, sub_id: int, seconds: float = 90) -> dict:
    """Poll until the subscription's cursor reaches the stream's head (nothing pending)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = httpx.get(f"{base}/v1/events/status").json()
        sub = httpx.get(f"{base}/v1/webhooks/{sub_id}").json()
        if not status["pending"] and sub["delivery"]["cursor"] == status["head"]:
            return status
        time.sleep(0.2)
    raise AssertionError(f"not delivered in {seconds} s: {status} {sub}")


def test_a_receiver_gets_every_change_of_a_concurrent_workload(
        server: tuple[str, Database]) -> None:
    base, db = server
    with receiver() as (url, rec):
        r = httpx.post(f"{base}/v1/webhooks", json={"url": url, "start": "oldest"})
        assert r.status_code == 201, r.text
        sub = r.json()

        def outage() -> None:  # the receiver refuses for a while, mid-workload
            time.sleep(1.0)
            rec.failing = True
            time.sleep(1.5)
            rec.failing = False

        t = threading.Thread(target=outage)
        t.start()
        asyncio.run(_mixed(base))
        t.join()
        time.sleep(0.5)  # the last sweep pass
        status = wait_delivered(base, sub["id"])
        events = rec.in_order()
        assert rec.refused > 0  # the outage really happened
        assert rec.verify(sub["secret"]) == len(rec.items)
    seqs = [int(e["id"]) for e in events]
    # Every event once, none invented: 1..head without a gap (each item's in order).
    assert seqs == list(range(1, status["head"] + 1))
    assert rebuild([_as_event(e) for e in events]) == db_state(db)
    with db.engine.connect() as c:
        order_steps = c.execute(text("SELECT COUNT(*) FROM order_events")).scalar_one()
    assert sum(e["type"].startswith("com.omni.order.") for e in events) == order_steps
    # Per order, the steps arrive in the order they were recorded.
    by_order: dict[str, list[str]] = {}
    for e in events:
        if e["type"].startswith("com.omni.order."):
            by_order.setdefault(e["data"]["order"], []).append(e["data"]["action"])
    assert all(steps[0] == "allocate" for steps in by_order.values())


def test_sse_resumes_from_last_event_id_with_nothing_lost(server: tuple[str, Database]) -> None:
    base, db = server
    asyncio.run(_few_orders(base, 5))
    head = httpx.get(f"{base}/v1/events/status").json()["head"]
    first = asyncio.run(_sse(base, {}, params={"after": 0}, count=head // 2))
    asyncio.run(_few_orders(base, 5, start=100))  # more changes while disconnected
    head = httpx.get(f"{base}/v1/events/status").json()["head"]
    rest = asyncio.run(_sse(base, {"Last-Event-ID": first[-1]["id"]}, params={},
                            count=head - len(first)))
    assert [int(e["id"]) for e in first + rest] == list(range(1, head + 1))
    assert rebuild([_as_event(e) for e in first + rest]) == db_state(db)


async def _few_orders(base: str, n: int, start: int = 0) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        for i in range(start, start + n):
            r = await c.post("/v1/allocations", json={
                "order_id": f"sse-{i}", "zip": "75201", "lines": [{"sku": "SKU-A", "qty": 1}]})
            assert r.status_code == 200, r.text


async def _sse(base: str, headers: dict[str, str], params: dict, count: int) -> list[dict]:
    """The first `count` events of the stream (parsed from the text/event-stream)."""
    out: list[dict] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as c, c.stream(
            "GET", "/v1/events/stream", headers=headers, params=params) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        fields: dict[str, str] = {}
        async for line in resp.aiter_lines():
            if line == "":
                if "data" in fields:
                    ev = json.loads(fields["data"])
                    assert ev["id"] == fields["id"] and ev["type"] == fields["event"]
                    out.append(ev)
                    if len(out) == count:
                        return out
                fields = {}
            elif not line.startswith(":"):
                k, _, v = line.partition(":")
                fields[k] = v.removeprefix(" ")
    return out


class _as_event:
    def __init__(self, body: dict) -> None:
        self.body = body
        self.type = body["type"].removeprefix("com.omni.")
        self.seq = int(body["id"])
