"""API keys and scopes: every endpoint x every scope; a store key sees only its own store."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from api.auth.service import create_key, revoke_key
from api.main import create_app
from api.settings import Settings
from data.db import Database
from data.models import ApiKey, Order, OrderEvent, Reservation, StockEvent
from tests.factories import seed_tiny

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SCOPES = ["orders:write", "inventory:write", "store:act", "planner", "ops:read", "admin"]
ANY = {"orders:write", "inventory:write", "store:act", "planner", "ops:read"}
_ids = itertools.count()

# (method, path, body, scopes that may call it); admin may call everything.
ENDPOINTS: list[tuple[str, str, object, set[str]]] = [
    ("GET", "/v1/nodes", None, ANY),
    ("GET", "/v1/skus", None, ANY),
    ("GET", "/v1/availability?sku=SKU-A", None, ANY),
    ("POST", "/v1/inventory/events", "event", {"inventory:write"}),
    ("POST", "/v1/allocations", {"order_id": "q-1", "zip": "72758", "dry_run": True,
                                 "lines": [{"sku": "SKU-A", "qty": 1}]}, {"orders:write"}),
    ("GET", "/v1/forecasts?sku=SKU-A", None, {"planner", "ops:read"}),
    ("GET", "/v1/orders/nope", None, {"orders:write", "store:act", "ops:read"}),
    ("GET", "/v1/nodes/ST-0001/tasks", None, {"store:act", "ops:read"}),
    ("POST", "/v1/orders/nope/accept", None, {"orders:write", "store:act"}),
    ("POST", "/v1/orders/nope/lines/1/reject", {"reason": "damaged"},
     {"orders:write", "store:act"}),
    ("POST", "/v1/orders/nope/lines/1/picked", None, {"orders:write", "store:act"}),
    ("POST", "/v1/orders/nope/cancel", None, {"orders:write"}),
    ("POST", "/v1/orders/nope/lines/1/cancel", None, {"orders:write"}),
    ("GET", "/metrics", None, {"ops:read"}),
]


@pytest.fixture
def authed(database: Database) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client with auth on, and a token per scope (store:act keys for ST-0001 and ST-0002)."""
    seed_tiny(database, {("ST-0001", "SKU-A"): 10, ("DC-DAL", "SKU-A"): 50,
                         ("ST-0002", "SKU-B"): 4})
    tokens = {}
    with database.transaction() as s:
        for scope in SCOPES:
            store = "ST-0001" if scope == "store:act" else None
            tokens[scope], _ = create_key(s, [scope], scope, store)
        tokens["store:ST-0002"], _ = create_key(s, ["store:act"], "Harrison", "ST-0002")
    settings = Settings(database_url=database.url, auth_required=True, sweep_interval_seconds=0)
    with TestClient(create_app(settings, db=database)) as c:
        c.database = database  # type: ignore[attr-defined]
        yield c, tokens


def _send(client: TestClient, method: str, path: str, body: object, token: str | None):  # type: ignore[no-untyped-def]
    if body == "event":
        body = {"event_id": f"ev-{next(_ids)}", "kind": "receipt", "node": "DC-DAL",
                "sku": "SKU-A", "qty": 1}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.request(method, path, json=body, headers=headers)


def _written(db: Database) -> tuple[int, ...]:
    with db.session() as s:
        return tuple(s.scalar(select(func.count()).select_from(m))
                     for m in (StockEvent, Order, OrderEvent, Reservation))


def test_every_endpoint_checks_every_scope(authed) -> None:  # type: ignore[no-untyped-def]
    client, tokens = authed
    for (method, path, body, allowed), scope in itertools.product(ENDPOINTS, SCOPES):
        before = _written(client.database)
        r = _send(client, method, path, body, tokens[scope])
        where = f"{method} {path} as {scope}: {r.status_code} {r.text[:200]}"
        if scope == "admin" or scope in allowed:
            assert r.status_code not in (401, 403), where
        else:
            assert r.status_code == 403, where
            assert r.headers["content-type"] == "application/problem+json", where
            assert _written(client.database) == before, where


def test_no_or_bad_key_is_401_and_writes_nothing(authed) -> None:  # type: ignore[no-untyped-def]
    client, tokens = authed
    before = _written(client.database)
    bad = ["omni_000000000000_nope", tokens["admin"][:-2] + "xx", "garbage"]
    for (method, path, body, _), token in itertools.product(ENDPOINTS, [None, *bad]):
        r = _send(client, method, path, body, token)
        assert r.status_code == 401, f"{method} {path}: {r.status_code}"
        assert r.json()["type"] == "/problems/unauthorized"
    assert _written(client.database) == before
    assert client.get("/health").status_code == 200  # probes need no key
    assert client.get("/v1/nodes", headers={"X-API-Key": tokens["ops:read"]}).status_code == 200
    with client.database.transaction() as s:
        assert revoke_key(s, tokens["ops:read"].split("_")[1])
    assert client.get("/v1/nodes", headers={"X-API-Key": tokens["ops:read"]}).status_code == 401


def test_keys_are_stored_hashed(authed) -> None:  # type: ignore[no-untyped-def]
    client, tokens = authed
    with client.database.session() as s:
        stored = {h for (h,) in s.execute(select(ApiKey.secret_hash))}
    assert not any(t in h or h in t for t in tokens.values() for h in stored)
    assert all(len(h) == 64 for h in stored)


