"""Order life cycle end to end: every state, reject -> re-route, pickup expiry, cancel."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from allocation.errors import InvalidState
from allocation.lifecycle import TRANSITIONS, Action, LineState, check, order_status, sourced_state
from data.models import EventKind, Node, Sku, StockEvent, StockPosition, utcnow
from fulfilment.orders import sweep_pickups
from tests.data.test_ledger_properties import check_invariants

SHIP = {"order_id": "web-1", "method": "ship", "zip": "72758",
        "lines": [{"sku": "SKU-A", "qty": 2}]}
PICKUP = {"order_id": "cc-1", "method": "pickup", "pickup_store": "ST-0002",
          "lines": [{"sku": "SKU-B", "qty": 2}]}


def stock(client, node: str, sku: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """(on_hand, reserved) of one SKU at one node."""
    with client.database.session() as s:
        row = s.execute(select(StockPosition.on_hand, StockPosition.reserved)
                        .join(Node, Node.id == StockPosition.node_id)
                        .join(Sku, Sku.id == StockPosition.sku_id)
                        .where(Node.code == node, Sku.code == sku)).one()
    return int(row[0]), int(row[1])


def allocate(client, order: dict) -> dict:  # type: ignore[no-untyped-def]
    """Allocate an order and return GET /v1/orders/{id}."""
    r = client.post("/v1/allocations", json=order)
    assert r.status_code == 200, r.text
    got = client.get(f"/v1/orders/{order['order_id']}")
    assert got.status_code == 200, got.text
    return got.json()


def act(client, order_id: str, action: str, line: int | None = 1, status: int = 200,  # type: ignore[no-untyped-def]
        **body: object) -> dict:
    """POST a transition and check its status; the response body."""
    url = f"/v1/orders/{order_id}" + (f"/lines/{line}" if line else "") + f"/{action}"
    r = client.post(url, json=body or None)
    assert r.status_code == status, r.text
    check_invariants(client.database)
    return r.json()


def tasks(client, node: str) -> dict:  # type: ignore[no-untyped-def]
    """The node's task lists as {list: [(order, line)]}."""
    r = client.get(f"/v1/nodes/{node}/tasks")
    assert r.status_code == 200, r.text
    return {k: [(t["order_id"], t["line_no"]) for t in v] for k, v in r.json().items()
            if isinstance(v, list)}


# ---------------------------------------------------------------- the pure table


def test_state_table_is_closed_and_final_states_stay_final() -> None:
    for action, (starts, end) in TRANSITIONS.items():
        assert starts and (end is None or end in LineState), action
    for final in ("shipped", "collected", "expired", "cancelled"):
        for action in Action:
            with pytest.raises(InvalidState):
                check(final, action, "pickup" if action in {Action.collected, Action.expire,
                                                            Action.ready_for_pickup} else "ship")
    assert sourced_state(0, 3) == "unfilled" and sourced_state(2, 3) == "partially_allocated"
    assert order_status(["shipped", "cancelled"]) == "fulfilled"
    assert order_status(["expired", "cancelled"]) == "cancelled"


# ---------------------------------------------------------------- ship-to-home


def test_ship_order_walks_allocated_accepted_picked_shipped(client) -> None:  # type: ignore[no-untyped-def]
    order = allocate(client, SHIP)
    line = order["lines"][0]
    assert order["status"] == "allocated" and line["state"] == "allocated"
    (alloc,) = line["allocations"]
    node, before = alloc["node"], stock(client, alloc["node"], "SKU-A")
    assert alloc["status"] == "open" and alloc["qty"] == 2 and alloc["method"]
    assert ("web-1", 1) in tasks(client, node)["to_accept"]
    assert act(client, "web-1", "accept")["lines"][0]["state"] == "accepted"
    assert ("web-1", 1) in tasks(client, node)["to_pick"]
    act(client, "web-1", "picked")
    assert ("web-1", 1) in tasks(client, node)["to_ship"]
    act(client, "web-1", "shipped", status=422)  # carrier and tracking are required
    out = act(client, "web-1", "shipped", carrier="UPS", tracking="1Z999")
    assert out["status"] == "fulfilled" and out["lines"][0]["state"] == "shipped"
    assert out["lines"][0]["allocations"][0]["status"] == "consumed"
    assert stock(client, node, "SKU-A") == (before[0] - 2, before[1] - 2)
    steps = [(h["action"], h["to_state"]) for h in out["history"]]
    assert steps == [("allocate", "allocated"), ("accept", "accepted"), ("picked", "picked"),
                     ("shipped", "shipped")]
    assert out["history"][-1]["detail"]["tracking"] == "1Z999"
    assert all(dt.datetime.fromisoformat(h["at"]).tzinfo is not None for h in out["history"])
    assert tasks(client, node) == {k: [] for k in tasks(client, node)}


