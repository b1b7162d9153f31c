"""Inventory feed and availability over HTTP: idempotent, all-or-nothing, problem+json."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from data.models import StockEvent

EV = {"event_id": "pos-1", "kind": "sale", "node": "ST-0001", "sku": "SKU-A", "qty": 2,
      "occurred_at": "2026-11-23T10:00:00Z", "reference": "ticket-9"}


def ledger_size(client) -> int:  # type: ignore[no-untyped-def]
    """Number of events in the ledger."""
    with client.database.session() as s:
        return s.scalar(select(func.count()).select_from(StockEvent))


def atp(client, sku: str, node: str) -> dict:  # type: ignore[no-untyped-def]
    """The availability row of one SKU at one node."""
    body = client.get("/v1/availability", params={"sku": sku, "node": node}).json()
    return next(r for r in body["nodes"] if r["sku"] == sku)


def test_health_and_catalogue(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/health").json()["status"] == "ok"
    nodes = client.get("/v1/nodes", params={"kind": "store"}).json()
    assert nodes["total"] == 2 and [n["code"] for n in nodes["items"]] == ["ST-0001", "ST-0002"]
    skus = client.get("/v1/skus", params={"limit": 1, "offset": 1}).json()
    assert skus["total"] == 2 and skus["items"][0]["code"] == "SKU-B"


def test_single_event_then_replay_changes_nothing(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/inventory/events", json=EV)
    assert r.status_code == 200 and r.json() == {"applied": 1, "duplicates": 0}
    size = ledger_size(client)
    again = client.post("/v1/inventory/events", json=EV)
    assert again.json() == {"applied": 0, "duplicates": 1}
    assert ledger_size(client) == size
    assert atp(client, "SKU-A", "ST-0001")["on_hand"] == 8


def test_batch_is_applied_in_event_time_order(client) -> None:  # type: ignore[no-untyped-def]
    # The receipt happened first: in arrival order the sale of 12 would fail.
    events = [
        {**EV, "event_id": "s1", "qty": 12, "occurred_at": "2026-11-23T11:00:00Z"},
        {**EV, "event_id": "r1", "kind": "receipt", "qty": 5,
         "occurred_at": "2026-11-23T09:00:00Z"},
        {**EV, "event_id": "a1", "kind": "adjustment", "qty": -1,
         "occurred_at": "2026-11-23T12:00:00Z"},
    ]
    r = client.post("/v1/inventory/events", json={"events": events})
    assert r.json() == {"applied": 3, "duplicates": 0}
    row = atp(client, "SKU-A", "ST-0001")
    assert row["on_hand"] == 10 + 5 - 12 - 1 and row["shelf"] == 2


def test_sale_beyond_stock_rejects_whole_batch(client) -> None:  # type: ignore[no-untyped-def]
    size = ledger_size(client)
    events = [{**EV, "event_id": "ok-1", "sku": "SKU-A", "qty": 1},
              {**EV, "event_id": "bad-1", "node": "ST-0002", "sku": "SKU-B", "qty": 5}]
    r = client.post("/v1/inventory/events", json=events)
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert "SKU-B at ST-0002" in r.json()["detail"]
    assert ledger_size(client) == size


@pytest.mark.parametrize(("body", "status", "needle"), [
    ({**EV, "sku": "SKU-NOPE"}, 422, "unknown SKU(s): SKU-NOPE"),
    ({**EV, "node": "ST-404"}, 422, "unknown node(s): ST-404"),
    ({**EV, "qty": 0}, 422, "expected qty > 0"),
    ({**EV, "qty": -3}, 422, "expected qty > 0"),
    ({**EV, "qty": 1.5}, 422, "valid integer"),
    ({**EV, "kind": "adjustment", "qty": 0}, 422, "nonzero"),
    ({**EV, "kind": "teleport"}, 422, "kind"),
    ({**EV, "occurred_at": "2026-11-23T10:00:00"}, 422, "time zone"),
    ({"events": []}, 422, "at least 1"),
    ({"events": [{**EV, "event_id": f"e{i}"} for i in range(51)]}, 413, "limit of 50"),
    ({"events": [EV, EV]}, 422, "repeat within the batch"),
])
def test_bad_input_is_a_problem_and_writes_nothing(client, body, status, needle) -> None:  # type: ignore[no-untyped-def]
    size = ledger_size(client)
    r = client.post("/v1/inventory/events", json=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == status and needle in problem["detail"]
    assert "Traceback" not in r.text
    assert ledger_size(client) == size


def test_malformed_json_and_oversized_body(client) -> None:  # type: ignore[no-untyped-def]
    size = ledger_size(client)
    r = client.post("/v1/inventory/events", content=b'{"event_id": "x",',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422 and "malformed JSON" in r.json()["detail"]
    big = b'{"events": [' + b",".join([b'{"event_id": "%d"}' % i for i in range(2000)]) + b"]}"
    r = client.post("/v1/inventory/events", content=big,
                    headers={"content-type": "application/json"})
    assert r.status_code == 413 and "split the batch" in r.json()["detail"]
    assert ledger_size(client) == size


def test_availability_network_and_node_views(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get("/v1/availability", params={"sku": ["SKU-A", "SKU-B"]}).json()
    assert body["nodes"] == []  # the product-page form: network totals only
    body = client.get("/v1/availability",
                      params={"sku": ["SKU-A", "SKU-B"], "nodes": True}).json()
    # ST-0002 does not ship from store: its SKU-B counts for pickup only.
    assert body["network"]["SKU-A"] == {"ship": 60, "pickup": 10, "on_hand": 60}
    assert body["network"]["SKU-B"] == {"ship": 0, "pickup": 4, "on_hand": 4}
    assert {r["node"] for r in body["nodes"]} == {"DC-DAL", "ST-0001", "ST-0002"}
    dc = atp(client, "SKU-A", "DC-DAL")
    assert dc["shelf"] == 0 and dc["ships"] and not dc["pickup"]


def test_availability_bad_queries(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/v1/availability").status_code == 422
    r = client.get("/v1/availability", params={"sku": "SKU-A", "node": "NOPE"})
    assert r.status_code == 422 and "unknown node" in r.json()["detail"]
    r = client.get("/v1/availability", params={"sku": "SKU-A", "zip": "7a"})
    assert r.status_code == 422


def test_idempotency_key_replays_the_first_outcome(client) -> None:  # type: ignore[no-untyped-def]
    hdr = {"Idempotency-Key": "feed-2026-11-23-0001"}
    first = client.post("/v1/inventory/events", json={**EV, "event_id": "k1"}, headers=hdr)
    size = ledger_size(client)
    again = client.post("/v1/inventory/events", json={**EV, "event_id": "k1"}, headers=hdr)
    assert first.json() == again.json() == {"applied": 1, "duplicates": 0}
    assert ledger_size(client) == size
    other = client.post("/v1/inventory/events", json={**EV, "event_id": "k2"}, headers=hdr)
    assert other.status_code == 422 and "different request" in other.json()["detail"]
    assert ledger_size(client) == size
