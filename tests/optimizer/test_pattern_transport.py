"""The warm pattern LP equals the DLP; enumerated pricing is exact; the transport presolve
is exact; walk-ins raise the price of store stock."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.dlp import _price, dlp_bound
from optimizer.pattern import PatternLP, WalkInDemand, price_type
from optimizer.transport import RegionDemand, TransportParams, solve_transport
from tests.optimizer.test_dlp import _types


def test_pattern_lp_matches_dlp_cold_and_after_a_warm_resolve() -> None:
    rng = np.random.default_rng(3)
    types = _types(rng, 4, 5, 12)
    inv = rng.integers(0, 25, (4, 5))
    lp = PatternLP(types, inv.shape)
    counts = np.array([t.count for t in types])
    lp.update(counts, inv)
    assert lp.solve().value == pytest.approx(dlp_bound(types, inv).value, rel=1e-7)
    # Warm: half the demand, less stock; equals a fresh DLP of the same data.
    inv2 = inv // 2
    lp.update(counts / 2, inv2)
    fresh = dlp_bound([type(t)(t.skus, t.count / 2, t.nodes, t.unit_cost, t.parcel_cost,
                               t.allowed, t.unfilled_unit_cost, t.unfilled_parcel_cost)
                       for t in types], inv2)
    got = lp.solve()
    assert got.converged and got.value == pytest.approx(fresh.value, rel=1e-7)
    assert (got.stock_prices >= 0).all()


def test_enumerated_pricing_matches_the_exact_solver() -> None:
    rng = np.random.default_rng(5)
    types = _types(rng, 4, 6, 40)
    for t in types:
        prices = rng.exponential(2.0, (4, 6)) * (rng.random((4, 6)) < 0.5)
        cap = np.zeros(4)
        a, b = _price(t, prices, cap), price_type(t, prices, cap)
        adj = prices[np.ix_(t.nodes, t.skus)]
        assert a[0] + (adj * a[1]).sum() == pytest.approx(b[0] + (adj * b[1]).sum(), abs=1e-9)


def test_walkins_compete_for_store_stock() -> None:
    rng = np.random.default_rng(8)
    types = _types(rng, 3, 4, 6)
    inv = np.full((3, 4), 5)
    counts = np.array([t.count for t in types])
    lp = PatternLP(types, inv.shape)
    lp.update(counts, inv)
    base = lp.solve().stock_prices
    walk = WalkInDemand(np.array([0]), np.array([1]), np.array([50.0]), np.array([30.0]))
    lp.update(counts, inv, walkins=walk)
    res = lp.solve()
    assert res.stock_prices[0, 1] == pytest.approx(30.0)  # the shelf sells everything
    assert res.stock_prices[0, 1] >= base[0, 1]


def _random_transport(seed: int, walk: bool) -> tuple:
    rng = np.random.default_rng(seed)
    n, s, r = 30, 40, 6
    stock = rng.integers(0, 8, (n, s)) * (rng.random((n, s)) < 0.5)
    cost = rng.uniform(1, 10, (n, r))
    cost[rng.random((n, r)) < 0.1] = np.inf
    reg, sku = np.nonzero(rng.random((r, s)) < 0.5)
    dem = RegionDemand(reg, sku, rng.uniform(0, 12, len(reg)), np.full(r, 15.0))
    wn, ws = np.nonzero(stock > 0)
    walkins = (WalkInDemand(wn, ws, rng.uniform(0, 4, len(wn)), rng.uniform(1, 20, len(wn)))
               if walk else None)
    cap = np.where(rng.random(n) < 0.2, 20.0, 1e15)
    return stock, cost, dem, walkins, cap


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("walk", [False, True])
def test_transport_presolve_is_exact(seed: int, walk: bool) -> None:
    stock, cost, dem, walkins, cap = _random_transport(seed, walk)
    full = solve_transport(stock, cost, dem, capacity=cap, walkins=walkins,
                           params=TransportParams(presolve=False))
    fast = solve_transport(stock, cost, dem, capacity=cap, walkins=walkins)
    assert fast.value == pytest.approx(full.value, rel=1e-9)
    assert (fast.stock_prices >= 0).all()


def test_transport_params_are_validated() -> None:
    with pytest.raises(ValueError, match="expected k_nearest >= 1, got 0"):
        TransportParams(k_nearest=0)