def test_illegal_transitions_are_409_problems_and_write_nothing(client) -> None:  # type: ignore[no-untyped-def]
    allocate(client, SHIP)
    r = client.post("/v1/orders/web-1/lines/1/shipped", json={"carrier": "UPS", "tracking": "x"})
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    assert "allocated" in r.json()["detail"] and r.json()["state"] == "allocated"
    act(client, "web-1", "ready_for_pickup", status=409)  # a ship order is never picked up
    act(client, "web-1", "accept")
    act(client, "web-1", "accept", status=409)
    assert client.get("/v1/orders/web-1").json()["lines"][0]["state"] == "accepted"
    act(client, "nope", "accept", status=404)
    act(client, "web-1", "accept", line=9, status=404)
    act(client, "web-1", "reject", status=422)  # a reject needs a reason
    act(client, "web-1", "explode", status=422)
    assert client.get("/v1/orders/nope").status_code == 404


# ---------------------------------------------------------------- click-and-collect


def test_pickup_walks_to_collected(client) -> None:  # type: ignore[no-untyped-def]
    order = allocate(client, PICKUP)
    assert order["pickup_store"] == "ST-0002"
    assert order["lines"][0]["allocations"][0]["method"] == "pickup_from_shelf"
    for action in ("accept", "picked"):
        act(client, "cc-1", action, line=None)
    assert ("cc-1", 1) in tasks(client, "ST-0002")["to_stage"]
    act(client, "cc-1", "shipped", carrier="UPS", tracking="x", status=409)
    act(client, "cc-1", "ready_for_pickup", line=None)
    waiting = client.get("/v1/nodes/ST-0002/tasks").json()["pickups_waiting"]
    assert [(w["order_id"], w["qty"]) for w in waiting] == [("cc-1", 2)]
    ready = dt.datetime.fromisoformat(waiting[0]["ready_at"])
    assert dt.datetime.fromisoformat(waiting[0]["expires_at"]) - ready == dt.timedelta(days=5)
    out = act(client, "cc-1", "collected", line=None)
    assert out["status"] == "fulfilled" and out["lines"][0]["state"] == "collected"
    assert stock(client, "ST-0002", "SKU-B") == (2, 0)


def test_uncollected_pickup_expires_and_stock_returns(client) -> None:  # type: ignore[no-untyped-def]
    allocate(client, PICKUP)
    for action in ("accept", "picked", "ready_for_pickup"):
        act(client, "cc-1", action)
    assert stock(client, "ST-0002", "SKU-B") == (4, 2)
    db = client.database
    assert sweep_pickups(db, 5, now=utcnow() + dt.timedelta(days=4)) == []
    done = sweep_pickups(db, 5, now=utcnow() + dt.timedelta(days=5, minutes=1))
    assert done == [{"order_id": "cc-1", "line_no": 1}]
    check_invariants(db)
    assert stock(client, "ST-0002", "SKU-B") == (4, 0)
    out = client.get("/v1/orders/cc-1").json()
    assert out["lines"][0]["state"] == "expired" and out["status"] == "cancelled"
    assert out["history"][-1]["actor"] == "pickup sweeper"
    act(client, "cc-1", "collected", status=409)  # too late
    assert sweep_pickups(db, 5, now=utcnow() + dt.timedelta(days=9)) == []


# ---------------------------------------------------------------- reject and re-route


