"""Candidate eligibility, filters and a hand-computed distance-model cost."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from allocation.candidates import build_candidates
from allocation.costs import CostModel, TransferRates
from allocation.network import Network, Order, OrderLine
from allocation.service import decide
from optimizer import plan_cost

MILES_PER_DEGREE = 6371.0 * np.pi / 180 / 1.61  # 69.0652 miles per degree of latitude


def test_known_answer_two_line_order_distance_model(
    meridian_network: Network, literature_costs: CostModel, two_line_order: Order,
    two_line_atp: np.ndarray,
) -> None:
    # One parcel from DC-B (3 degrees = 207.1955 mi): 8.759 + 3 * (0.423 + 0.000541 * 207.1955)
    # = 10.364278; X from DC-A and Y from DC-B = 2 * 8.759 + 2 * 0.460364 + 0.535093 = 18.973821.
    optimal, _ = decide(two_line_order, meridian_network, two_line_atp, "optimal",
                        cost=literature_costs)
    nearest, _ = decide(two_line_order, meridian_network, two_line_atp, "nearest",
                        cost=literature_costs)
    assert optimal.cost.total == pytest.approx(10.364278, abs=5e-7)
    assert nearest.cost.total == pytest.approx(18.973821, abs=5e-7)
    assert [p.node for p in optimal.parcels] == ["DC-B"]


def test_distances_are_the_literature_miles(
    meridian_network: Network, literature_costs: CostModel, two_line_order: Order,
    two_line_atp: np.ndarray,
) -> None:
    cands = build_candidates(meridian_network, two_line_order, two_line_atp, literature_costs)
    assert cands.miles.tolist() == pytest.approx([MILES_PER_DEGREE, 3 * MILES_PER_DEGREE])


def test_store_without_ship_from_store_is_not_a_candidate(meridian_network: Network) -> None:
    order = Order("o", (OrderLine("S", 1),), lat=40.0, lon=-75.0)
    atp = np.array([[0], [0], [3]])
    cands = build_candidates(meridian_network, order, atp, CostModel())
    assert meridian_network.codes[cands.nodes[0]] == "ST-1"
    assert cands.methods == ("ship_from_store",)
    flags = Network(meridian_network.codes, meridian_network.is_store, meridian_network.lat,
                    meridian_network.lon, [False, False, False],
                    meridian_network.click_and_collect, meridian_network.pick_capacity,
                    meridian_network.zip3)
    none = build_candidates(flags, order, atp, CostModel())
    assert len(none.nodes) == 0 and none.reasons == ("no_stock_at_eligible_node",)


def test_pickup_uses_shelf_and_transfers_with_ready_dates(meridian_network: Network) -> None:
    order = Order("p", (OrderLine("S", 2),), lat=40.0, lon=-75.0, method="pickup",
                  pickup_node="ST-1", placed_at=dt.datetime(2025, 3, 3, 10, 0))
    atp = np.array([[5], [0], [1]])
    cands = build_candidates(meridian_network, order, atp, CostModel())
    assert dict(zip(cands.methods, cands.promise, strict=True)) == {
        "pickup_via_transfer": dt.date(2025, 3, 4),  # zone 1 transfer: one day
        "pickup_from_shelf": dt.date(2025, 3, 3),
    }
    off = build_candidates(meridian_network, order, atp,
                           CostModel(transfer=TransferRates(enabled=False)))
    assert off.methods == ("pickup_from_shelf",)


def test_deadline_removes_late_nodes_with_a_reason(meridian_network: Network) -> None:
    order = Order("d", (OrderLine("S", 1),), lat=40.0, lon=-75.0,
                  placed_at=dt.datetime(2025, 3, 3, 16, 0), deliver_by=dt.date(2025, 3, 4))
    cands = build_candidates(meridian_network, order, np.array([[1], [1], [0]]), CostModel())
    assert len(cands.nodes) == 0 and cands.reasons == ("deadline",)


def test_opportunity_cost_steers_away_from_priced_stock(
    meridian_network: Network, literature_costs: CostModel,
) -> None:
    order = Order("o", (OrderLine("S", 1),), lat=40.0, lon=-75.0)
    atp = np.array([[1], [1], [0]])
    opp = np.array([[5.0], [0.0], [0.0]])
    cands = build_candidates(meridian_network, order, atp, literature_costs, opportunity=opp)
    assert cands.opp_unit[:, 0].tolist() == [5.0, 0.0]
    from optimizer import solve

    res = solve(cands.data)
    assert res.plan.x[:, 0].tolist() == [0, 1]
    assert plan_cost(cands.data, res.plan) == pytest.approx(res.cost)
