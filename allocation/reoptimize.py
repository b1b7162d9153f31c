"""Backlog re-optimisation: re-plan allocated-but-unpicked orders, move only what saves enough.

Orders are sourced one at a time as they arrive, against the stock of that moment; later
receipts, cancellations and re-routes free stock that would have served them more cheaply.
`reoptimize` visits the backlog in sequence (a Gauss-Seidel local search): each order gets
the free stock plus the units its own reservations hold, is solved exactly, and moves when
the new plan beats its incumbent by more than the threshold; the free stock is updated at
once, so the next order sees the move. Moves are therefore feasible when applied in the
returned order, and the reported saving is exactly the sum of the moves' cost differences
under the cost model (no opportunity prices: real money only).

Pure: arrays and dataclasses in, a list of moves out. `apply_moves_memory` applies them to a
MemoryLedger; the live service applies them through the database ledger (api/orders).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from allocation.candidates import build_candidates
from allocation.costs import CostModel
from allocation.decision import build_decision
from allocation.errors import InsufficientStock
from allocation.ledger import MemoryLedger, ReserveItem
from allocation.network import UNLIMITED, Network, Order, unique_skus
from optimizer.problem import Plan, plan_cost
from optimizer.reoptimize import ReoptParams, improve

__all__ = ["BacklogOrder", "Move", "ReoptParams", "ReoptReport", "apply_moves_memory",
           "held_cost", "reoptimize"]

HeldLine = tuple[tuple[str, int], ...]  # (node code, units) held for one order line


@dataclass(frozen=True)
class BacklogOrder:
    """A sourced order, the units each line holds per node, and the caller's line ids."""

    order: Order
    held: tuple[HeldLine, ...]  # one entry per order line
    line_refs: tuple[int, ...] = ()  # e.g. database order_line ids, one per line

    def __post_init__(self) -> None:
        n = len(self.order.lines)
        if len(self.held) != n:
            raise ValueError(f"expected {n} held entries for order {self.order.id}, "
                             f"got {len(self.held)}")
        if self.line_refs and len(self.line_refs) != n:
            raise ValueError(f"expected {n} line_refs for order {self.order.id}")
        for line, held in zip(self.order.lines, self.held, strict=True):
            units = sum(q for _, q in held)
            if any(q <= 0 for _, q in held) or units > line.qty:
                raise ValueError(f"expected 0 < held units <= {line.qty} for {line.sku} of "
                                 f"order {self.order.id}, got {units}")


@dataclass(frozen=True)
class Move:
    """Re-source one order: release `before`, reserve `after` (per line: node, units, method)."""

    order_id: str
    line_refs: tuple[int, ...]
    skus: tuple[str, ...]  # per line
    before: tuple[HeldLine, ...]
    after: tuple[tuple[tuple[str, int, str], ...], ...]
    cost_before: float
    cost_after: float

    @property
    def saving(self) -> float:
        """Cost before minus cost after."""
        return self.cost_before - self.cost_after

    def after_held(self) -> tuple[HeldLine, ...]:
        """The new holdings without methods."""
        return tuple(tuple((n, q) for n, q, _ in line) for line in self.after)


@dataclass
class ReoptReport:
    """What a re-optimisation found: moves in apply order, saving, how far it got."""

    moves: list[Move] = field(default_factory=list)
    orders: int = 0  # backlog size
    visited: int = 0  # order visits (over all passes)
    unpriceable: int = 0  # incumbent uses a node no longer eligible: left alone
    passes: int = 0
    seconds: float = 0.0
    timed_out: bool = False

    @property
    def saving(self) -> float:
        """Total saving of the moves (dollars, >= 0)."""
        return float(sum(m.saving for m in self.moves))

    @property
    def moved_orders(self) -> int:
        """Distinct orders moved."""
        return len({m.order_id for m in self.moves})

    def summary(self) -> dict[str, float | int | bool]:
        """JSON-ready headline numbers."""
        return {"orders": self.orders, "visited": self.visited, "moves": len(self.moves),
                "moved_orders": self.moved_orders, "saving": round(self.saving, 6),
                "unpriceable": self.unpriceable, "passes": self.passes,
                "seconds": round(self.seconds, 3), "timed_out": self.timed_out}


def _own(network: Network, b: BacklogOrder, skus: list[str]) -> np.ndarray:
    """(nodes, distinct SKUs) units the order holds."""
    col = {s: j for j, s in enumerate(skus)}
    own = np.zeros((len(network), len(skus)), np.int64)
    for line, held in zip(b.order.lines, b.held, strict=True):
        for node, q in held:
            own[network.index[node], col[line.sku]] += q
    return own