def test_reject_reroutes_to_the_next_best_node_and_books_lost_stock(client) -> None:  # type: ignore[no-untyped-def]
    order = allocate(client, SHIP)
    first = order["lines"][0]["allocations"][0]["node"]
    on_hand = stock(client, first, "SKU-A")[0]
    act(client, "web-1", "accept")
    out = act(client, "web-1", "reject", reason="not_found")
    line = out["lines"][0]
    assert line["state"] == "allocated"
    held = [a for a in line["allocations"] if a["status"] == "open"]
    assert held and all(a["node"] != first for a in held) and sum(a["qty"] for a in held) == 2
    assert [a["status"] for a in line["allocations"] if a["node"] == first] == ["released"]
    # The two units the node could not find leave its books as an adjustment.
    assert stock(client, first, "SKU-A") == (on_hand - 2, 0)
    with client.database.session() as s:
        adj = s.scalars(select(StockEvent.delta_on_hand).where(
            StockEvent.kind == EventKind.adjustment)).all()
    assert adj == [-2]
    last = out["history"][-1]
    assert last["action"] == "reject" and last["node"] == first
    assert last["detail"]["reason"] == "not_found" and last["detail"]["rerouted_to"]
    second = held[0]["node"]
    assert ("web-1", 1) in tasks(client, second)["to_accept"]
    assert ("web-1", 1) not in tasks(client, first)["to_accept"]
    # no_capacity: the stock is there, so nothing is written off.
    out = act(client, "web-1", "reject", reason="no_capacity")
    assert stock(client, second, "SKU-A")[1] == 0
    assert len([e for e in out["history"] if e["action"] == "reject"]) == 2
    act(client, "web-1", "accept")
    act(client, "web-1", "picked")
    out = act(client, "web-1", "shipped", carrier="FedEx", tracking="7")
    assert out["status"] == "fulfilled"


def test_reject_with_no_other_source_leaves_the_line_unfilled(client) -> None:  # type: ignore[no-untyped-def]
    allocate(client, PICKUP)  # SKU-B is only at ST-0002
    out = act(client, "cc-1", "reject", reason="damaged")
    assert out["lines"][0]["state"] == "unfilled" and out["status"] == "open"
    assert stock(client, "ST-0002", "SKU-B") == (2, 0)
    act(client, "cc-1", "accept", status=409)
    out = act(client, "cc-1", "cancel", line=None)
    assert out["status"] == "cancelled"


# ---------------------------------------------------------------- cancel


def test_cancel_order_or_line_returns_the_stock(client) -> None:  # type: ignore[no-untyped-def]
    two = {**SHIP, "order_id": "web-2", "lines": [{"sku": "SKU-A", "qty": 1},
                                                  {"sku": "SKU-A", "qty": 1}]}
    allocate(client, two)
    reserved = sum(stock(client, n, "SKU-A")[1] for n in ("ST-0001", "DC-DAL"))
    assert reserved == 2
    act(client, "web-2", "accept", line=None)
    out = act(client, "web-2", "cancel", line=2)
    assert [ln["state"] for ln in out["lines"]] == ["accepted", "cancelled"]
    # Lines of one SKU hold reservations of their own: cancelling one frees only its unit.
    assert [[a["qty"] for a in ln["allocations"]] for ln in out["lines"]] == [[1], [1]]
    assert sum(stock(client, n, "SKU-A")[1] for n in ("ST-0001", "DC-DAL")) == 1
    act(client, "web-2", "cancel", line=2, status=409)
    out = act(client, "web-2", "cancel", line=None)
    assert out["status"] == "cancelled"
    assert all(a["status"] != "open" for ln in out["lines"] for a in ln["allocations"])
    assert sum(stock(client, n, "SKU-A")[1] for n in ("ST-0001", "DC-DAL")) == 0
    act(client, "web-2", "cancel", line=None, status=409)


def test_racing_transitions_on_one_line_have_one_winner(client) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    allocate(client, SHIP)
    act(client, "web-1", "accept")
    act(client, "web-1", "picked")
    body = {"carrier": "UPS", "tracking": "1Z"}

    def go(k: int) -> int:
        action = "cancel" if k % 2 else "shipped"
        return client.post(f"/v1/orders/web-1/lines/1/{action}",
                           json=None if k % 2 else body).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(go, range(8)))
    assert sorted(codes).count(200) == 1 and set(codes) <= {200, 409}, codes
    check_invariants(client.database)
    out = client.get("/v1/orders/web-1").json()
    assert out["lines"][0]["state"] in {"shipped", "cancelled"}
    assert [a["status"] for a in out["lines"][0]["allocations"]] in (["consumed"], ["released"])
