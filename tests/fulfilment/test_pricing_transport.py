"""The service's stock prices (fulfilment.pricing, no HTTP): recent online orders become one
location per grid cell, and their one-SKU types are priced in the transportation form, whose
value is the exact pattern LP's."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from allocation.costs import CostModel
from allocation.forecast_aware import ForecastParams, ForecastPricer
from allocation.network import Network
from data.db import Database
from data.models import Forecast, ForecastRun, Node, Order, OrderLine, Sku
from data.stock_ledger import node_records
from fulfilment.pricing import PricingParams, ServicePricing, demand_inputs, price_table
from tests.factories import seed_tiny

NOW = dt.datetime.now(dt.UTC)
# (external id, lat, lon, method, [(SKU, qty)], age in days)
ORDERS = [
    ("c1-a", 36.20, -94.10, "ship", [("SKU-A", 1)], 1),
    ("c1-b", 36.40, -94.10, "ship", [("SKU-B", 3), ("SKU-A", 2)], 2),
    ("c2-a", 32.90, -96.80, "ship", [("SKU-A", 5)], 3),
    ("pickup", 36.30, -94.10, "pickup", [("SKU-A", 7)], 1),  # not online demand to ship
    ("old", 36.30, -94.10, "ship", [("SKU-B", 9)], 30),  # before the lookback window
]


def _write(db: Database) -> None:
    """Opening stock, recent orders and a walk-in forecast above ST-0001's shelf."""
    seed_tiny(db, {("ST-0001", "SKU-A"): 10, ("DC-DAL", "SKU-A"): 12,
                   ("ST-0001", "SKU-B"): 2, ("DC-DAL", "SKU-B"): 2})
    today = NOW.date()
    with db.transaction() as s:
        sku = dict(s.query(Sku.code, Sku.id).all())
        node = dict(s.query(Node.code, Node.id).all())
        for ext, lat, lon, method, lines, age in ORDERS:
            o = Order(external_id=ext, method=method, ship_lat=lat, ship_lon=lon,
                      pickup_node_id=node["ST-0001"] if method == "pickup" else None,
                      created_at=NOW - dt.timedelta(days=age))
            o.lines = [OrderLine(line_no=k, sku_id=sku[c], qty=q)
                       for k, (c, q) in enumerate(lines, start=1)]
            s.add(o)
        run = ForecastRun(model="test", horizon=7, series=1, seconds=0.0, history_end=today)
        s.add(run)
        s.flush()
        s.add_all([Forecast(node_id=node["ST-0001"], sku_id=sku["SKU-A"],
                            day=today + dt.timedelta(days=k), run_id=run.id, model="test",
                            mean=2.0, p05=0, p50=2.0, p90=2.0, p95=2.0) for k in range(7)])


@pytest.fixture
def db(sqlite_db: Database) -> Database:
    _write(sqlite_db)
    return sqlite_db


def _network(db: Database) -> Network:
    with db.read_session() as s:
        return Network.from_records(node_records(s))


def test_online_orders_of_a_cell_ship_to_one_location(db: Database) -> None:
    network = _network(db)
    with db.read_session() as s:
        d = demand_inputs(s, network, PricingParams(), now=NOW)
    online = {(t["skus"][0], round(t["lat"], 6), round(t["lon"], 6)): t["count"]
              for t in d["online"]}
    # Cell (36, -94): 1 + 2 units of SKU-A and 3 of SKU-B, all to the unit-weighted centre.
    centre = round((36.20 * 1 + 36.40 * 5) / 6, 6)
    assert online == {("SKU-A", centre, -94.1): 3.0, ("SKU-B", centre, -94.1): 3.0,
                      ("SKU-A", 32.9, -96.8): 5.0}
    assert all(len(t["skus"]) == 1 for t in d["online"])  # one-SKU types: transport form
    assert d["skus"] == ["SKU-A", "SKU-B"]
    assert d["walkins"].qty.tolist() == pytest.approx([14.0])  # 7 days x 2 at ST-0001


def test_the_refresh_prices_in_the_transport_form_at_the_pattern_lp_s_value(
        db: Database) -> None:
    network = _network(db)
    cost = CostModel()
    table, stats = price_table(db, network, cost, PricingParams())
    assert stats["transport"] == 1.0 and stats["online_types"] == 3.0
    with db.read_session() as s:
        d = demand_inputs(s, network, PricingParams())
    exact = ForecastPricer(network, d["skus"], cost, d["online"], d["atp"],
                           walkins=d["walkins"], safety=d["safety"],
                           params=ForecastParams(form="pattern"))
    exact_table = exact.prices(d["atp"], 0, walkin_share=1.0)
    assert exact.form == "pattern"
    # Both values are online cost minus the walk-in margin earned.
    assert stats["lp_value"] == pytest.approx(exact.last_value, rel=1e-9, abs=1e-6)
    assert table.sku_codes == exact_table.sku_codes == ("SKU-A", "SKU-B")
    assert (table.values >= 0).all()
    np.testing.assert_allclose(table.values, exact_table.values, atol=1e-6)
    # Walk-ins want 14 of ST-0001's 10 units of SKU-A: the shelf is worth its margin
    # (9.99 - 6.50) to online orders; DC-DAL's 2 units of SKU-B are short for 3 asked.
    prices = dict(zip(network.codes, table.for_skus(["SKU-A"])[:, 0], strict=True))
    assert prices["ST-0001"] == pytest.approx(3.49, abs=1e-6)
    assert table.values[network.index["DC-DAL"], 1] > 0


class _Ctx:
    """What ServicePricing reads of the allocation context: the network and the costs."""

    def __init__(self, network: Network) -> None:
        self._network = network
        self.cost = CostModel()

    def network(self) -> tuple[Network, Any]:
        return self._network, None


def test_service_pricing_swaps_in_the_transport_table(db: Database) -> None:
    network = _network(db)
    pricing = ServicePricing(db, _Ctx(network), PricingParams(worker_process=False))
    try:
        assert pricing.refresher.refresh_now() == 1
        assert pricing.refresher.failures == 0
        assert pricing.last["transport"] == 1.0
        table = pricing.book.current
        assert table is not None and table.values.shape == (len(network), 2)
        assert np.isfinite(table.values).all()
    finally:
        pricing.stop()


def test_walk_in_sums_are_kept_until_a_new_forecast_run(db: Database) -> None:
    network = _network(db)
    with db.read_session() as s:
        first = demand_inputs(s, network, PricingParams(), now=NOW)
    with db.transaction() as s:  # a new run replaces the forecasts (data.forecast_store)
        s.query(Forecast).delete()
        run = ForecastRun(model="test", horizon=7, series=1, seconds=0.0,
                          history_end=NOW.date())
        s.add(run)
        s.flush()
        node = s.query(Node.id).filter(Node.code == "ST-0001").scalar()
        sku = s.query(Sku.id).filter(Sku.code == "SKU-B").scalar()
        s.add_all([Forecast(node_id=node, sku_id=sku, day=NOW.date() + dt.timedelta(days=k),
                            run_id=run.id, model="test", mean=0.5, p05=0, p50=0.5, p90=0.5,
                            p95=0.5) for k in range(7)])
    with db.read_session() as s:
        second = demand_inputs(s, network, PricingParams(), now=NOW)
    assert first["walkins"].qty.tolist() == pytest.approx([14.0])
    assert second["walkins"].qty.tolist() == pytest.approx([3.5])
    assert second["walkins"].sku.tolist() == [second["skus"].index("SKU-B")]
