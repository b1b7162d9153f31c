"""POST /v1/allocations: decide, reserve in one transaction, explain, never oversell."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from data.models import Order, Reservation, StockEvent

ORDER = {"order_id": "web-1", "method": "ship", "zip": "72758",
         "lines": [{"sku": "SKU-A", "qty": 2}]}


def count(client, model) -> int:  # type: ignore[no-untyped-def]
    """Rows of a table."""
    with client.database.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def atp(client, sku: str, node: str) -> int:  # type: ignore[no-untyped-def]
    """ATP of one SKU at one node."""
    body = client.get("/v1/availability", params={"sku": sku, "node": node}).json()
    return next(r["atp"] for r in body["nodes"] if r["sku"] == sku)


def test_allocation_reserves_and_explains(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/allocations", json=ORDER)
    assert r.status_code == 200, r.text
    body = r.json()
    d = body["decision"]
    assert body["status"] == "allocated" and not body["dry_run"]
    line = d["lines"][0]
    took = {a["node"]: a["qty"] for a in line["allocations"]}
    assert sum(took.values()) == 2
    # The cost breakdown adds up to the total (to the cent).
    parts = {k: v for k, v in d["cost"].items() if k != "total"}
    assert abs(sum(parts.values()) - d["cost"]["total"]) < 0.01
    assert count(client, Reservation) == len(d["reservations"]) >= 1
    with client.database.session() as s:
        methods = set(s.scalars(select(Reservation.method)))
    assert methods == {a["method"] for a in line["allocations"]}
    node = next(iter(took))
    before = {"ST-0001": 10, "DC-DAL": 50}[node]
    assert atp(client, "SKU-A", node) == before - took[node]


def test_dry_run_quotes_without_writing(client) -> None:  # type: ignore[no-untyped-def]
    events = count(client, StockEvent)
    r = client.post("/v1/allocations", json={**ORDER, "dry_run": True})
    assert r.status_code == 200 and r.json()["status"] == "quoted"
    assert r.json()["decision"]["lines"][0]["allocations"]
    assert count(client, StockEvent) == events and count(client, Order) == 0


def test_idempotency_key_replays_and_order_id_is_unique(client) -> None:  # type: ignore[no-untyped-def]
    hdr = {"Idempotency-Key": "chk-web-1"}
    first = client.post("/v1/allocations", json=ORDER, headers=hdr).json()
    events = count(client, StockEvent)
    again = client.post("/v1/allocations", json=ORDER, headers=hdr).json()
    assert again["replayed"] and again["decision"] == first["decision"]
    assert count(client, StockEvent) == events
    dup = client.post("/v1/allocations", json=ORDER)
    assert dup.status_code == 409 and "allocated already" in dup.json()["detail"]


@pytest.mark.parametrize(("patch", "needle"), [
    ({"lines": [{"sku": "SKU-NOPE", "qty": 1}]}, "unknown SKU(s): SKU-NOPE"),
    ({"lines": [{"sku": "SKU-A", "qty": 0}]}, "greater than 0"),
    ({"lines": []}, "at least 1"),
    ({"method": "pickup"}, "needs pickup_store"),
    ({"method": "pickup", "pickup_store": "DC-DAL"}, "not a click-and-collect store"),
    ({"zip": None}, "needs zip"),
    ({"zip": "00000"}, "ZIP"),
    ({"lines": [{"sku": "SKU-A", "qty": 1}] * 201}, "at most 200"),
])
def test_bad_orders_are_problems_and_write_nothing(client, patch, needle) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/allocations", json={**ORDER, **patch})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert needle in r.json()["detail"]
    assert count(client, Order) == 0 and count(client, Reservation) == 0


def test_pickup_today_comes_from_the_shelf(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # A transfer takes days: a pickup wanted today can only come off the store's own shelf.
    # The clock is pinned to mid-morning: late in the UTC day a shelf pick (ready two hours
    # after the order) is rightly promised for tomorrow.
    morning = dt.datetime.now(dt.UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    monkeypatch.setattr("fulfilment.allocations.utcnow", lambda: morning)
    today = morning.date().isoformat()
    r = client.post("/v1/allocations", json={
        **ORDER, "order_id": "cc-1", "method": "pickup", "pickup_store": "ST-0001",
        "zip": None, "constraints": {"deliver_by": today}})
    assert r.status_code == 200, r.text
    alloc = r.json()["decision"]["lines"][0]["allocations"]
    assert alloc == [{"node": "ST-0001", "qty": 2, "method": "pickup_from_shelf"}]


def test_pickup_late_in_the_day_is_promised_tomorrow(client, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Ready two hours after an order at 23:00 UTC is tomorrow: a pickup due today is refused.
    late = dt.datetime.now(dt.UTC).replace(hour=23, minute=0, second=0, microsecond=0)
    monkeypatch.setattr("fulfilment.allocations.utcnow", lambda: late)
    r = client.post("/v1/allocations", json={
        **ORDER, "order_id": "cc-late", "method": "pickup", "pickup_store": "ST-0001",
        "zip": None, "constraints": {"deliver_by": late.date().isoformat()}})
    assert r.status_code == 200, r.text
    line = r.json()["decision"]["lines"][0]
    assert line["allocations"] == [] and line["unfilled_reason"] == "deadline"


def test_sixteen_concurrent_orders_never_oversell(client) -> None:  # type: ignore[no-untyped-def]
    # SKU-B: 4 units in the whole network (ST-0002, pickup only): 16 buyers race for them.
    gate = threading.Barrier(16)

    def buy(i: int) -> dict:
        gate.wait()
        return client.post("/v1/allocations", json={
            "order_id": f"race-{i}", "method": "pickup", "pickup_store": "ST-0002",
            "lines": [{"sku": "SKU-B", "qty": 1}]}).json()

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(buy, range(16)))
    filled = sum(sum(a["qty"] for a in r["decision"]["lines"][0]["allocations"])
                 for r in results)
    assert filled == 4
    with client.database.session() as s:
        reserved = s.scalar(select(func.sum(Reservation.qty)))
    assert reserved == 4 and atp(client, "SKU-B", "ST-0002") == 0
