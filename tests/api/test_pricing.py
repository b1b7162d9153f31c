"""Service stock prices: forecasts and recent orders priced in the background, forecast_aware."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from data.db import Database
from data.models import Forecast, ForecastRun, Node, Sku
from fulfilment.pricing import PricingParams, demand_inputs, price_table
from tests.factories import seed_tiny

ORDER = {"order_id": "fa-1", "lat": 36.30, "lon": -94.10,
         "lines": [{"sku": "SKU-A", "qty": 2}], "policy": "forecast_aware"}


def _forecast(db: Database, node: str, sku: str, per_day: float, days: int = 7) -> None:
    today = dt.datetime.now(dt.UTC).date()
    with db.transaction() as s:
        run = ForecastRun(model="test", horizon=days, series=1, seconds=0.0, history_end=today)
        s.add(run)
        s.flush()
        nid = s.query(Node.id).filter(Node.code == node).scalar()
        kid = s.query(Sku.id).filter(Sku.code == sku).scalar()
        s.add_all([Forecast(node_id=nid, sku_id=kid, day=today + dt.timedelta(days=k),
                            run_id=run.id, model="test", mean=per_day, p05=0, p50=per_day,
                            p90=per_day, p95=per_day) for k in range(days)])


@pytest.fixture
def priced(sqlite_db: Database) -> Iterator[TestClient]:
    """The tiny network with a walk-in forecast (30 units/week) above ST-0001's 10 units."""
    seed_tiny(sqlite_db, {("ST-0001", "SKU-A"): 10, ("DC-DAL", "SKU-A"): 50,
                          ("ST-0002", "SKU-B"): 4})
    _forecast(sqlite_db, "ST-0001", "SKU-A", 30 / 7)
    settings = Settings(database_url=sqlite_db.url, auth_required=False,
                        sweep_interval_seconds=0, forecast_prices=True, price_refresh_orders=2)
    with TestClient(create_app(settings, db=sqlite_db)) as c:
        pricing = c.app.state.allocation.pricing  # type: ignore[attr-defined]
        pricing.refresher.join(10)
        yield c


def test_forecast_aware_is_refused_without_prices(client: TestClient) -> None:
    r = client.post("/v1/allocations", json=ORDER)
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/problems/prices-unavailable")
    assert client.post("/v1/allocations", json={**ORDER, "policy": "optimal"}).status_code \
        in (200, 201)


def test_walk_in_forecast_prices_the_store_shelf(priced: TestClient) -> None:
    pricing = priced.app.state.allocation.pricing  # type: ignore[attr-defined]
    assert pricing.refresher.failures == 0
    table = pricing.book.current
    assert table is not None and pricing.book.version == 1
    prices = dict(zip(priced.app.state.allocation.network()[0].codes,  # type: ignore[attr-defined]
                      table.for_skus(["SKU-A"])[:, 0], strict=True))
    # Walk-ins want 30 > 10 on the shelf: each unit is worth its margin (9.99 - 6.50).
    assert prices["ST-0001"] == pytest.approx(3.49, abs=1e-6)
    assert prices["DC-DAL"] == 0.0


def test_allocations_with_prices_and_refresh_every_n_orders(priced: TestClient) -> None:
    pricing = priced.app.state.allocation.pricing  # type: ignore[attr-defined]
    r = priced.post("/v1/allocations", json=ORDER)
    assert r.status_code in (200, 201), r.text
    d = r.json()["decision"]
    assert d["policy"] == "forecast_aware"
    nodes = {a["node"] for ln in d["lines"] for a in ln["allocations"]}
    assert nodes and d["cost"]["opportunity"] == pytest.approx(
        3.49 * sum(a["qty"] for ln in d["lines"] for a in ln["allocations"]
                   if a["node"] == "ST-0001"), abs=1e-4)
    r = priced.post("/v1/allocations", json={**ORDER, "order_id": "fa-2"})
    assert r.status_code in (200, 201), r.text
    deadline = time.monotonic() + 10  # the second order made a refresh due: on its thread
    while pricing.book.version < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    pricing.refresher.join(10)
    assert pricing.refresher.failures == 0
    with priced.app.state.db.read_session() as s:  # type: ignore[attr-defined]
        d = demand_inputs(s, priced.app.state.allocation.network()[0],  # type: ignore[attr-defined]
                          PricingParams(horizon_days=7, lookback_days=7))
    assert d["online"] and d["online"][0]["skus"] == ["SKU-A"]
    assert d["online"][0]["count"] == pytest.approx(4.0)  # 2 orders x 2 units in the week


def test_pricing_params_are_validated() -> None:
    with pytest.raises(ValueError, match="expected horizon_days >= 1, got 0"):
        PricingParams(horizon_days=0)
    with pytest.raises(ValueError, match="expected lookback_days > 0, got -1"):
        PricingParams(lookback_days=-1)


def test_online_demand_of_a_cell_ships_to_one_centre_and_prices_as_transport(
        priced: TestClient) -> None:
    """Every SKU of a grid cell shares the cell's unit-weighted centre (one region of the
    transportation LP per cell); the refresh prices one-SKU types in that form."""
    for k, (sku, lat, qty) in enumerate([("SKU-A", 36.20, 1), ("SKU-B", 36.40, 3)]):
        r = priced.post("/v1/allocations", json={
            "order_id": f"cell-{k}", "lat": lat, "lon": -94.10, "policy": "optimal",
            "lines": [{"sku": sku, "qty": qty}]})
        assert r.status_code in (200, 201), r.text
    app = priced.app
    network = app.state.allocation.network()[0]  # type: ignore[attr-defined]
    with app.state.db.read_session() as s:  # type: ignore[attr-defined]
        d = demand_inputs(s, network, PricingParams())
    assert {t["skus"][0] for t in d["online"]} == {"SKU-A", "SKU-B"}
    assert len({(t["lat"], t["lon"]) for t in d["online"]}) == 1
    assert d["online"][0]["lat"] == pytest.approx((36.20 * 1 + 36.40 * 3) / 4)
    table, stats = price_table(app.state.db, network,  # type: ignore[attr-defined]
                               app.state.allocation.cost, PricingParams())
    assert stats["online_types"] == 2.0 and stats["transport"] == 1.0
    assert (table.values >= 0).all()
    # The walk-in shelf of ST-0001 keeps its margin as its price (walk-ins want all of it).
    prices = dict(zip(network.codes, table.for_skus(["SKU-A"])[:, 0], strict=True))
    assert prices["ST-0001"] == pytest.approx(3.49, abs=1e-6)