def test_a_store_key_sees_and_acts_on_its_own_store_only(authed) -> None:  # type: ignore[no-untyped-def]
    client, tokens = authed
    h = {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}
    order = {"order_id": "cc-1", "method": "pickup", "pickup_store": "ST-0002",
             "lines": [{"sku": "SKU-B", "qty": 2}]}
    assert client.post("/v1/allocations", json=order, headers=h["orders:write"]).status_code == 200
    rogers, harrison = h["store:act"], h["store:ST-0002"]
    before = _written(client.database)
    for method, path, body in [("GET", "/v1/orders/cc-1", None),
                               ("POST", "/v1/orders/cc-1/accept", None),
                               ("POST", "/v1/orders/cc-1/lines/1/accept", None),
                               ("POST", "/v1/orders/cc-1/lines/1/reject",
                                {"reason": "not_found"}),
                               ("GET", "/v1/nodes/ST-0002/tasks", None)]:
        r = client.request(method, path, json=body, headers=rogers)
        assert r.status_code == 403, f"{method} {path}: {r.status_code}"
    assert _written(client.database) == before
    assert client.get("/v1/nodes/ST-0001/tasks", headers=rogers).json()["to_accept"] == []
    tasks = client.get("/v1/nodes/ST-0002/tasks", headers=harrison).json()
    assert [t["order_id"] for t in tasks["to_accept"]] == ["cc-1"]
    assert client.get("/v1/orders/cc-1", headers=harrison).status_code == 200
    for action in ("accept", "picked", "ready_for_pickup", "collected"):
        r = client.post(f"/v1/orders/cc-1/lines/1/{action}", headers=harrison)
        assert r.status_code == 200, r.text
    out = r.json()
    assert out["status"] == "fulfilled"
    assert {e["actor"] for e in out["history"][1:]} == {"Harrison"}
    assert {e["node"] for e in out["history"][1:]} == {"ST-0002"}
    # A store cannot cancel on the customer's behalf: that is the order system's call.
    assert client.post("/v1/orders/cc-1/cancel", headers=harrison).status_code == 403


def test_dashboard_sign_in_takes_an_ops_read_key(authed) -> None:  # type: ignore[no-untyped-def]
    client, tokens = authed
    r = client.post("/dashboard/login", data={"key": tokens["ops:read"]}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post("/dashboard/login", data={"key": tokens["planner"]}, follow_redirects=False)
    assert r.status_code == 401


PROBES = ("/health", "/live", "/ready")


def test_no_route_is_open_without_a_key(authed) -> None:  # type: ignore[no-untyped-def]
    """Every route in the OpenAPI schema but the probes refuses a request without a key."""
    client, _ = authed
    before = _written(client.database)
    paths = client.app.openapi()["paths"]
    seen = 0
    for path, ops in paths.items():
        if path in PROBES:
            continue
        url = path.replace("{", "").replace("}", "")  # any value will do for path parameters
        for method in ops:
            r = client.request(method.upper(), url)
            assert r.status_code == 401, f"{method.upper()} {path}: {r.status_code}"
            seen += 1
    assert seen >= len(ENDPOINTS)
    assert _written(client.database) == before


def test_a_store_that_lost_a_race_on_its_line_gets_409_not_403(authed) -> None:  # type: ignore[no-untyped-def]
    client, tokens = authed
    h = {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}
    rogers, harrison = h["store:act"], h["store:ST-0002"]
    drain = {"event_id": "count-1", "kind": "adjustment", "node": "DC-DAL", "sku": "SKU-A",
             "qty": -50}  # only the store can ship SKU-A now
    assert client.post("/v1/inventory/events", json=drain,
                       headers=h["inventory:write"]).status_code == 200
    order = {"order_id": "sfs-1", "zip": "72756", "lines": [{"sku": "SKU-A", "qty": 1}]}
    r = client.post("/v1/allocations", json=order, headers=h["orders:write"])
    assert r.json()["decision"]["lines"][0]["allocations"][0]["node"] == "ST-0001"
    # The store rejects; the line is re-routed (nowhere else has it: unfilled). A repeat (a
    # retry, a second associate) finds the line moved on: the key may act, the state moved.
    r = client.post("/v1/orders/sfs-1/lines/1/reject", json={"reason": "no_capacity"},
                    headers=rogers)
    assert r.status_code == 200, r.text
    before = _written(client.database)
    for path, body in [("/v1/orders/sfs-1/lines/1/reject", {"reason": "no_capacity"}),
                       ("/v1/orders/sfs-1/lines/1/accept", None),
                       ("/v1/orders/sfs-1/accept", None)]:
        r = client.post(path, json=body, headers=rogers)
        assert r.status_code == 409, f"{path}: {r.status_code} {r.text}"
        assert "ST-0001" in r.json()["detail"] and "read the order" in r.json()["detail"]
    assert _written(client.database) == before
    # A store that never held the line is still refused as not allowed.
    assert client.post("/v1/orders/sfs-1/lines/1/accept", headers=harrison).status_code == 403
    # Cancelled by the order system while the store was about to ship: 409 too.
    order = {"order_id": "sfs-2", "zip": "72756", "lines": [{"sku": "SKU-A", "qty": 1}]}
    client.post("/v1/allocations", json=order, headers=h["orders:write"])
    assert client.post("/v1/orders/sfs-2/cancel", headers=h["orders:write"]).status_code == 200
    r = client.post("/v1/orders/sfs-2/lines/1/accept", headers=rogers)
    assert r.status_code == 409, r.text
