"""`decide` (pure, on an ATP array) and `allocate` (read ATP, decide, reserve atomically, retry)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from allocation.candidates import Candidates, build_candidates
from allocation.costs import CostModel, OpportunityCosts
from allocation.decision import Decision, build_decision
from allocation.errors import InsufficientStock
from allocation.ledger import Ledger, OrderHold, ReserveItem
from allocation.network import Network, Order, unique_skus
from allocation.policies import Policy, get_policy

__all__ = ["OpportunityCosts", "allocate", "decide", "reserve_items"]

DEFAULT_ATTEMPTS = 3
_DEFAULT_COST = CostModel()  # frozen: one shared instance keeps its per-network constants warm




def decide(
    order: Order,
    network: Network,
    atp: np.ndarray,
    policy: Policy | str = "optimal",
    *,
    cost: CostModel | None = None,
    capacity: np.ndarray | None = None,
    zone_matrix: np.ndarray | None = None,
    sku_weights: Mapping[str, float] | None = None,
    opportunity: OpportunityCosts | None = None,
    now: dt.datetime | None = None,
    explain: bool = True,
) -> tuple[Decision, Candidates]:
    """Decide one order on an ATP array of shape (nodes, distinct SKUs in first-seen order).

    `explain=False` skips the runner-up per line: simulations and replays never show it.
    """
    pol = get_policy(policy) if isinstance(policy, str) else policy
    weights = opp = None
    if sku_weights is not None or opportunity is not None:
        skus, _, _ = unique_skus(order.lines)
        if sku_weights is not None:
            weights = np.array([sku_weights.get(s, 1.0) for s in skus])
        if opportunity is not None:
            opp = opportunity.for_skus(skus)
    start = time.perf_counter()
    cands = build_candidates(
        network, order, atp, cost or _DEFAULT_COST, capacity=capacity, weights=weights,
        zone_matrix=zone_matrix, opportunity=opp, now=now)
    plan, info = pol.plan(cands)
    info = dict(info, seconds=time.perf_counter() - start)
    return build_decision(order, network, cands, plan, pol.name, info, explain), cands


def reserve_items(decision: Decision) -> list[ReserveItem]:
    """One reservation item per (node, SKU) the decision takes stock from."""
    merged: dict[tuple[str, str], int] = {}
    for line in decision.lines:
        for a in line.allocations:
            merged[a.node, line.sku] = merged.get((a.node, line.sku), 0) + a.qty
    return [ReserveItem(node, sku, q, reference=decision.order)
            for (node, sku), q in merged.items()]


def allocate(
    order: Order,
    network: Network,
    ledger: Ledger,
    policy: Policy | str = "optimal",
    *,
    cost: CostModel | None = None,
    zone_matrix: np.ndarray | None = None,
    sku_weights: Mapping[str, float] | None = None,
    opportunity: OpportunityCosts | None = None,
    now: dt.datetime | None = None,
    max_attempts: int = DEFAULT_ATTEMPTS,
    explain: bool = True,
) -> Decision:
    """Read ATP, decide, reserve every line at once; re-decide on a lost race (never oversell).

    Raises InsufficientStock when the stock keeps moving under us for `max_attempts` tries.
    """
    if list(ledger.node_codes) != list(network.codes):
        raise ValueError("expected the ledger's nodes in the network's order")
    skus, _, _ = unique_skus(order.lines)
    last: InsufficientStock | None = None
    for attempt in range(1, max_attempts + 1):
        atp = ledger.atp(skus)
        left = getattr(ledger, "capacity_left", None)
        capacity = left() if callable(left) else None
        decision, _ = decide(order, network, atp, policy, cost=cost, capacity=capacity,
                             zone_matrix=zone_matrix, sku_weights=sku_weights,
                             opportunity=opportunity, now=now, explain=explain)
        items = reserve_items(decision)
        decision = replace(decision, attempts=attempt)
        try:
            ids = ledger.commit(OrderHold(order, decision, tuple(items)))
        except InsufficientStock as exc:  # someone took the stock between read and write
            last = exc
            continue
        return replace(decision, reservations=tuple(ids))
    assert last is not None
    raise last
