"""Concurrency and retry races against a real server: SQLite (one worker) and PostgreSQL (two).

Each test releases bursts of requests that touch the same stock in opposite orders or
repeat one request at once, then asserts: no 5xx, every retry answered with the first
outcome, and the ledger invariants (on_hand == sum of events, reserved == open
reservations, pick load == units held, nothing negative).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from data.db import Database
from data.models import Node, Order, Reservation, ReservationStatus, StockEvent, StockPosition
from tests.benchmarks.loadgen import running_server
from tests.data.test_ledger_properties import check_invariants
from tests.factories import seed_tiny

# Bounded by count, not by time (a loaded machine only makes it slower): each racing task
# repeats its step this many times; a generous deadline still stops a stuck run.
ROUNDS = 12
DEADLINE_SECONDS = 120.0
# Idle connections expire before the server's 5 s keep-alive could close one in use.
LIMITS = httpx.Limits(keepalive_expiry=2.0)
ENV = {"OMNI_AUTH_REQUIRED": "false", "OMNI_SWEEP_INTERVAL_SECONDS": "0"}


@pytest.fixture
def server(database: Database) -> Iterator[tuple[str, Database]]:
    """The tiny network with deep stock, served by 1 worker (SQLite) or 2 (PostgreSQL)."""
    seed_tiny(database, {("DC-DAL", "SKU-A"): 100_000, ("DC-DAL", "SKU-B"): 100_000,
                         ("ST-0001", "SKU-A"): 50_000, ("ST-0001", "SKU-B"): 50_000})
    workers = 1 if database.sqlite else 2
    env = {**ENV, "OMNI_SWEEP_INTERVAL_SECONDS": "0.2", "OMNI_PICKUP_EXPIRY_DAYS": "0.000001"}
    with running_server(database.url, workers=workers, env=env,
                        log_path=f"/tmp/race-{database.sqlite}.log") as base:
        yield base, database


def _order(oid: str, skus: list[str], *, pickup: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"order_id": oid, "lines": [{"sku": s, "qty": 1} for s in skus]}
    if pickup:
        body.update(method="pickup", pickup_store="ST-0001")
    else:
        body["zip"] = "75201"
    return body


def _no_server_errors(codes: Counter[int]) -> None:
    assert not [c for c in codes if c >= 500], codes


async def _mixed(base: str) -> Counter[int]:
    """Allocate [A, B]; allocate [B, A] and cancel it; reject; pickups the sweeper expires."""
    codes: Counter[int] = Counter()
    ids = itertools.count()
    stop = time.monotonic() + DEADLINE_SECONDS

    def rounds() -> range:
        return range(ROUNDS) if time.monotonic() < stop else range(0)

    async with httpx.AsyncClient(base_url=base, timeout=60, limits=LIMITS) as c:
        async def post(path: str, body: Any = None) -> httpx.Response:
            r = await c.post(path, json=body)
            codes[r.status_code] += 1
            return r

        async def allocator() -> None:
            for _ in rounds():
                await post("/v1/allocations", _order(f"a-{next(ids)}", ["SKU-A", "SKU-B"]))

        async def canceller() -> None:
            for _ in rounds():
                oid = f"c-{next(ids)}"
                if (await post("/v1/allocations", _order(oid, ["SKU-B", "SKU-A"]))).is_success:
                    await post(f"/v1/orders/{oid}/cancel")

        async def rejecter() -> None:
            for _ in rounds():
                oid = f"r-{next(ids)}"
                if (await post("/v1/allocations", _order(oid, ["SKU-B", "SKU-A"]))).is_success:
                    await post(f"/v1/orders/{oid}/reject", {"reason": "no_capacity"})
                    await post(f"/v1/orders/{oid}/cancel")

        async def pickups() -> None:
            for _ in rounds():
                oid = f"p-{next(ids)}"
                if not (await post("/v1/allocations",
                                   _order(oid, ["SKU-B", "SKU-A"], pickup=True))).is_success:
                    continue
                for action in ("accept", "picked", "ready_for_pickup", "collected"):
                    # The sweeper expires ready pickups at once: collected races it (409).
                    if not (await post(f"/v1/orders/{oid}/{action}")).is_success:
                        break

        await asyncio.gather(*(f() for f in [allocator] * 3 + [canceller] * 3
                               + [rejecter, pickups] * 2))
    return codes


def test_mixed_lifecycle_in_opposite_orders(server: tuple[str, Database]) -> None:
    base, db = server
    codes = asyncio.run(_mixed(base))
    _no_server_errors(codes)
    assert set(codes) <= {200, 409}, codes
    # Deep stock: every one of the 10 x ROUNDS allocations succeeds, so the race really ran.
    assert codes[200] >= 10 * ROUNDS, codes
    time.sleep(0.5)  # the last sweep pass
    check_invariants(db)


async def _same_key_retries(base: str, n: int) -> list[list[httpx.Response]]:
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=LIMITS) as c:
        async def burst(i: int) -> list[httpx.Response]:
            body = _order(f"k-{i}", ["SKU-A", "SKU-B"] if i % 2 else ["SKU-B", "SKU-A"])
            head = {"Idempotency-Key": f"checkout-{i}"}
            return await asyncio.gather(*(c.post("/v1/allocations", json=body, headers=head)
                                          for _ in range(2 + i % 2)))
        return await asyncio.gather(*(burst(i) for i in range(n)))


def test_concurrent_identical_allocation_retries_get_the_first_answer(
        server: tuple[str, Database]) -> None:
    base, db = server
    bursts = asyncio.run(_same_key_retries(base, 60))
    for burst in bursts:
        assert [r.status_code for r in burst] == [200] * len(burst), [r.text for r in burst]
        bodies = [r.json() for r in burst]
        assert sorted(b["replayed"] for b in bodies) == [False] + [True] * (len(burst) - 1)
        assert len({str(b["decision"]) for b in bodies}) == 1  # the first answer, verbatim
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Order)) == 60
        assert s.scalar(select(func.count()).select_from(Reservation).where(
            Reservation.status == ReservationStatus.open)) == 120
    check_invariants(db)


async def _same_event_twice(base: str, n: int) -> list[list[httpx.Response]]:
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=LIMITS) as c:
        async def burst(i: int) -> list[httpx.Response]:
            # The last unit: a second application would be refused by the stock guard.
            event = {"event_id": f"pos-{i}", "kind": "sale", "node": "ST-0002",
                     "sku": "SKU-A" if i % 2 else "SKU-B", "qty": 1}
            return await asyncio.gather(*(c.post("/v1/inventory/events", json=event)
                                          for _ in range(2 + i % 2)))
        return await asyncio.gather(*(burst(i) for i in range(n)))


def test_concurrent_identical_pos_events_are_recorded_once(server: tuple[str, Database]) -> None:
    base, db = server
    n = 40
    with httpx.Client(base_url=base, timeout=60) as c:
        r = c.post("/v1/inventory/events", json=[
            {"event_id": "open-a", "kind": "receipt", "node": "ST-0002", "sku": "SKU-A",
             "qty": n // 2},
            {"event_id": "open-b", "kind": "receipt", "node": "ST-0002", "sku": "SKU-B",
             "qty": n // 2}])
        assert r.status_code == 200, r.text
    bursts = asyncio.run(_same_event_twice(base, n))
    for burst in bursts:
        assert [r.status_code for r in burst] == [200] * len(burst), [r.text for r in burst]
        assert sorted(r.json()["applied"] for r in burst) == [0] * (len(burst) - 1) + [1]
    with db.session() as s:
        sales = s.scalar(select(func.count()).select_from(StockEvent).where(
            StockEvent.event_id.like("pos-%")))
    assert sales == n
    with db.session() as s:
        left = s.execute(select(StockPosition.on_hand).join(Node).where(
            Node.code == "ST-0002")).scalars().all()
    assert sorted(left) == [0, 0]  # every last unit sold exactly once
    check_invariants(db)


async def _same_feed_key(base: str, n: int) -> list[list[httpx.Response]]:
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=LIMITS) as c:
        async def burst(i: int) -> list[httpx.Response]:
            # The same batch under one Idempotency-Key, the SKUs in opposite orders.
            skus = ["SKU-B", "SKU-A"] if i % 2 else ["SKU-A", "SKU-B"]
            events = [{"event_id": f"f-{i}-{k}", "kind": "sale", "node": "DC-DAL", "sku": sku,
                       "qty": 1} for k, sku in enumerate(skus)]
            head = {"Idempotency-Key": f"feed-{i}"}
            return await asyncio.gather(*(c.post("/v1/inventory/events", json=events,
                                                 headers=head) for _ in range(3)))
        return await asyncio.gather(*(burst(i) for i in range(n)))


def test_concurrent_identical_feed_batches_apply_once(server: tuple[str, Database]) -> None:
    base, db = server
    bursts = asyncio.run(_same_feed_key(base, 30))
    for burst in bursts:
        assert [r.status_code for r in burst] == [200] * 3, [r.text for r in burst]
        assert len({r.text for r in burst}) == 1
    with db.session() as s:
        sales = s.scalar(select(func.count()).select_from(StockEvent).where(
            StockEvent.kind == "sale"))
    assert sales == 60
    check_invariants(db)
