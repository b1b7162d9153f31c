"""What decide() remembers between calls never changes an answer.

Per network it keeps derived constants (radians, eligibility, pick rates per cost model),
distances and zones per customer location, and shipping prices per (location, chart, cost
model); dates per (day, offset) are shared. These tests pin each against the reference
formulas and check that hits, misses, evictions, writable charts and pickled networks all
give the decisions recorded in the golden file.
"""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pytest

import allocation.candidates as C
from allocation.costs import CostModel, Timing, promise_dates, zone_from_miles, zones_for
from allocation.geo import haversine_miles, haversine_miles_pre
from allocation.network import Network, Order, OrderLine, unique_skus
from allocation.policies import get_policy
from allocation.service import decide
from tests.allocation.test_decide_golden import GOLDEN, _cases, digest, snapshot
from tests.allocation.test_decide_golden import _network as golden_network


def _golden() -> dict[str, str]:
    import json

    return json.loads(GOLDEN.read_text())["hashes"]  # type: ignore[no-any-return]


def _decide(cid: str, network: Network, order: Order, atp: np.ndarray,
            kwargs: dict[str, object]) -> str:
    kw = dict(kwargs)
    policy = str(kw.pop("policy"))
    decision, cands = decide(order, network, atp, policy, **kw)  # type: ignore[arg-type]
    return digest(snapshot(decision, cands))


def test_haversine_with_precomputed_origins_is_bit_identical() -> None:
    rng = np.random.default_rng(0)
    lat, lon = rng.uniform(-89, 89, 500), rng.uniform(-179, 179, 500)
    p1 = np.radians(lat)
    for la, lo in zip(rng.uniform(-89, 89, 50), rng.uniform(-179, 179, 50), strict=True):
        ref = haversine_miles(lat, lon, float(la), float(lo))
        assert np.array_equal(haversine_miles_pre(p1, np.cos(p1), lon, float(la), float(lo)),
                              ref)
        # ... and every element equals the subset computation the old code did.
        idx = rng.choice(500, 20, replace=False)
        assert np.array_equal(ref[idx], haversine_miles(lat[idx], lon[idx], float(la),
                                                        float(lo)))


@pytest.mark.parametrize("dest", [None, -1, 5, 19, 999, 1000, 1200])
def test_zones_for_every_node_equal_zones_for(dest: int | None) -> None:
    rng = np.random.default_rng(1)
    network = golden_network("large")
    st = C._static(network)
    miles = rng.uniform(0, 3000, len(network))
    chart = rng.integers(0, 10, (1000, 1000)).astype(np.uint8)
    band = zone_from_miles(miles)
    for zm in (chart, None, chart[:500]):
        got = C._zones_all(st, network.zip3, dest, band, miles, zm)
        ref = zones_for(network.zip3, dest, miles, zm)
        assert got.dtype == ref.dtype and np.array_equal(got, ref)


def test_promise_dates_per_kind_equal_promise_dates() -> None:
    rng = np.random.default_rng(2)
    is_store = rng.random(40) < 0.5
    days = rng.integers(0, 8, 40)
    for timing in (Timing(), Timing(processing_days_dc=1, cutoff_hour_store=0)):
        for hour, minute in ((0, 0), (11, 59), (12, 0), (13, 30), (14, 0), (23, 59)):
            placed = dt.datetime(2025, 3, 3, hour, minute)
            ref = promise_dates(placed, is_store, days, timing)
            h = placed.hour + placed.minute / 60.0
            extra_store = timing.processing_days_store + (h >= timing.cutoff_hour_store)
            extra_dc = timing.processing_days_dc + (h >= timing.cutoff_hour_dc)
            got = [C._plus_days(placed.date(), int((extra_store if s else extra_dc) + d))
                   for s, d in zip(is_store.tolist(), days.tolist(), strict=True)]
            assert got == ref


def test_unique_skus_keeps_order_totals_and_positions() -> None:
    lines = (OrderLine("B", 2), OrderLine("A", 1), OrderLine("B", 3), OrderLine("C", 1))
    skus, qty, where = unique_skus(lines)
    assert skus == ["B", "A", "C"]
    assert qty.dtype == np.int64 and qty.tolist() == [5, 1, 1]
    assert where.dtype == np.int64 and where.tolist() == [0, 1, 0, 2]


