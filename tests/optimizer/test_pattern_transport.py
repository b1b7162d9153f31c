"""The warm pattern LP equals the DLP; enumerated and compiled pricing are exact; the
Lagrangian bound is a bound and close; the transport presolve is exact and the transport form
of one-SKU types is the pattern LP; walk-ins raise the price of store stock."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer.colgen import TypeTable, nearest_candidates, price_all
from optimizer.dlp import DLPType, _price, dlp_bound
from optimizer.lagrange import LagrangeLP, LagrangeParams, lagrangian_bound
from optimizer.pattern import PatternLP, PatternParams, WalkInDemand, price_type
from optimizer.transport import RegionDemand, TransportLP, TransportParams, solve_transport
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


def _priced(rng: np.random.Generator, n_nodes: int, n_skus: int, n_l: int) -> DLPType:
    k = int(rng.integers(1, n_nodes + 1))
    return DLPType(skus=rng.choice(n_skus, n_l, replace=False),
                   count=float(rng.uniform(0.5, 9)),
                   nodes=np.sort(rng.choice(n_nodes, k, replace=False)),
                   unit_cost=rng.uniform(0.4, 2.5, (k, n_l)),
                   parcel_cost=rng.uniform(7.0, 10.0, k),
                   allowed=rng.random((k, n_l)) < 0.6,
                   unfilled_unit_cost=rng.uniform(2.5, 4.0, n_l),
                   unfilled_parcel_cost=17.5)


@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_pricing_is_the_exact_per_order_optimum(seed: int) -> None:
    """colgen's partition DP equals the exact solver, also past the 8 nodes enumeration took,
    with stock and capacity prices, and reports the true cost of the pattern it picks."""
    rng = np.random.default_rng(seed)
    types = [_priced(rng, 12, 30, int(rng.integers(1, 7))) for _ in range(60)]
    table = TypeTable.build(types)
    for _ in range(3):
        prices = rng.exponential(1.5, (12, 30)) * (rng.random((12, 30)) < 0.5)
        cap = rng.exponential(0.3, 12) * (rng.random(12) < 0.3)
        adj, true, assign = price_all(table, prices, cap)
        for k, t in enumerate(types):
            c, x, _ = _price(t, prices, cap)
            a = prices[np.ix_(t.nodes, t.skus)] + cap[t.nodes][:, None]
            assert adj[k] == pytest.approx(c + (a * x).sum(), abs=1e-9)
            line = assign[table.sku_ptr[k]:table.sku_ptr[k + 1]]
            x2 = np.zeros_like(x)
            x2[line[line >= 0], np.flatnonzero(line >= 0)] = 1
            used = x2.sum(axis=1) > 0
            cost = t.parcel_cost[used].sum() + (t.unit_cost * x2).sum()
            if (line < 0).any():
                cost += t.unfilled_parcel_cost + t.unfilled_unit_cost[line < 0].sum()
            assert not (x2.astype(bool) & ~t.allowed).any()
            assert true[k] == pytest.approx(cost, abs=1e-9)
            assert adj[k] == pytest.approx(cost + (a * x2).sum(), abs=1e-9)


def test_compiled_pricing_leaves_long_types_to_the_caller() -> None:
    rng = np.random.default_rng(4)
    types = [_priced(rng, 3, 20, 3), _priced(rng, 3, 20, 14)]
    adj, true, _ = price_all(TypeTable.build(types), np.zeros((3, 20)), np.zeros(3))
    assert np.isfinite(adj[0]) and np.isnan(adj[1]) and np.isnan(true[1])
    # The pattern LP prices such a type with the exact solver instead.
    lp = PatternLP(types, (3, 20))
    lp.update(np.array([t.count for t in types]), np.full((3, 20), 2))
    assert lp.solve().converged


def test_pattern_lp_stops_within_its_lagrangian_gap_and_warm_up_changes_nothing() -> None:
    rng = np.random.default_rng(9)
    types = [_priced(rng, 6, 15, int(rng.integers(1, 6))) for _ in range(120)]
    inv = rng.integers(0, 30, (6, 15))
    counts = np.array([t.count for t in types])
    exact = dlp_bound(types, inv)
    for params in (PatternParams(), PatternParams(warm_up_rounds=20),
                   PatternParams(seed_columns=False)):
        lp = PatternLP(types, inv.shape, params=params)
        lp.update(counts, inv)
        assert lp.solve().value == pytest.approx(exact.value, rel=1e-7)
    lp = PatternLP(types, inv.shape)
    lp.update(counts, inv)
    early = lp.solve(gap=1e-3)
    assert early.value >= exact.value - 1e-6
    assert early.value <= exact.value * (1 + 1e-3) + 1e-6
    assert lp.last_stats["bound_gap"] <= 1e-3


def test_lagrangian_bound_is_below_the_lp_and_close_to_it() -> None:
    rng = np.random.default_rng(11)
    types = [_priced(rng, 6, 15, int(rng.integers(1, 6))) for _ in range(150)]
    inv = rng.integers(0, 25, (6, 15))
    exact = dlp_bound(types, inv)
    walk = WalkInDemand(np.array([0, 1]), np.array([2, 3]), np.array([6.0, 4.0]),
                        np.array([12.0, 3.0]))
    lagr = lagrangian_bound(types, inv, rounds=600)
    assert not lagr.converged
    assert lagr.value <= exact.value + 1e-6
    assert lagr.value >= exact.value * (1 - 5e-3)
    # With walk-ins and capacity too: still a bound of the same LP.
    cap = np.full(6, 40.0)
    lp = PatternLP(types, inv.shape, cap)
    lp.update(np.array([t.count for t in types]), inv, walkins=walk)
    full = lp.solve()
    low = LagrangeLP(types, inv.shape, cap, LagrangeParams(first_rounds=600))
    low.update(np.array([t.count for t in types]), inv, walkins=walk)
    res = low.solve()
    assert res.value <= full.value + 1e-6
    assert res.value >= full.value - 5e-3 * abs(full.value)
    assert (res.stock_prices >= 0).all()


def test_lagrange_re_solve_continues_from_given_prices() -> None:
    rng = np.random.default_rng(12)
    types = [_priced(rng, 5, 12, int(rng.integers(1, 5))) for _ in range(80)]
    inv = rng.integers(0, 20, (5, 12))
    counts = np.array([t.count for t in types])
    lp = PatternLP(types, inv.shape)
    lp.update(counts, inv)
    exact = lp.solve()
    low = LagrangeLP(types, inv.shape, params=LagrangeParams(rounds=5))
    low.update(counts, inv)
    low.start_from(exact.stock_prices)
    res = low.solve()
    assert res.iterations <= 6
    assert res.value == pytest.approx(exact.value, rel=1e-3)
    assert res.value <= exact.value + 1e-6
    with pytest.raises(ValueError, match="first_rounds"):
        LagrangeParams(first_rounds=0)


def test_nearest_candidates_keep_the_near_nodes_every_line_s_holders_and_dcs() -> None:
    rng = np.random.default_rng(13)
    types = [_priced(rng, 30, 10, 3) for _ in range(40)]
    always = np.zeros(30, bool)
    always[:2] = True
    for t, r in zip(types, nearest_candidates(types, per_type=4, per_line=2, always=always),
                    strict=True):
        assert set(r.nodes) <= set(t.nodes)
        unit = np.where(t.allowed, t.unit_cost, np.inf)
        if len(t.nodes) <= 6:
            assert r is t
            continue
        assert {int(n) for n in t.nodes if n < 2 and np.isfinite(
            unit[list(t.nodes).index(n)]).any()} <= set(r.nodes.tolist())
        for b in range(len(t.skus)):
            best = np.argsort(unit[:, b], kind="stable")[:2]
            assert all(t.nodes[i] in r.nodes for i in best if np.isfinite(unit[i, b]))


def test_transport_lp_of_single_line_types_is_the_pattern_lp() -> None:
    """One-SKU, one-unit types: the transportation form is exact (value and prices)."""
    rng = np.random.default_rng(14)
    n, s, r = 6, 8, 4
    loc_cost = rng.uniform(0.5, 3.0, (n, r))
    parcel = 8.759
    types, region = [], []
    for reg in range(r):
        for sku in rng.choice(s, 5, replace=False):
            types.append(DLPType(np.array([sku]), float(rng.uniform(1, 15)), np.arange(n),
                                 loc_cost[:, [reg]], np.full(n, parcel), np.ones((n, 1), bool),
                                 np.array([4.0]), 17.5))
            region.append(reg)
    inv = rng.integers(0, 12, (n, s))
    counts = np.array([t.count for t in types])
    exact = dlp_bound(types, inv)
    lp = TransportLP(loc_cost + parcel, np.arange(len(types)), np.array(region),
                     np.array([int(t.skus[0]) for t in types]), np.zeros(len(types)),
                     np.full(len(types), 21.5), len(types), (n, s),
                     params=TransportParams(k_nearest=n, scan=n))
    lp.update(counts, inv)
    got = lp.solve()
    assert got.value == pytest.approx(exact.value, rel=1e-7)
    agg = TransportLP.from_types(types, np.array(region), (n, s),
                                 params=TransportParams(k_nearest=n, scan=n))
    agg.update(counts, inv)
    assert agg.solve().value == pytest.approx(exact.value, rel=1e-7)
    # Nothing asked, nothing held: a zero table, no solver call.
    lp.update(np.zeros(len(types)), inv)
    empty = lp.solve()
    assert empty.value == 0.0 and not empty.stock_prices.any()
