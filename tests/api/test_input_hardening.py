"""The HTTP edge refuses what the database cannot hold, with a 4xx problem and no write.

Chunked bodies over the size limit, quantities past the documented maxima, NUL and other
control characters, ids that cannot travel in a URL path: each gets a 4xx
application/problem+json naming what is wrong and the limit, and nothing reaches the
database (on SQLite, which would store it as sent, and on PostgreSQL, which answered 500).
Also: every log line of a request carries that request's id.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from api import validation
from api.observability.logs import JsonFormatter
from api.validation import ID_PATTERN, KEY_PATTERN, MAX_LINE_QTY, MAX_ORDER_UNITS, MAX_QTY
from data.models import (
    IdempotencyKey,
    Order,
    OrderEvent,
    OrderLine,
    Reservation,
    SimulationRun,
    StockEvent,
    StockPosition,
)

LIMIT = 20_000  # max_body_bytes of the `client` fixture
ORDER = {"order_id": "web-1", "method": "ship", "zip": "72758",
         "lines": [{"sku": "SKU-A", "qty": 2}]}
EVENT = {"event_id": "pos-1", "kind": "sale", "node": "ST-0001", "sku": "SKU-A", "qty": 1,
         "occurred_at": "2026-11-23T10:00:00Z", "reference": "ticket-9"}
JSON = {"content-type": "application/json"}


def snapshot(client) -> tuple[Any, ...]:  # type: ignore[no-untyped-def]
    """Everything a request could write: row counts and every stock position."""
    with client.database.session() as s:
        counts = tuple(s.scalar(select(func.count()).select_from(m)) for m in (
            Order, OrderLine, Reservation, OrderEvent, StockEvent, IdempotencyKey,
            SimulationRun))
        stock = s.execute(select(StockPosition.node_id, StockPosition.sku_id,
                                 StockPosition.on_hand, StockPosition.reserved)
                          .order_by(StockPosition.node_id, StockPosition.sku_id)).all()
    return counts, [tuple(r) for r in stock]


def problem_of(r, status: int, *needles: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The problem body of `r`, checked: status, media type, every needle in its detail."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and "Traceback" not in r.text
    for needle in needles:
        assert needle in body["detail"], (needle, body["detail"])
    return body


# ---------------------------------------------------------------- 1. body size, chunked


def _chunks(body: bytes, size: int = 1000) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i:i + size]


def _padded(doc: Any, to: int) -> bytes:
    """`doc` as JSON followed by whitespace up to `to` bytes: valid, and would write."""
    raw = json.dumps(doc).encode()
    return raw + b" " * (to - len(raw))


@pytest.mark.parametrize(("path", "doc"), [("/v1/allocations", ORDER),
                                           ("/v1/inventory/events", EVENT)])
def test_chunked_body_over_the_limit_is_413(client, path, doc) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    # A generator body goes out chunked: no Content-Length for the fast check to read.
    r = client.post(path, content=_chunks(_padded(doc, 3 * LIMIT)), headers=JSON)
    assert "content-length" not in r.request.headers
    assert r.request.headers["transfer-encoding"] == "chunked"
    problem_of(r, 413, f"limit of {LIMIT} bytes", "split the batch")
    assert r.headers["x-request-id"]
    assert snapshot(client) == before
    # Under the limit, a chunked body is served as usual.
    r = client.post(path, content=_chunks(_padded(doc, LIMIT)), headers=JSON)
    assert r.status_code == 200, r.text


def test_content_length_over_the_limit_is_413_before_reading(client) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    r = client.post("/v1/allocations", content=_padded(ORDER, LIMIT + 1), headers=JSON)
    problem_of(r, 413, f"body of {LIMIT + 1} bytes exceeds the limit of {LIMIT} bytes")
    assert snapshot(client) == before


def test_body_limit_stops_reading_a_stream_at_the_limit() -> None:
    """The middleware refuses as soon as the count passes the limit, without reading on."""
    from api.observability.middleware import BodyLimitMiddleware

    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": read < 100}

    async def app(scope: dict, receive: Any, send: Any) -> None:  # reads until the end
        while (await receive()).get("more_body"):
            pass

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/allocations", "query_string": b"",
             "headers": [(b"transfer-encoding", b"chunked")]}
    asyncio.run(BodyLimitMiddleware(app, max_bytes=5_000)(scope, receive, send))
    assert read == 6  # 6,000 bytes passed 5,000: no seventh read
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["type"] == "/problems/too-large"


# ---------------------------------------------------------------- 2. quantities

HUGE = [2**31, 2**63, -2**63]


@pytest.mark.parametrize("qty", [*HUGE, MAX_LINE_QTY + 1])
def test_allocation_line_qty_is_bounded(client, qty) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    r = client.post("/v1/allocations", json={**ORDER, "lines": [{"sku": "SKU-A", "qty": qty}]})
    needle = "greater than 0" if qty < 0 else f"less than or equal to {MAX_LINE_QTY}"
    body = problem_of(r, 422, "lines.0.qty", needle)
    assert body["errors"][0]["field"] == "lines.0.qty"
    assert snapshot(client) == before


def test_order_total_is_bounded(client) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    n = MAX_ORDER_UNITS // MAX_LINE_QTY + 1
    r = client.post("/v1/allocations",
                    json={**ORDER, "lines": [{"sku": "SKU-A", "qty": MAX_LINE_QTY}] * n})
    problem_of(r, 422, f"total {n * MAX_LINE_QTY} units",
               f"at most {MAX_ORDER_UNITS}")
    assert snapshot(client) == before


@pytest.mark.parametrize("kind", ["sale", "receipt", "adjustment"])
@pytest.mark.parametrize("qty", [*HUGE, MAX_QTY + 1, -MAX_QTY - 1])
def test_inventory_event_qty_is_bounded(client, kind, qty) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    r = client.post("/v1/inventory/events", json={**EVENT, "kind": kind, "qty": qty})
    bound = (f"less than or equal to {MAX_QTY}" if qty > 0 else
             f"greater than or equal to -{MAX_QTY}")
    problem_of(r, 422, "qty", bound)
    assert snapshot(client) == before


def test_quantities_at_the_limits_are_accepted(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/inventory/events", json={**EVENT, "kind": "receipt", "qty": MAX_QTY})
    assert r.status_code == 200, r.text
    r = client.post("/v1/inventory/events", json={**EVENT, "event_id": "count-1",
                                                  "kind": "adjustment", "qty": -MAX_QTY})
    assert r.status_code == 200, r.text
    r = client.post("/v1/allocations", json={**ORDER, "dry_run": True,
                                             "lines": [{"sku": "SKU-A", "qty": MAX_LINE_QTY}]})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("path", "body", "needle"), [
    ("/v1/allocations", {**ORDER, "constraints": {"max_parcels": 2**63}}, "max_parcels"),
    ("/v1/simulations", {"scenario": "baseline", "seed": 2**31}, "seed"),
    ("/v1/simulations", {"scenario": "baseline", "seed": 2**63}, "seed"),
])
def test_other_counts_are_bounded(client, path, body, needle) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    problem_of(client.post(path, json=body), 422, needle, "less than or equal to")
    assert snapshot(client) == before


def test_forecast_offset_is_bounded(client) -> None:  # type: ignore[no-untyped-def]
    r = client.get("/v1/forecasts", params={"sku": "SKU-A", "offset": 2**63})
    problem_of(r, 422, "offset", "less than or equal to")


# ---------------------------------------------------------------- 3. NUL and control characters

NUL = "\x00"


@pytest.mark.parametrize(("patch", "field"), [
    ({"order_id": f"web{NUL}1"}, "order_id"),
    ({"lines": [{"sku": f"SKU-A{NUL}", "qty": 1}]}, "lines.0.sku"),
    ({"method": "pickup", "pickup_store": f"ST-0001{NUL}", "zip": None}, "pickup_store"),
    ({"idempotency_key": f"k{NUL}1"}, "idempotency_key"),
])
def test_nul_in_an_allocation_is_422(client, patch, field) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    body = problem_of(client.post("/v1/allocations", json={**ORDER, **patch}), 422, field)
    assert body["errors"][0]["field"] == field
    assert snapshot(client) == before


@pytest.mark.parametrize(("patch", "field", "needle"), [
    ({"event_id": f"pos{NUL}1"}, "event_id", "pattern"),
    ({"node": f"ST-0001{NUL}"}, "node", "pattern"),
    ({"sku": f"{NUL}SKU-A"}, "sku", "pattern"),
    ({"reference": f"ticket{NUL}9"}, "reference", "control character U+0000"),
    ({"reference": "ticket\x079"}, "reference", "control character U+0007"),
    ({"reference": "ticket\x9b9"}, "reference", "control character U+009B"),
])
def test_nul_in_an_inventory_event_is_422(client, patch, field, needle) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    r = client.post("/v1/inventory/events", json={"events": [{**EVENT, **patch}]})
    problem_of(r, 422, f"events.0.{field}", needle)
    assert snapshot(client) == before


def test_lone_surrogate_in_text_is_422(client) -> None:  # type: ignore[no-untyped-def]
    # json.loads (FastAPI's parser) lets a lone surrogate through; neither database takes it.
    before = snapshot(client)
    raw = json.dumps({**EVENT, "reference": "x"}).replace('"x"', '"\\ud800"')
    r = client.post("/v1/inventory/events", content=raw, headers=JSON)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert snapshot(client) == before


@pytest.mark.parametrize(("patch", "field"), [
    ({"note": f"late{NUL}"}, "note"), ({"carrier": f"UPS{NUL}"}, "carrier"),
    ({"tracking": f"1Z{NUL}"}, "tracking"), ({"node": f"DC-DAL{NUL}"}, "node"),
])
def test_nul_in_a_transition_is_422(client, patch, field) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/allocations", json=ORDER).status_code == 200
    before = snapshot(client)
    r = client.post("/v1/orders/web-1/cancel", json=patch)
    problem_of(r, 422, field)
    assert snapshot(client) == before
    assert client.get("/v1/orders/web-1").json()["status"] == "allocated"
    # Free text may carry tabs and newlines.
    r = client.post("/v1/orders/web-1/cancel", json={"note": "customer called\n\tno longer"})
    assert r.status_code == 200, r.text


def test_nul_in_a_simulation_is_422(client) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    r = client.post("/v1/simulations", json={"toml": f"name = 'x{NUL}'"})
    problem_of(r, 422, "toml", "U+0000")
    assert snapshot(client) == before


@pytest.mark.parametrize(("method", "url"), [
    ("GET", "/v1/orders/web%001"),
    ("POST", "/v1/orders/web-1%00/cancel"),
    ("POST", "/v1/orders/web-1/lines/1/cancel?x=%00"),
    ("GET", "/v1/nodes/ST-0001%00/tasks"),
    ("GET", "/v1/availability?sku=SKU-A%00"),  # the hot path's read
    ("GET", "/v1/availability?sku=SKU-A&node=ST-0001%00"),
    ("GET", "/v1/skus?category=house%00hold"),
    ("GET", "/v1/forecasts?node=%00"),
])
def test_nul_in_path_or_query_is_422(client, method, url) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/allocations", json=ORDER).status_code == 200
    before = snapshot(client)
    body = problem_of(client.request(method, url), 422, "NUL character")
    assert body["type"] == "/problems/validation"
    assert snapshot(client) == before


def test_control_characters_in_path_ids_are_422(client) -> None:  # type: ignore[no-untyped-def]
    problem_of(client.get("/v1/orders/web%071"), 422, "order_id")
    problem_of(client.get("/v1/nodes/ST%20-0001/tasks"), 422, "code")


def test_api_key_with_nul_is_401_not_500(database) -> None:  # type: ignore[no-untyped-def]
    from api.main import create_app
    from api.settings import Settings
    from tests.api.conftest import TestClient
    from tests.factories import seed_tiny

    seed_tiny(database)
    app = create_app(Settings(database_url=database.url, sweep_interval_seconds=0),
                     db=database)
    with TestClient(app) as c:
        # The dashboard's sign-in form carries the key in a body, where NUL can travel.
        r = c.post("/dashboard/login", data={"key": f"omni_{NUL}_x"}, follow_redirects=False)
        assert r.status_code < 500
        r = c.get("/v1/skus", headers={"X-API-Key": "omni_\x7f_x"})
        assert r.status_code == 401


# ---------------------------------------------------------------- 4. identifiers


@pytest.mark.parametrize("order_id", [
    "a/b", "../etc", "web 1", "web?1", "web#1", "web%2F1", "-web", ".web", "wéb",
    "x" * 101, "",
])
def test_order_ids_outside_the_pattern_are_422(client, order_id) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    r = client.post("/v1/allocations", json={**ORDER, "order_id": order_id})
    problem_of(r, 422, "order_id", ID_PATTERN)
    assert snapshot(client) == before


@pytest.mark.parametrize("order_id", ["web-1", "ORD:2026-11-23.0001", "a@b~c_d", "7", "x" * 100])
def test_ids_in_the_pattern_are_read_and_cancelled(client, order_id) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/allocations", json={**ORDER, "order_id": order_id}).status_code == 200
    assert client.get(f"/v1/orders/{order_id}").json()["order_id"] == order_id
    # The ledger's references carry the id ("reject <id>: damaged", "cancel <id>").
    r = client.post(f"/v1/orders/{order_id}/reject", json={"reason": "damaged"})
    assert r.status_code == 200, r.text
    r = client.post(f"/v1/orders/{order_id}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


@pytest.mark.parametrize("event_id", ["a/b", "pos 1", "", "x" * 101])
def test_event_ids_outside_the_pattern_are_422(client, event_id) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    r = client.post("/v1/inventory/events", json={**EVENT, "event_id": event_id})
    problem_of(r, 422, "event_id", ID_PATTERN)
    assert snapshot(client) == before


@pytest.mark.parametrize(("path", "doc"), [("/v1/allocations", ORDER),
                                           ("/v1/inventory/events", EVENT)])
@pytest.mark.parametrize("key", ["has space", "tab\tkey", "k" * 201, "caf\u00e9"])
def test_idempotency_keys_outside_the_pattern_are_422(client, path, doc, key) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client)
    r = client.post(path, json=doc, headers={"Idempotency-Key": key.encode("utf-8")})
    problem_of(r, 422, "idempotency-key", KEY_PATTERN)
    assert snapshot(client) == before
    if path == "/v1/allocations":
        r = client.post(path, json={**doc, "idempotency_key": key})
        problem_of(r, 422, "idempotency_key", KEY_PATTERN)
        assert snapshot(client) == before


def test_openapi_documents_the_rules(client) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/openapi.json").json()
    parts = doc["components"]["schemas"]
    assert parts["AllocationIn"]["properties"]["order_id"]["pattern"] == ID_PATTERN
    assert parts["InventoryEventIn"]["properties"]["event_id"]["pattern"] == ID_PATTERN
    assert parts["InventoryEventIn"]["properties"]["qty"]["maximum"] == MAX_QTY
    assert parts["InventoryEventIn"]["properties"]["qty"]["minimum"] == -MAX_QTY
    assert parts["LineIn"]["properties"]["qty"]["maximum"] == MAX_LINE_QTY
    params = doc["paths"]["/v1/allocations"]["post"]["parameters"]
    key = next(p for p in params if p["name"] == "idempotency-key")
    assert key["schema"]["anyOf"][0]["pattern"] == KEY_PATTERN


# Query filters that name codes stay lenient (an unknown code is a 422 naming it, the same
# answer as the hot path's); NUL is refused for every parameter by the middleware.
_LENIENT = {("/v1/availability", "sku"), ("/v1/availability", "node")}


def test_every_request_string_has_a_rule(client) -> None:  # type: ignore[no-untyped-def]
    """Every string a /v1 request can carry (body or parameter) has a pattern, an enum or
    a format: a new field without one fails here, before it can carry a NUL to the database.
    """
    doc = client.get("/openapi.json").json()
    parts = doc["components"]["schemas"]
    loose: list[str] = []

    def walk(schema: dict[str, Any], where: str, seen: set[str]) -> None:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                walk(parts[name], name, seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for sub in schema.get(key, ()):
                walk(sub, where, seen)
        if schema.get("type") == "string" and not ({"pattern", "enum", "const", "format"}
                                                   & schema.keys()):
            loose.append(where)
        for name, sub in schema.get("properties", {}).items():
            walk(sub, f"{where}.{name}", seen)
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], f"{where}[]", seen)
        if isinstance(schema.get("additionalProperties"), dict):
            walk(schema["additionalProperties"], f"{where}{{}}", seen)

    for path, ops in doc["paths"].items():
        if not path.startswith("/v1"):
            continue
        for method, op in ops.items():
            for p in op.get("parameters", ()):
                if (path, p["name"]) not in _LENIENT:
                    walk(p["schema"], f"{method} {path} {p['name']}", set())
            for media in op.get("requestBody", {}).get("content", {}).values():
                walk(media["schema"], f"{method} {path} body", set())
    assert not loose, loose


def test_validation_constants_fit_the_database() -> None:
    int32 = 2**31 - 1  # PostgreSQL INTEGER
    # The longest ledger reference built from an order id fits its 120-character column.
    assert len(f"reject {'x' * validation.MAX_ID_LENGTH}: no_capacity") <= 120
    assert len(f"ready_for_pickup {'x' * validation.MAX_ID_LENGTH}") <= 120
    assert max(validation.MAX_QTY, validation.MAX_ORDER_UNITS, validation.MAX_SEED) <= int32
    assert validation.MAX_LINE_QTY <= validation.MAX_ORDER_UNITS <= 200 * validation.MAX_LINE_QTY


# ---------------------------------------------------------------- 5. request ids in logs


@pytest.fixture
def json_lines() -> Iterator[list[dict[str, Any]]]:
    """Every `omni.*` log record of the test, rendered by the service's JSON formatter."""
    lines: list[dict[str, Any]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(self.format(record)))

    keep = Keep()
    keep.setFormatter(JsonFormatter())
    root = logging.getLogger("omni")
    level = root.level
    root.addHandler(keep)
    root.setLevel(logging.INFO)
    yield lines
    root.removeHandler(keep)
    root.setLevel(level)