def held_cost(network: Network, b: BacklogOrder, cost: CostModel | None = None, *,
              zone_matrix: np.ndarray | None = None, now: dt.datetime | None = None) -> float:
    """Cost of an order's holdings under the cost model, priced on their own (no ATP needed)."""
    skus, qty, _ = unique_skus(b.order.lines)
    own = _own(network, b, skus)
    # ATP = the order's quantity everywhere: every eligible node is a candidate, so the price
    # of a holding never depends on the stock of the moment.
    atp = np.broadcast_to(qty[None, :], own.shape)
    cands = build_candidates(network, b.order, atp, cost or CostModel(),
                             capacity=np.full(len(network), UNLIMITED),
                             zone_matrix=zone_matrix, now=now)
    pos = {int(n): k for k, n in enumerate(cands.nodes)}
    x = np.zeros((len(cands.nodes), len(skus)), np.int64)
    for i in np.flatnonzero(own.sum(axis=1)):
        if int(i) not in pos:
            raise ValueError(f"order {b.order.id} holds stock at ineligible node "
                             f"{network.codes[i]}")
        x[pos[int(i)]] = own[i]
    return plan_cost(cands.data, Plan(x, qty - own.sum(axis=0)))


def reoptimize(
    network: Network, sku_codes: Sequence[str], free: np.ndarray,
    backlog: Sequence[BacklogOrder], cost: CostModel | None = None, *,
    params: ReoptParams | None = None, capacity: np.ndarray | None = None,
    zone_matrix: np.ndarray | None = None, now: dt.datetime | None = None,
) -> ReoptReport:
    """Re-plan the backlog in sequence; moves (apply in order) that each save > threshold.

    `free` is ATP (nodes, SKUs) not held by anyone; `capacity` the pick capacity left per
    node (None: the network's). Orders past the time limit keep their plans.
    """
    params = params or ReoptParams()
    cost = cost or CostModel()
    start = time.perf_counter()
    col = {s: j for j, s in enumerate(sku_codes)}
    free = np.array(free, np.int64, copy=True).reshape(len(network), len(col))
    if (free < 0).any():
        raise ValueError("expected free stock >= 0")
    cap = np.array(network.pick_capacity if capacity is None else capacity, np.int64)
    held = [b.held for b in backlog]
    report = ReoptReport(orders=len(backlog))
    for _ in range(params.passes):
        report.passes += 1
        moved = 0
        for k, b in enumerate(backlog):
            if time.perf_counter() - start > params.time_limit:
                report.timed_out = True
                break
            report.visited += 1
            cur = BacklogOrder(b.order, held[k], b.line_refs)
            skus, qty, _ = unique_skus(b.order.lines)
            cols = np.array([col[s] for s in skus], np.int64)
            own = _own(network, cur, skus)
            atp = free[:, cols] + own  # its own release frees its units for it
            cap_k = np.minimum(cap + own.sum(axis=1), UNLIMITED)
            cands = build_candidates(network, b.order, atp, cost, capacity=cap_k,
                                     zone_matrix=zone_matrix, now=now)
            pos = {int(n): i for i, n in enumerate(cands.nodes)}
            rows = np.flatnonzero(own.sum(axis=1))
            if any(int(i) not in pos for i in rows):
                report.unpriceable += 1
                continue
            x = np.zeros((len(cands.nodes), len(skus)), np.int64)
            for i in rows:
                x[pos[int(i)]] = own[i]
            better = improve(cands.data, Plan(x, qty - own.sum(axis=0)), params)
            if better is None:
                continue
            decision = build_decision(b.order, network, cands, better.plan, "reoptimize",
                                      None, False)
            after = tuple(tuple((a.node, a.qty, a.method) for a in ld.allocations)
                          for ld in decision.lines)
            new = np.zeros_like(own)
            new[cands.nodes] = better.plan.x
            free[:, cols] = atp - new
            cap = cap_k - new.sum(axis=1)
            report.moves.append(Move(
                b.order.id, b.line_refs, tuple(b.order.skus), held[k], after,
                better.cost_before, better.cost_after))
            held[k] = report.moves[-1].after_held()
            moved += 1
        if report.timed_out or moved == 0:
            break
    report.seconds = time.perf_counter() - start
    return report


def apply_moves_memory(ledger: MemoryLedger, moves: Sequence[Move],
                       reservations: dict[str, list[list[int]]]) -> int:
    """Apply moves in order: release each order's reservations, reserve the new plan.

    `reservations` maps order id -> reservation ids per line and is updated in place. A move
    whose new plan cannot be had any more is undone (the old units re-reserved) and skipped.
    Returns the number of moves applied.
    """
    applied = 0
    for m in moves:
        old = reservations[m.order_id]
        ledger.release([r for line in old for r in line])
        try:
            ids = _reserve_lines(ledger, m.order_id, m.skus, m.after_held())
        except InsufficientStock:
            # Just released, so always available again: the order keeps its old plan.
            reservations[m.order_id] = _reserve_lines(ledger, m.order_id, m.skus, m.before)
            continue
        reservations[m.order_id] = ids
        applied += 1
    return applied


def _reserve_lines(ledger: MemoryLedger, order_id: str, skus: Sequence[str],
                   held: Sequence[HeldLine]) -> list[list[int]]:
    """Reserve per line, all or nothing; reservation ids per line."""
    items = [ReserveItem(node, sku, q, reference=order_id)
             for sku, line in zip(skus, held, strict=True) for node, q in line]
    ids = iter(ledger.reserve(items, reference=order_id)) if items else iter(())
    return [[next(ids) for _ in line] for line in held]
