"""Backlog re-optimisation in memory: a 10,000-order backlog on 100 nodes, saving checked."""

from __future__ import annotations

import numpy as np
import pytest

from allocation.reoptimize import (
    BacklogOrder,
    ReoptParams,
    ReoptReport,
    apply_moves_memory,
    held_cost,
    reoptimize,
)
from simulations.bench.backlog import Backlog, BacklogParams, synth_backlog


@pytest.fixture(scope="module")
def backlog() -> Backlog:
    """10,000 orders sourced nearest-first on a 100-node network, then DCs replenished."""
    return synth_backlog(BacklogParams(seed=7, orders=10_000, nodes=100))


@pytest.fixture(scope="module")
def report(backlog: Backlog) -> ReoptReport:
    """One re-optimisation pass over the whole backlog (before any apply)."""
    return reoptimize(backlog.network, backlog.sku_codes, backlog.ledger.atp_all(),
                      backlog.orders, backlog.cost, params=ReoptParams(time_limit=60))


def _ledger_consistent(b: Backlog) -> None:
    led = b.ledger
    assert (led.on_hand >= 0).all() and (led.reserved >= 0).all()
    assert (led.on_hand - led.reserved - led.safety >= 0).all()
    per = np.zeros_like(led.reserved)
    for i, j, q in led._reservations.values():
        per[i, j] += q
    assert np.array_equal(per, led.reserved)


def test_saving_equals_recomputed_cost_difference(backlog: Backlog,
                                                  report: ReoptReport) -> None:
    assert report.visited == len(backlog.orders) and not report.timed_out
    assert report.moves and report.saving > 0
    assert all(m.saving > 0.5 for m in report.moves)
    final = {b.order.id: b.held for b in backlog.orders}
    for m in report.moves:
        assert final[m.order_id] == m.before  # moves chain: each starts where the last ended
        final[m.order_id] = m.after_held()
    by_id = {b.order.id: b for b in backlog.orders}
    before = after = 0.0
    for oid in {m.order_id for m in report.moves}:
        b = by_id[oid]
        before += held_cost(backlog.network, b, backlog.cost)
        after += held_cost(backlog.network, BacklogOrder(b.order, final[oid]), backlog.cost)
    assert report.saving == pytest.approx(before - after, rel=1e-9, abs=1e-6)


def test_moves_apply_to_the_ledger_and_keep_it_consistent(backlog: Backlog,
                                                          report: ReoptReport) -> None:
    led = backlog.ledger
    total_reserved = int(led.reserved.sum())
    untouched = {b.order.id for b in backlog.orders} - {m.order_id for m in report.moves}
    kept = {oid: backlog.reservations[oid] for oid in list(untouched)[:500]}
    applied = apply_moves_memory(led, report.moves, backlog.reservations)
    assert applied == len(report.moves)  # nothing else moved the stock meanwhile
    _ledger_consistent(backlog)
    # Units move; a move may also fill units the myopic plan left unfilled, never fewer.
    gained = sum(sum(q for line in m.after_held() for _, q in line)
                 - sum(q for line in m.before for _, q in line) for m in report.moves)
    assert gained >= 0 and int(led.reserved.sum()) == total_reserved + gained
    for oid, ids in kept.items():  # orders not moved keep their very reservations
        assert backlog.reservations[oid] == ids
    for m in report.moves[-50:]:  # the final holdings are what the ledger reserves
        got = sorted((led.node_codes[led._reservations[r][0]], led._reservations[r][2])
                     for line in backlog.reservations[m.order_id] for r in line)
        want = sorted((n, q) for line in m.after_held() for n, q in line)
        assert got == want


def test_fixed_orders_left_out_keep_their_stock() -> None:
    b = synth_backlog(BacklogParams(seed=3, orders=400, nodes=30, dcs=4, skus=40))
    picked = {o.order.id for o in b.orders[::3]}  # picked: not part of the backlog
    rest = [o for o in b.orders if o.order.id not in picked]
    before = {oid: list(b.reservations[oid]) for oid in picked}
    rep = reoptimize(b.network, b.sku_codes, b.ledger.atp_all(), rest, b.cost)
    assert not picked & {m.order_id for m in rep.moves}
    apply_moves_memory(b.ledger, rep.moves, b.reservations)
    assert {oid: b.reservations[oid] for oid in picked} == before
    _ledger_consistent(b)


def test_threshold_and_time_limit() -> None:
    b = synth_backlog(BacklogParams(seed=5, orders=300, nodes=20, dcs=3, skus=30))
    free = b.ledger.atp_all()
    none = reoptimize(b.network, b.sku_codes, free, b.orders, b.cost,
                      params=ReoptParams(threshold=1e6))
    assert none.moves == [] and none.saving == 0.0
    some = reoptimize(b.network, b.sku_codes, free, b.orders, b.cost,
                      params=ReoptParams(threshold=2.0, passes=2))
    assert all(m.saving > 2.0 for m in some.moves)
    short = reoptimize(b.network, b.sku_codes, free, b.orders, b.cost,
                       params=ReoptParams(time_limit=1e-9))
    assert short.timed_out and short.moves == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"threshold": -1}, "expected threshold >= 0, got -1"),
    ({"time_limit": 0}, "expected time_limit > 0, got 0"),
    ({"passes": 0}, "expected passes >= 1, got 0"),
])
def test_params_are_validated(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReoptParams(**kwargs)  # type: ignore[arg-type]