def test_repeat_locations_cache_hits_and_evictions_keep_every_decision() -> None:
    golden = _golden()
    for kind, n in (("small", 120), ("large", 60)):
        cases = [c for _, c in zip(range(n), _cases(kind), strict=False)]
        st = C._static(cases[0][1])
        # Second pass: every location is now remembered (hits), in another order.
        for cid, network, order, atp, kwargs in reversed(cases):
            assert _decide(cid, network, order, atp, kwargs) == golden[cid], cid
        assert all((o.lat, o.lon) in st.dest for _, _, o, _, _ in cases)
        # A tiny cache evicts on every call: still the same decisions.
        st.dest.clear()
        st.max_dest = 2
        for cid, network, order, atp, kwargs in cases[::3]:
            assert _decide(cid, network, order, atp, kwargs) == golden[cid], cid
        assert len(st.dest) <= 2


def test_a_writable_zone_chart_is_priced_afresh_and_agrees() -> None:
    golden = _golden()
    checked = 0
    for cid, network, order, atp, kwargs in _cases("small"):
        chart = kwargs["zone_matrix"]
        if chart is None:
            continue
        writable = np.array(chart)  # a copy: writable, so never remembered
        assert writable.flags.writeable
        assert _decide(cid, network, order, atp, dict(kwargs, zone_matrix=writable)) == \
            golden[cid], cid
        st = C._static(network)
        assert not any(key[1] == id(writable) for d in st.dest.values() for key in d.ship)
        checked += 1
        if checked == 60:
            break
    assert checked == 60


def test_a_chart_changed_in_place_is_seen_when_writable() -> None:
    network = golden_network("small")
    order = Order("z", (OrderLine("S0", 1),), lat=30.0, lon=-97.0, zip3=760)
    atp = np.full((len(network), 1), 3)
    chart = np.ones((1000, 1000), np.uint8)
    first, _ = decide(order, network, atp, "optimal", zone_matrix=chart)
    chart[:, 760] = 8  # every origin now zone 8: dearer parcels
    second, _ = decide(order, network, atp, "optimal", zone_matrix=chart)
    fresh, _ = decide(order, network, atp, "optimal", zone_matrix=chart.copy())
    assert second.cost.total > first.cost.total
    assert second.to_dict()["cost"] == fresh.to_dict()["cost"]


def test_pickled_networks_carry_no_memo_and_decide_the_same() -> None:
    golden = _golden()
    cases = [c for _, c in zip(range(40), _cases("small"), strict=False)]
    network = cases[0][1]
    for cid, _, order, atp, kwargs in cases[:5]:
        _decide(cid, network, order, atp, kwargs)
    assert network.memo
    copy = pickle.loads(pickle.dumps(network))
    assert copy.memo == {} and copy.codes == network.codes
    assert "_memo" not in network.__getstate__()
    for cid, _, order, atp, kwargs in cases:
        assert _decide(cid, copy, order, atp, kwargs) == golden[cid], cid


def test_cost_models_are_told_apart_by_identity() -> None:
    network = golden_network("small")
    st = C._static(network)
    a, b = CostModel(), CostModel(unfilled_per_unit=1.0)
    assert st.priced_by(network, a) is st.priced_by(network, a)
    assert st.priced_by(network, a) is not st.priced_by(network, b)
    for _ in range(3 * C._MAX_PRICED):  # fresh models (cost=None callers) stay bounded
        st.priced_by(network, CostModel())
    assert len(st.priced) <= C._MAX_PRICED


def test_builtin_policies_are_shared_and_others_are_not() -> None:
    assert get_policy("optimal") is get_policy("optimal")
    assert get_policy("nearest") is get_policy("nearest")
    assert get_policy("forecast_aware") is not get_policy("forecast_aware")
    with pytest.raises(ValueError, match="unknown policy"):
        get_policy("cheapest")
