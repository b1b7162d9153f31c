"""GET /metrics, request ids echoed and carried by JSON log lines."""

from __future__ import annotations

import json
import logging

from api.observability.logs import JsonFormatter
from tests.api.conftest import TestClient

ORDER = {"order_id": "web-1", "method": "ship", "zip": "72758",
         "lines": [{"sku": "SKU-A", "qty": 2}]}


def _sample(text: str, prefix: str) -> float:
    """The value of the first sample line starting with `prefix`."""
    line = next(x for x in text.splitlines() if x.startswith(prefix))
    return float(line.rsplit(" ", 1)[1])


def test_metrics_count_requests_decisions_and_reroutes(client) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/allocations", json=ORDER).status_code == 200
    assert client.post("/v1/orders/web-1/reject", json={"reason": "no_capacity"}).status_code == 200
    client.get("/v1/orders/nope")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert _sample(text, 'omni_http_request_duration_seconds_count{method="POST",'
                         'route="/v1/allocations",status="200"}') == 1
    assert _sample(text, 'omni_http_request_duration_seconds_count{method="GET",'
                         'route="/v1/orders/{order_id}",status="404"}') == 1
    units = sum(float(x.rsplit(" ", 1)[1]) for x in text.splitlines()
                if x.startswith("omni_allocation_units_total{"))
    assert units == 2
    assert _sample(text, 'omni_allocations_total{status="allocated"}') == 1
    assert _sample(text, 'omni_reroutes_total{reason="no_capacity"}') == 1
    assert _sample(text, 'omni_order_line_transitions_total{action="reject"}') == 1
    assert _sample(text, "omni_reservation_conflicts_total") == 0


def test_request_id_is_echoed_and_logged_as_json(client) -> None:  # type: ignore[no-untyped-def]
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    keep = Keep()
    keep.setFormatter(JsonFormatter())
    access = logging.getLogger("omni.access")
    access.addHandler(keep)
    try:
        r = client.get("/v1/skus", headers={"X-Request-ID": "req-42"})
        generated = client.get("/v1/nodes", headers={"X-Request-ID": "bad id\n"})
    finally:
        access.removeHandler(keep)
    assert r.headers["x-request-id"] == "req-42"
    new = generated.headers["x-request-id"]
    assert new != "bad id\n" and len(new) == 32
    logged = [json.loads(x) for x in lines]
    first = next(x for x in logged if x["request_id"] == "req-42")
    assert first["route"] == "/v1/skus" and first["status"] == 200 and first["ms"] >= 0
    assert any(x["request_id"] == new and x["route"] == "/v1/nodes" for x in logged)


def test_probes_live_and_ready(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/live").json() == {"status": "ok"}
    r = client.get("/ready")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["schema"]


def test_ready_is_503_on_an_unmigrated_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from api.main import create_app
    from api.settings import Settings
    from data.db import Database

    url = f"sqlite:///{tmp_path / 'empty.db'}"
    db = Database.from_url(url)
    with TestClient(create_app(Settings(database_url=url, sweep_interval_seconds=0),
                               db=db)) as c:
        r = c.get("/ready")
        assert r.status_code == 503 and "omni db upgrade" in r.json()["detail"]
        assert c.get("/live").status_code == 200
    db.dispose()


def test_generated_request_ids_are_unique_hex() -> None:
    from api.observability.middleware import new_request_id

    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
