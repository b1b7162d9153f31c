"""The demo network: determinism, real stores, plausible stock and M5-shaped sales, writing."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from data.db import Database
from data.demo import DemoNetwork, DemoParams, build_network
from data.demo_write import network_exists, write_network
from data.models import Node, SalesHistory, Sku, StockEvent, StockPosition
from data.reference import load_walmart_stores


@pytest.fixture(scope="module")
def default_net() -> DemoNetwork:
    return build_network(DemoParams())


def _frames(net: DemoNetwork) -> list[pd.DataFrame]:
    return [net.nodes, net.skus, net.stock, net.sales]


# ---------------------------------------------------------------------------- params


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"stores": 0}, "expected stores >= 1, got 0"),
    ({"skus": 0}, "expected skus >= 1, got 0"),
    ({"dcs": 2}, "expected 3 <= dcs <= 5, got 2"),
    ({"dcs": 6}, "expected 3 <= dcs <= 5, got 6"),
    ({"history_days": -1}, "expected history_days >= 0, got -1"),
    ({"seed": -3}, "expected seed >= 0"),
    ({"region": "ZZ"}, "expected region 'US' or a state code"),
    ({"start": "2026-01-01"}, "expected start to be a datetime.date"),
])
def test_params_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DemoParams(**kwargs)  # type: ignore[arg-type]


def test_params_normalise_region_and_are_frozen() -> None:
    params = DemoParams(region="tx")
    assert params.region == "TX"
    with pytest.raises(dataclasses.FrozenInstanceError):
        params.stores = 3  # type: ignore[misc]


def test_more_stores_than_the_region_has_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"expected stores <= 8 \(Walmart stores in DE\), got 9"):
        build_network(DemoParams(region="DE", stores=9, history_days=0))


# ---------------------------------------------------------------------------- determinism


def test_same_seed_same_network(default_net: DemoNetwork) -> None:
    again = build_network(DemoParams())
    for a, b in zip(_frames(default_net), _frames(again), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_different_seed_different_network(default_net: DemoNetwork) -> None:
    other = build_network(DemoParams(seed=8))
    assert set(other.nodes["code"]) != set(default_net.nodes["code"])
    assert not other.sales["qty"].equals(default_net.sales["qty"])


def test_more_skus_do_not_move_the_stores() -> None:
    small = build_network(DemoParams(skus=20, history_days=0))
    large = build_network(DemoParams(skus=60, history_days=0))
    pd.testing.assert_frame_equal(small.nodes, large.nodes)


# ---------------------------------------------------------------------------- nodes


def test_nodes_are_real_stores_and_dcs(default_net: DemoNetwork) -> None:
    nodes = default_net.nodes
    dcs, stores = nodes[nodes["kind"] == "dc"], nodes[nodes["kind"] == "store"]
    assert len(dcs) == 3 and len(stores) == 12
    assert nodes["code"].is_unique and nodes["id"].tolist() == list(range(1, 16))

    real = load_walmart_stores().set_index("storenum")
    for row in stores.itertuples():
        src = real.loc[int(row.code.removeprefix("ST-"))]
        assert src["state"] == "TX" and row.state == "TX"
        assert (row.zip, row.lat, row.lon, row.address) == (src["zip"], src["lat"], src["lon"],
                                                            src["address"])
        assert row.name.startswith(f"Walmart #{row.code.removeprefix('ST-')} ")

    assert 6 < stores["ship_from_store"].sum() < len(stores)  # a majority, not all
    assert stores["click_and_collect"].sum() >= 0.8 * len(stores)
    assert stores["pick_capacity_per_day"].between(40, 200).all()
    assert stores["pick_cost_per_unit"].between(1.2, 2.0).all()

    assert dcs["code"].str.startswith("DC-").all() and (dcs["state"] == "TX").all()
    assert not dcs["ship_from_store"].any() and not dcs["click_and_collect"].any()
    assert dcs["pick_capacity_per_day"].isna().all()
    assert dcs["pick_cost_per_unit"].between(0.35, 0.6).all()
    assert dcs["zip"].str.fullmatch(r"\d{5}").all()


@pytest.mark.parametrize(("region", "n_dcs"), [("WI", 4), ("US", 5)])
def test_dc_count_and_region(region: str, n_dcs: int) -> None:
    net = build_network(DemoParams(region=region, dcs=n_dcs, stores=20, skus=10, history_days=0))
    dcs = net.nodes[net.nodes["kind"] == "dc"]
    assert len(dcs) == n_dcs and dcs["code"].is_unique
    if region != "US":
        assert (dcs["state"] == region).all()
    assert dcs["population_share"].sum() == pytest.approx(1.0)


# ---------------------------------------------------------------------------- catalogue, stock


def test_catalogue(default_net: DemoNetwork) -> None:
    skus = default_net.skus
    assert len(skus) == 100 and skus["code"].is_unique
    assert skus["category"].nunique() >= 6
    assert (skus["weight_lb"] > 0).all()
    assert (skus["unit_cost"] > 0).all() and (skus["unit_cost"] < skus["unit_price"]).all()
    assert sorted(skus["popularity_rank"]) == list(range(1, 101))
    # Zipf-like: the top decile of SKUs carries far more than a tenth of the demand.
    rate = np.sort(skus["daily_rate"].to_numpy())[::-1]
    assert rate[:10].sum() > 0.3 * rate.sum()


def test_stock_is_plausible(default_net: DemoNetwork) -> None:
    stock = default_net.stock.merge(default_net.nodes[["id", "kind"]], left_on="node_id",
                                    right_on="id")
    assert (stock["on_hand"] >= 0).all() and (stock["reserved"] == 0).all()
    assert not stock.duplicated(["node_id", "sku_id"]).any()
    by_kind = stock.groupby("kind")["on_hand"].sum()
    assert by_kind["dc"] > by_kind["store"] > 0  # DCs hold most
    assert (stock["on_hand"] == 0).any()  # some rows start empty
    dc = stock[stock["kind"] == "dc"]
    assert len(dc) == 3 * 100 and (dc["safety_stock"] == 0).all()
    store = stock[stock["kind"] == "store"]
    assert store["safety_stock"].between(0, 2).all() and (store["safety_stock"] > 0).any()


# ---------------------------------------------------------------------------- sales


def _daily_totals(net: DemoNetwork) -> pd.Series:
    days = pd.date_range(net.params.history_start, periods=net.params.history_days)
    return net.sales.groupby("day")["qty"].sum().reindex(days, fill_value=0)


def test_sales_cover_the_history_of_stores_only(default_net: DemoNetwork) -> None:
    sales, params = default_net.sales, default_net.params
    assert (sales["qty"] > 0).all()
    assert sales["day"].min() >= pd.Timestamp(params.history_start)
    assert sales["day"].max() < pd.Timestamp(params.start)
    stores = default_net.nodes.loc[default_net.nodes["kind"] == "store", "id"]
    assert sales["node_id"].isin(stores).all()
    assert not sales.duplicated(["node_id", "sku_id", "day"]).any()


def test_sales_have_m5_weekly_pattern(default_net: DemoNetwork) -> None:
    totals = _daily_totals(default_net)
    dow = totals.groupby(totals.index.dayofweek).mean()
    weekend, midweek = dow[[5, 6]].mean(), dow[[1, 2, 3]].mean()
    assert weekend > 1.2 * midweek


def test_sales_are_intermittent_like_m5(default_net: DemoNetwork) -> None:
    days = default_net.params.history_days
    per_series = default_net.sales.groupby(["node_id", "sku_id"])["qty"].agg(["sum", "size"])
    zero_fraction = 1 - per_series["size"] / days
    assert 0.4 < zero_fraction.median() < 0.9
    # Slow movers are mostly zero days, fast movers rarely (the M5 mean/zero relationship).
    mean = per_series["sum"] / days
    assert zero_fraction[mean < 0.2].mean() > 0.75
    assert zero_fraction[mean > 2].mean() < 0.3


def test_holidays(default_net: DemoNetwork) -> None:
    totals = _daily_totals(default_net)
    christmas = totals[(totals.index.month == 12) & (totals.index.day == 25)]
    assert len(christmas) == 2 and (christmas == 0).all()  # stores closed, like M5
    thursdays = totals[totals.index.dayofweek == 3]
    thanksgiving = [pd.Timestamp(2024, 11, 28), pd.Timestamp(2025, 11, 27)]
    assert totals[thanksgiving].mean() < thursdays.mean()


def test_history_days_zero_has_no_sales() -> None:
    net = build_network(DemoParams(history_days=0, skus=10))
    assert net.sales.empty and list(net.sales.columns) == ["node_id", "sku_id", "day", "qty"]


def test_benchmark_scale_builds() -> None:
    net = build_network(DemoParams(region="US", stores=1000, skus=2000, dcs=5, history_days=0))
    assert (net.nodes["kind"] == "store").sum() == 1000
    assert len(net.skus) == 2000
    assert len(net.stock) > 5 * 2000 + 100_000  # every SKU at every DC plus store ranges


# ---------------------------------------------------------------------------- writing


def _small() -> DemoNetwork:
    return build_network(DemoParams(stores=4, skus=30, history_days=60))


def test_write_network(database: Database) -> None:
    net = _small()
    assert not network_exists(database)
    write_network(database, net)
    assert network_exists(database)
    with database.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Node)) == len(net.nodes)
        assert s.scalar(select(func.count()).select_from(Sku)) == len(net.skus)
        assert s.scalar(select(func.count()).select_from(StockPosition)) == len(net.stock)
        assert s.scalar(select(func.count()).select_from(SalesHistory)) == len(net.sales)
        assert s.scalar(select(func.sum(SalesHistory.qty))) == net.sales["qty"].sum()
        n_events = s.scalar(select(func.count()).select_from(StockEvent))
        assert n_events == (net.stock["on_hand"] > 0).sum()
        mismatched = s.execute(text(
            "SELECT count(*) FROM stock_positions p LEFT JOIN ("
            "  SELECT node_id, sku_id, sum(delta_on_hand) AS total FROM stock_events"
            "  GROUP BY node_id, sku_id) e ON e.node_id = p.node_id AND e.sku_id = p.sku_id "
            "WHERE p.on_hand <> coalesce(e.total, 0)"
        )).scalar()
        assert mismatched == 0
        kinds = s.scalars(select(StockEvent.reference).distinct()).all()
        assert kinds == ["demo-initial-stock"]
        days = s.scalars(select(SalesHistory.day).order_by(SalesHistory.day).limit(1)).all()
        assert days[0] >= net.params.history_start and isinstance(days[0], dt.date)
        dc = s.scalars(select(Node).where(Node.code == net.nodes["code"].iloc[0])).one()
        assert dc.pick_capacity_per_day is None and dc.kind == "dc"
    with pytest.raises(ValueError, match="already holds nodes"):
        write_network(database, net)


# ---------------------------------------------------------------------------- CLI


def test_cli_build_and_if_absent(tmp_path: Path) -> None:
    from api.cli import app

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    args = ["demo", "build", "--database-url", url, "--stores", "3", "--skus", "20",
            "--history-days", "30", "--no-progress"]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "demo network written: 6 nodes (3 DCs, 3 stores), 20 SKUs" in first.output

    db = Database.from_url(url)
    try:
        with db.read_session() as s:
            before = s.scalar(select(func.count()).select_from(StockEvent))
        second = runner.invoke(app, [*args, "--if-absent"])
        assert second.exit_code == 0, second.output
        assert "nothing written" in second.output
        with db.read_session() as s:
            assert s.scalar(select(func.count()).select_from(StockEvent)) == before
            assert s.scalar(select(func.count()).select_from(Node)) == 6
    finally:
        db.dispose()

    third = runner.invoke(app, args)
    assert third.exit_code == 1


def test_cli_rejects_bad_params(tmp_path: Path) -> None:
    from api.cli import app

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(app, ["demo", "build", "--database-url", url, "--region", "ZZ"])
    assert result.exit_code == 2
