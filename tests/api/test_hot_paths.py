"""The hot paths (api/hot_paths.py) answer exactly as the FastAPI routes do."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from api.auth.service import create_key
from api.main import create_app
from api.settings import Settings
from data.db import Database
from tests.data.test_ledger_properties import check_invariants
from tests.factories import seed_tiny

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

STOCK = {("ST-0001", "SKU-A"): 10, ("DC-DAL", "SKU-A"): 50, ("ST-0002", "SKU-B"): 4}


@pytest.fixture
def pair(database: Database) -> Iterator[tuple[TestClient, TestClient, dict[str, str]]]:
    """Two apps on one database, hot paths on and off, auth on; keys by scope."""
    seed_tiny(database, STOCK)
    with database.transaction() as s:
        keys = {sc: create_key(s, [sc], sc)[0] for sc in ("orders:write", "ops:read")}
    apps = [create_app(Settings(database_url=database.url, auth_required=True,
                                sweep_interval_seconds=0, hot_paths=hot), db=database)
            for hot in (True, False)]
    with TestClient(apps[0]) as hot, TestClient(apps[1]) as cold:
        yield hot, cold, keys


def _same(a: Any, b: Any) -> None:
    assert (a.status_code, a.headers["content-type"]) == (b.status_code, b.headers["content-type"])


def _strip(body: dict[str, Any]) -> dict[str, Any]:
    """An allocation answer without what differs between two orders: ids, timings."""
    d = dict(body["decision"])
    d.pop("reservations")
    d["solver"] = {k: v for k, v in d["solver"].items() if "seconds" not in k}
    d.pop("order")
    return {**body, "order_id": None, "decision": d}


def test_availability_reads_match(pair) -> None:  # type: ignore[no-untyped-def]
    hot, cold, keys = pair
    ok = {"X-API-Key": keys["ops:read"]}
    near = [("zip", "72756")]
    for params, extra in ((["SKU-A"], []), (["SKU-A", "SKU-B"], []), (["SKU-B", "SKU-B"], []),
                          (["NOPE"], []), ([""], []), (["SKU-A", "SKU-B"], [("node", "ST-0001")]),
                          (["SKU-A"], [("node", "NOPE")]), (["SKU-A", "SKU-B"], near),
                          (["SKU-B"], [*near, ("radius_miles", "500")]),
                          (["SKU-A"], [("zip", "00000")]), (["SKU-A"], [("zip", "7a")]),
                          (["SKU-A"], [("radius_miles", "0")])):
        q = [("sku", p) for p in params] + extra
        a, b = hot.get("/v1/availability", params=q, headers=ok), \
            cold.get("/v1/availability", params=q, headers=ok)
        _same(a, b)
        assert a.json() == b.json()
        if extra == near:  # stores near Rogers, AR, nearest first, with their distance
            rows = a.json()["nodes"]
            assert rows and rows[0]["node"] == "ST-0001" and rows[0]["distance_miles"] < 10
    # Whatever the hot path does not serve, FastAPI answers the same way for both.
    for params, headers, status in (
            ([("sku", "SKU-A"), ("nodes", "true")], ok, 200),
            ([("sku", "SKU-A")], {}, 401),
            ([("sku", "SKU-A")], {"X-API-Key": "omni_nope_nope"}, 401),
            ([], ok, 422)):
        a = hot.get("/v1/availability", params=params, headers=headers)
        b = cold.get("/v1/availability", params=params, headers=headers)
        _same(a, b)
        assert a.status_code == status and a.json() == b.json()
    assert hot.get("/v1/availability", params=[("sku", "SKU-A")],
                   headers={"X-API-Key": keys["orders:write"]}).status_code == 200


def test_allocations_match(pair) -> None:  # type: ignore[no-untyped-def]
    hot, cold, keys = pair
    w = {"X-API-Key": keys["orders:write"]}
    orders = [
        {"zip": "72756", "lines": [{"sku": "SKU-A", "qty": 2}]},
        {"zip": "75201", "lines": [{"sku": "SKU-A", "qty": 1}, {"sku": "SKU-B", "qty": 1}]},
        {"method": "pickup", "pickup_store": "ST-0001", "lines": [{"sku": "SKU-A", "qty": 1}]},
        {"zip": "75201", "lines": [{"sku": "SKU-A", "qty": 1}], "dry_run": True},
    ]
    for k, o in enumerate(orders):
        a = hot.post("/v1/allocations", json={"order_id": f"h{k}", **o}, headers=w)
        b = cold.post("/v1/allocations", json={"order_id": f"c{k}", **o}, headers=w)
        _same(a, b)
        assert a.status_code == 200, a.text
        assert _strip(a.json()) == _strip(b.json())
    # Refusals: FastAPI's (422 with the field list, 401, 403) or the same domain problem.
    bad = [({"order_id": "x1", "zip": "75201", "lines": []}, w, 422),
           ({"order_id": "x2", "zip": "75201", "lines": [{"sku": "NOPE", "qty": 1}]}, w, 422),
           ({"order_id": "h0", "zip": "75201", "lines": [{"sku": "SKU-A", "qty": 1}]}, w, 409),
           ({"order_id": "x3", "zip": "75201", "lines": [{"sku": "SKU-A", "qty": 1}]}, {}, 401),
           ({"order_id": "x4", "zip": "75201", "lines": [{"sku": "SKU-A", "qty": 1}]},
            {"X-API-Key": keys["ops:read"]}, 403)]
    for body, headers, status in bad:
        a = hot.post("/v1/allocations", json=body, headers=headers)
        b = cold.post("/v1/allocations", json={**body, "order_id": body["order_id"]
                                               if status == 409 else body["order_id"] + "c"},
                      headers=headers)
        _same(a, b)
        assert a.status_code == status, a.text
        assert {k: v for k, v in a.json().items() if k != "detail"} == \
            {k: v for k, v in b.json().items() if k != "detail"}
    check_invariants(hot.app.state.db)


def test_idempotent_replay_on_the_hot_path(pair) -> None:  # type: ignore[no-untyped-def]
    hot, _, keys = pair
    h = {"X-API-Key": keys["orders:write"], "Idempotency-Key": "k-1"}
    body = {"order_id": "i1", "zip": "75201", "lines": [{"sku": "SKU-A", "qty": 1}]}
    first = hot.post("/v1/allocations", json=body, headers=h).json()
    again = hot.post("/v1/allocations", json=body, headers=h).json()
    assert again["replayed"] is True and {**again, "replayed": False} == first
    other = hot.post("/v1/allocations", json={**body, "order_id": "i2"}, headers=h)
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-conflict"
