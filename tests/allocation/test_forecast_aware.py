"""forecast_aware: valid, cheaper than the myopic optimum, near hindsight; price refresh."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from allocation.candidates import build_candidates
from allocation.forecast_aware import (
    ForecastAwarePolicy,
    ForecastParams,
    ForecastPricer,
    PriceBook,
    PriceRefresher,
    follow_pattern,
)
from allocation.network import Order, OrderLine, unique_skus
from allocation.service import OpportunityCosts, decide
from simulations.bench.instances import SynthParams, synth_instance
from simulations.bench.replay import (
    dlp_of,
    hindsight_of,
    load_instance,
    run_replay,
    validate_result,
)


@pytest.fixture(scope="module")
def small() -> dict:
    """A generated instance of the REPLAY design, 700 expected orders."""
    return synth_instance(SynthParams(seed=21, expected_orders=700.0, periods=1000))


def test_forecast_aware_beats_optimal_and_sits_near_hindsight(small: dict) -> None:
    inst = load_instance(small)
    opt = run_replay(inst, "optimal")
    fa = run_replay(inst, ForecastAwarePolicy(params=ForecastParams(resolve_every=50)))
    assert validate_result(small, fa) == []
    hind, dlp = hindsight_of(inst), dlp_of(inst)
    assert hind.converged and dlp.converged
    assert hind.value <= fa["total_cost"] < opt["total_cost"]
    assert fa["total_cost"] / hind.value < 1.03
    assert fa["lp"]["solves"] >= len(inst.orders) // 50


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="expected resolve_every >= 1, got 0"):
        ForecastParams(resolve_every=0)
    with pytest.raises(ValueError, match="refresh_seconds"):
        ForecastParams(refresh_seconds=0)
    with pytest.raises(ValueError, match="expected form auto"):
        ForecastParams(form="simplex")
    with pytest.raises(ValueError, match="gap"):
        ForecastParams(gap=1.0)
    with pytest.raises(ValueError, match="lagrange_rounds"):
        ForecastParams(lagrange_rounds=0)


@pytest.mark.parametrize("form", ["pattern", "lagrange", "hybrid", "transport"])
def test_every_lp_form_replays_valid_and_the_scalable_ones_stay_near_hindsight(
        small: dict, form: str) -> None:
    """No LP form oversells (the judge's validator); the exact pattern LP and the Lagrangian
    ascent (alone or from exact duals) beat the myopic optimum and stay within 3% of
    hindsight; the transport aggregation is only required to be valid."""
    inst = load_instance(small)
    fa = run_replay(inst, ForecastAwarePolicy(params=ForecastParams(form=form,
                                                                    resolve_every=50)))
    assert validate_result(small, fa) == []
    assert fa["lp"]["form"] == form
    assert fa["lp"]["solves"] >= len(inst.orders) // 50
    assert 0 <= fa["lp"]["resolve_seconds_mean"] <= fa["lp"]["resolve_seconds_max"]
    if form != "transport":
        opt = run_replay(inst, "optimal")
        assert fa["total_cost"] < opt["total_cost"]
        assert fa["total_cost"] / hindsight_of(inst).value < 1.03


def test_auto_form_and_cadence_follow_the_number_of_order_types() -> None:
    raw = synth_instance(SynthParams(seed=5, metros=40, skus=30, sets_per_size=8,
                                     max_skus_per_order=7, expected_orders=3000.0,
                                     periods=4000))
    inst = load_instance(raw)
    n_types = len(raw["expected_orders"])
    assert n_types == 40 * 7 * 8
    pricer = ForecastPricer(inst.network, inst.skus, inst.cost, raw["expected_orders"],
                            inst.usable(), params=ForecastParams(exact_max_types=1000,
                                                                 types_per_order=10))
    assert pricer.form == "lagrange"
    assert pricer.resolve_every == max(100, -(-n_types // 10))
    table = pricer.prices(inst.usable(), 0)
    assert (table.values >= 0).all() and np.isfinite(table.values).all()
    assert pricer.last_value <= dlp_of(inst).value + 1e-6  # a Lagrangian value is a bound
    small = ForecastPricer(inst.network, inst.skus, inst.cost, raw["expected_orders"][:50],
                           inst.usable())
    assert small.form == "pattern" and small.resolve_every == 100


def test_one_sku_types_price_as_a_transportation_lp_equal_to_the_pattern_lp() -> None:
    raw = synth_instance(SynthParams(seed=6, dcs=5, metros=8, skus=12, max_skus_per_order=1,
                                     expected_orders=600.0, periods=800))
    inst = load_instance(raw)
    kw = dict(walkins=None, safety=inst.safety)
    fast = ForecastPricer(inst.network, inst.skus, inst.cost, raw["expected_orders"],
                          inst.usable(), **kw)
    exact = ForecastPricer(inst.network, inst.skus, inst.cost, raw["expected_orders"],
                           inst.usable(), params=ForecastParams(form="pattern"), **kw)
    assert fast.form == "transport" and exact.form == "pattern"
    fast.prices(inst.usable(), 0)
    exact.prices(inst.usable(), 0)
    assert fast.last_value == pytest.approx(exact.last_value, rel=1e-6)


def test_an_order_of_a_planned_type_takes_the_lp_s_pattern(small: dict) -> None:
    """The exact form keeps the LP's primal: per type, the planned orders of every pattern
    add up to the type's remaining count; an order of the type takes the pattern with the
    most planned orders left that its ATP allows, and that count goes down by one."""
    inst = load_instance(small)
    pricer = ForecastPricer(inst.network, inst.skus, inst.cost, small["expected_orders"],
                            inst.usable())
    assert pricer.form == "pattern" and pricer.follows
    prices = pricer.prices(inst.usable(), 0)
    totals: dict[int, float] = {}
    for k, opts in pricer._plan.items():
        totals[k] = sum(o[0] for o in opts)
    for k, e in enumerate(small["expected_orders"]):
        if e["count"] > 1e-6 and k in totals:
            assert totals[k] == pytest.approx(e["count"], rel=1e-6)
    order = inst.orders[0]
    skus, _, _ = unique_skus(order.lines)
    col = [inst.skus.index(s) for s in skus]
    atp = inst.usable()[:, col]
    before = {k: sorted(o[0] for o in v) for k, v in pricer._plan.items()}
    pattern = pricer.pattern_for(order, atp)
    assert pattern and [s for s, _ in pattern] == skus
    changed = [k for k, v in pricer._plan.items() if sorted(o[0] for o in v) != before[k]]
    assert len(changed) == 1
    d, _ = decide(order, inst.network, atp, ForecastAwarePolicy(pattern=pattern),
                  cost=inst.cost, opportunity=prices, explain=False)
    got = {line.sku: (inst.network.index[line.allocations[0].node] if line.allocations
                      else -1) for line in d.lines}
    assert got == dict(pattern) and d.solver["method"] == "lp-pattern"
    # No ATP anywhere: no planned pattern that ships fits (an all-unfilled one may).
    none = pricer.pattern_for(order, np.zeros_like(atp))
    assert all(row == -1 for _, row in none)
    # An order of no expected type, and a pricer that does not follow: nothing to follow.
    stray = Order("x", tuple(OrderLine(s, 1) for s in skus), lat=10.0, lon=10.0)
    assert pricer.pattern_for(stray, atp) == ()
    bid = ForecastPricer(inst.network, inst.skus, inst.cost, small["expected_orders"],
                         inst.usable(), params=ForecastParams(follow_plan=False))
    bid.prices(inst.usable(), 0)
    assert not bid.follows and bid.pattern_for(order, atp) == ()


def test_follow_pattern_refuses_what_the_candidates_cannot_supply(small: dict) -> None:
    inst = load_instance(small)
    order = Order("o", (OrderLine(inst.skus[0], 2), OrderLine(inst.skus[1], 1)),
                  lat=40.7, lon=-74.0)
    atp = np.zeros((len(inst.network), 2), np.int64)
    atp[0] = (1, 5)
    atp[1] = (3, 0)
    cands = build_candidates(inst.network, order, atp, inst.cost)
    a, b = inst.skus[0], inst.skus[1]
    plan = follow_pattern(cands, {a: 1, b: 0})
    assert plan is not None and plan.x.sum() == 3 and plan.unfilled.sum() == 0
    plan = follow_pattern(cands, {a: -1, b: 0})
    assert plan is not None and plan.unfilled.tolist() == [2, 0]
    assert follow_pattern(cands, {a: 0, b: 0}) is None  # 2 units of a, 1 at node 0
    assert follow_pattern(cands, {a: 1, b: 1}) is None  # node 1 holds no b
    assert follow_pattern(cands, {a: 1}) is None  # b is not in the pattern
    assert follow_pattern(cands, {a: 2, b: 0}) is None  # node 2 is no candidate


def _table(v: float) -> OpportunityCosts:
    return OpportunityCosts(("S",), np.full((2, 1), v))


def test_refresher_swaps_in_the_background_without_blocking_readers() -> None:
    book = PriceBook(_table(0.0))
    gate = threading.Event()

    def slow() -> OpportunityCosts:
        gate.wait(5)
        return _table(1.0)

    ref = PriceRefresher(book, slow, ForecastParams(resolve_every=3, background=True))
    for _ in range(3):
        ref.order_seen()
    start = time.perf_counter()
    assert book.current is not None and book.current.values[0, 0] == 0.0  # old table served
    assert time.perf_counter() - start < 0.1
    gate.set()
    ref.join(5)
    assert book.version == 1 and book.current.values[0, 0] == 1.0
    assert ref.failures == 0


def test_refresher_inline_and_on_time() -> None:
    now = [0.0]
    book = PriceBook()
    calls = []

    def compute() -> OpportunityCosts:
        calls.append(1)
        return _table(float(len(calls)))

    ref = PriceRefresher(book, compute, ForecastParams(resolve_every=1000, refresh_seconds=5,
                                                       background=False), clock=lambda: now[0])
    ref.order_seen()
    assert book.version == 0
    now[0] = 6.0
    ref.order_seen()
    assert book.version == 1 and len(calls) == 1


def test_walkins_forecast_aware_protects_store_shelves() -> None:
    raw = synth_instance(SynthParams(seed=4, expected_orders=500.0, periods=700, stores=6,
                                     store_share=0.3, walkin_units=4.0))
    inst = load_instance(raw)
    opt, fa = run_replay(inst, "optimal"), run_replay(inst, "forecast_aware")
    assert validate_result(raw, fa) == [] and validate_result(raw, opt) == []
    assert fa["walkins"]["lost_units"] < opt["walkins"]["lost_units"]
    assert (fa["total_cost"] + fa["walkins"]["lost_margin"]
            <= opt["total_cost"] + opt["walkins"]["lost_margin"])


def test_a_failed_refresh_is_counted_logged_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    book = PriceBook()
    book.swap(_table(0.5))
    seen: list[BaseException] = []

    def broken() -> OpportunityCosts:
        raise RuntimeError("LP infeasible")

    ref = PriceRefresher(book, broken, ForecastParams(resolve_every=1, background=False),
                         on_error=seen.append)
    with caplog.at_level("ERROR", logger="omni.pricing"):
        ref.order_seen()
        ref.order_seen()
    assert ref.failures == 2 and isinstance(ref.last_error, RuntimeError)
    assert [str(e) for e in seen] == ["LP infeasible"] * 2
    assert book.version == 1 and book.current.values[0, 0] == 0.5  # the old prices serve
    assert sum("stock price refresh failed" in r.getMessage() for r in caplog.records) == 2
