"""Per-node pick cost overrides the cost model's rate by node kind."""

from __future__ import annotations

import numpy as np

from allocation.costs import CostModel
from allocation.network import Network, Order, OrderLine
from allocation.service import decide

NODES = [
    {"code": "ST-1", "kind": "store", "lat": 33.0, "lon": -97.0, "ship_from_store": True,
     "pick_cost": 0.10},
    {"code": "ST-2", "kind": "store", "lat": 33.0, "lon": -97.0, "ship_from_store": True},
]


def test_cheaper_pick_labour_wins_between_twin_stores() -> None:
    net = Network.from_records(NODES)
    order = Order("o-1", (OrderLine("A", 3),), lat=33.1, lon=-97.1)
    decision, _ = decide(order, net, np.array([[5], [5]]), "optimal", cost=CostModel())
    assert [p.node for p in decision.parcels] == ["ST-1"]
    # 3 units at the node's own rate, not the store default of 1.10.
    assert abs(decision.cost.pick - 0.30) < 1e-9
    assert np.isnan(net.pick_cost[1])
