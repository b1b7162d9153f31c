"""A generated backlog for re-optimisation tests and benchmarks: sourced, not yet picked.

A network of DCs and ship-from-store stores around the US, a catalogue held unevenly, and
orders sourced one at a time by a myopic policy (nearest node with stock by default, as
many store systems do); afterwards replenishment arrives at the DCs, so stock that would
have served the backlog more cheaply is free now: the situation re-optimisation is for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocation.costs import CostModel
from allocation.ledger import MemoryLedger
from allocation.network import UNLIMITED, Network, Order, OrderLine
from allocation.reoptimize import BacklogOrder
from allocation.service import allocate

__all__ = ["Backlog", "BacklogParams", "synth_backlog"]


@dataclass(frozen=True)
class BacklogParams:
    """Size and shape of a generated backlog."""

    seed: int = 0
    nodes: int = 100
    dcs: int = 12
    skus: int = 300
    orders: int = 10_000
    max_lines: int = 3
    pickup_share: float = 0.1
    policy: str = "nearest"  # how the backlog was sourced
    replenish: float = 0.3  # DC receipts after sourcing, as a share of the units sourced

    def __post_init__(self) -> None:
        for name in ("nodes", "skus", "orders", "max_lines"):
            if getattr(self, name) < 1:
                raise ValueError(f"expected {name} >= 1, got {getattr(self, name)}")
        if not 1 <= self.dcs < self.nodes:
            raise ValueError(f"expected 1 <= dcs < nodes, got {self.dcs}")
        if not 0 <= self.pickup_share <= 1:
            raise ValueError(f"expected 0 <= pickup_share <= 1, got {self.pickup_share}")
        if self.replenish < 0:
            raise ValueError(f"expected replenish >= 0, got {self.replenish}")


@dataclass
class Backlog:
    """The network, ledger, sourced orders and their reservation ids per line."""

    network: Network
    sku_codes: list[str]
    ledger: MemoryLedger
    orders: list[BacklogOrder]
    reservations: dict[str, list[list[int]]]
    cost: CostModel


def synth_backlog(p: BacklogParams | None = None) -> Backlog:
    """Source `p.orders` random orders myopically on a random network, then replenish DCs."""
    p = p or BacklogParams()
    rng = np.random.default_rng(p.seed)
    n, n_st = p.nodes, p.nodes - p.dcs
    is_store = np.arange(n) >= p.dcs
    network = Network(
        codes=tuple([f"DC{k:02d}" for k in range(p.dcs)] + [f"ST{k:03d}" for k in range(n_st)]),
        is_store=is_store, lat=rng.uniform(27, 47, n), lon=rng.uniform(-121, -72, n),
        ship_from_store=is_store & (rng.random(n) < 0.8), click_and_collect=is_store,
        pick_capacity=np.full(n, UNLIMITED), zip3=np.full(n, -1))
    skus = [f"SKU{j:04d}" for j in range(p.skus)]
    pop = rng.pareto(1.2, p.skus) + 1.0
    pop /= pop.sum()
    # Units per order line are 1..2 over 1..max_lines lines: stock ~1.3x demand per SKU.
    demand = pop * p.orders * (1 + p.max_lines) / 2 * 1.5
    held_dc = rng.random((p.dcs, p.skus)) < 0.7
    on_hand = np.zeros((n, p.skus), np.int64)
    on_hand[: p.dcs] = held_dc * rng.poisson(demand * 1.3 / (0.7 * p.dcs) + 1, (p.dcs, p.skus))
    on_hand[p.dcs:] = (rng.random((n_st, p.skus)) < 0.3) * rng.integers(1, 6, (n_st, p.skus))
    ledger = MemoryLedger(network.codes, skus, on_hand)
    cost = CostModel()
    stores = [c for c, s in zip(network.codes, is_store, strict=True) if s]
    orders: list[BacklogOrder] = []
    reservations: dict[str, list[list[int]]] = {}
    sourced = np.zeros(p.skus, np.int64)
    for k in range(p.orders):
        k_lines = int(rng.integers(1, p.max_lines + 1))
        cols = rng.choice(p.skus, size=k_lines, replace=False, p=pop)
        lines = tuple(OrderLine(skus[j], int(rng.integers(1, 3))) for j in cols)
        if rng.random() < p.pickup_share:
            store = stores[int(rng.integers(len(stores)))]
            i = network.index[store]
            order = Order(f"B{k:05d}", lines, float(network.lat[i]), float(network.lon[i]),
                          method="pickup", pickup_node=store)
        else:
            order = Order(f"B{k:05d}", lines, float(rng.uniform(27, 47)),
                          float(rng.uniform(-121, -72)))
        d = allocate(order, network, ledger, p.policy, cost=cost, explain=False)
        held = tuple(tuple((a.node, a.qty) for a in ld.allocations) for ld in d.lines)
        if not any(held):
            continue
        # Reservation ids come back one per (node, SKU) item; share them out per line.
        by_item = dict(zip([(a.node, ld.sku) for ld in d.lines for a in ld.allocations],
                           d.reservations, strict=False))
        orders.append(BacklogOrder(order, held))
        reservations[order.id] = [[by_item[(node, line.sku)] for node, _ in h]
                                  for line, h in zip(lines, held, strict=True)]
        for ld in d.lines:
            sourced[skus.index(ld.sku)] += sum(a.qty for a in ld.allocations)
    for j in np.flatnonzero(sourced):
        qty = int(rng.poisson(p.replenish * sourced[j])) if p.replenish else 0
        if qty:
            ledger.receive(network.codes[int(rng.integers(p.dcs))], skus[int(j)], qty)
    return Backlog(network, skus, ledger, orders, reservations, cost)