def test_route_log_lines_carry_the_request_id(client, json_lines) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/allocations", json=ORDER).status_code == 200
    # A reject re-routes the line and logs "rerouted ..." from the FastAPI route's thread.
    r = client.post("/v1/orders/web-1/reject", json={"reason": "no_capacity"})
    assert r.status_code == 200, r.text
    rid = r.headers["x-request-id"]
    rerouted = [x for x in json_lines if x["msg"].startswith("rerouted")]
    assert rerouted and all(x["request_id"] == rid for x in rerouted)
    assert all(x["request_id"] is not None for x in json_lines)


def test_unhandled_error_is_logged_and_answered_with_the_request_id(  # type: ignore[no-untyped-def]
        client, json_lines, monkeypatch) -> None:
    from fulfilment import orders as service

    def boom(*_: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(service, "get_order", boom)
    r = client.get("/v1/orders/web-1", headers={"X-Request-ID": "req-boom"})
    problem_of(r, 500, "the error was logged")
    assert "boom" not in r.text
    assert r.headers["x-request-id"] == "req-boom"
    errors = [x for x in json_lines if x["msg"] == "unhandled error"]
    assert len(errors) == 1 and errors[0]["request_id"] == "req-boom"
    assert "RuntimeError: boom" in errors[0]["exc"]
    access = [x for x in json_lines if x["logger"] == "omni.access"]
    assert access[-1]["status"] == 500 and access[-1]["request_id"] == "req-boom"

