"""The pattern LP's prices by Lagrangian dual ascent: no master LP, only compiled pricing.

Relaxing the stock rows (and pick capacity) of the pattern LP with prices p >= 0 splits it
into one tiny problem per order type, the pricing problem `optimizer.colgen` solves for all
types in one pass:

    phi(p) = sum_k count_k * min_pattern (cost + p . use)  -  p . stock
             + sum_walk-ins qty * min(0, p - margin)

phi is concave, every phi(p) is a lower bound on the LP's value (weak duality), and its
maximisers are the LP's stock duals. A subgradient is expected use minus stock. The ascent
takes Polyak steps towards a target level above the best bound found (the target drops
when the ascent stalls), and a re-solve starts from the last prices: the remaining demand
and stock move a little between re-solves, so a few passes track the optimum. This is the
first-order choice when the master LP's simplex pivots cost too much (thousands of order
types): a pass over 6,336 types of up to 8 lines takes ~20 ms, and the prices it returns
are those of the best bound it found.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from optimizer.colgen import TypeTable, price_all
from optimizer.dlp import DLPResult, DLPType
from optimizer.pattern import WalkInDemand

__all__ = ["LagrangeLP", "LagrangeParams", "lagrangian_bound"]

_UNCAPPED = 1 << 40


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.multiply(a, b).sum())


@dataclass(frozen=True)
class LagrangeParams:
    """How hard the ascent works on the first solve and on every re-solve."""

    first_rounds: int = 150  # pricing passes of the first solve (from zero or given prices)
    rounds: int = 10  # pricing passes of a re-solve, from the last prices
    start_gap: float = 0.02  # first target: best bound + this share of it
    min_gap: float = 1e-4  # the target never comes closer than this share
    resolve_gap: float = 3e-3  # a re-solve aims at least this share above its start
    stall: int = 3  # passes without a better bound before the target drops by half

    def __post_init__(self) -> None:
        if self.first_rounds < 1 or self.rounds < 1:
            raise ValueError("expected first_rounds >= 1 and rounds >= 1")
        if not 0 < self.min_gap <= self.start_gap or self.resolve_gap < self.min_gap:
            raise ValueError("expected 0 < min_gap <= start_gap and resolve_gap >= min_gap")
        if self.stall < 1:
            raise ValueError(f"expected stall >= 1, got {self.stall}")


class LagrangeLP:
    """Stock prices of the pattern LP by dual ascent; `PatternLP`'s update/solve interface."""

    def __init__(self, types: Sequence[DLPType], shape: tuple[int, int],
                 capacity: np.ndarray | None = None,
                 params: LagrangeParams | None = None) -> None:
        self.params = params or LagrangeParams()
        self.shape = shape
        self.table = TypeTable.build(types)
        n_t = len(self.table)
        self._line_type = np.repeat(np.arange(n_t), self.table.lines)
        self._counts = np.zeros(n_t)
        self._inv = np.zeros(shape[0] * shape[1])
        cap = None if capacity is None else np.asarray(capacity, np.float64)
        self._capped = (np.zeros(0, np.int64) if cap is None
                        else np.flatnonzero(cap < _UNCAPPED))
        self._cap = np.zeros(len(self._capped)) if cap is None else cap[self._capped]
        self._walk = WalkInDemand.empty()
        self._p = np.zeros(shape[0] * shape[1])
        self._cp = np.zeros(shape[0])
        self._gap: float | None = None
        self.solves = 0
        self.columns = 0  # no master: nothing is kept but the prices
        self.last_stats: dict[str, float] = {}

    def update(self, counts: np.ndarray, inventory: np.ndarray,
               capacity: np.ndarray | None = None,
               walkins: WalkInDemand | None = None) -> None:
        """New right-hand sides: expected count per type, stock, capacity left, walk-ins."""
        counts = np.asarray(counts, np.float64)
        if counts.shape != (len(self.table),) or (counts < 0).any():
            raise ValueError(f"expected {len(self.table)} counts >= 0")
        inv = np.asarray(inventory, np.float64)
        if inv.shape != self.shape:
            raise ValueError(f"expected inventory of shape {self.shape}, got {inv.shape}")
        self._counts = counts
        self._inv = np.maximum(inv, 0.0).reshape(-1)
        if capacity is not None and len(self._capped):
            self._cap = np.maximum(np.asarray(capacity, np.float64)[self._capped], 0.0)
        self._walk = walkins or WalkInDemand.empty()

    def start_from(self, prices: np.ndarray, cap_prices: np.ndarray | None = None,
                   gap: float | None = None) -> None:
        """Continue from known prices (an exact LP's duals): the next solve is a re-solve."""
        self._p = np.maximum(np.asarray(prices, np.float64), 0.0).reshape(-1).copy()
        if cap_prices is not None:
            self._cp = np.maximum(np.asarray(cap_prices, np.float64), 0.0).copy()
        self._gap = self.params.min_gap if gap is None else gap
        self.solves = max(self.solves, 1)

    def _evaluate(self, p: np.ndarray, cp: np.ndarray,
                  ) -> tuple[float, np.ndarray, np.ndarray]:
        """phi(p, cp) and its subgradients (stock cells, capped nodes)."""
        tab = self.table
        n_skus = self.shape[1]
        todo = np.flatnonzero(self._counts > 0)
        adj, _, assign = price_all(tab, p.reshape(self.shape), cp, todo)
        real = assign >= 0
        w = self._counts[self._line_type[real]]
        node = tab.nodes[tab.node_ptr[self._line_type[real]] + assign[real]]
        g = np.bincount(node * n_skus + tab.skus[real], weights=w,
                        minlength=len(p)).astype(np.float64) - self._inv
        walk = self._walk
        # Element-wise products, not BLAS dots: a multithreaded BLAS would spin a second
        # core on every pass for vectors this short.
        phi = _dot(self._counts[todo], adj[todo]) - _dot(self._inv, p)
        if len(walk.qty):
            key = np.asarray(walk.node, np.int64) * n_skus + np.asarray(walk.sku, np.int64)
            q, m = np.asarray(walk.qty, np.float64), np.asarray(walk.margin, np.float64)
            phi += _dot(q, np.minimum(p[key] - m, 0.0))
            served = p[key] < m
            np.add.at(g, key[served], q[served])
        gc = np.zeros(0)
        if len(self._capped):
            gc = (np.bincount(node, weights=w, minlength=self.shape[0]).astype(np.float64)
                  [self._capped] - self._cap)
            phi -= _dot(self._cap, cp[self._capped])
        return phi, g, gc

    def solve(self, **_: Any) -> DLPResult:
        """Ascend from the last prices; value is the best bound found (a lower bound)."""
        start = time.perf_counter()
        prm = self.params
        rounds = prm.first_rounds if self.solves == 0 else prm.rounds
        p, cp = self._p.copy(), self._cp.copy()
        capped = self._capped
        phi, g, gc = self._evaluate(p, cp)
        best, best_p, best_cp = phi, p.copy(), cp.copy()
        gap = prm.start_gap if self._gap is None else self._gap
        gap = max(gap, prm.min_gap if self.solves == 0 else prm.resolve_gap)
        stall = 0
        passes = 1
        for _ in range(rounds):
            gp = np.where((p > 0) | (g > 0), g, 0.0)
            gcp = np.where((cp[capped] > 0) | (gc > 0), gc, 0.0)
            norm = _dot(gp, gp) + _dot(gcp, gcp)
            if norm <= 1e-18:
                break  # a feasible use of stock at these prices: the bound is the optimum
            target = best + gap * max(abs(best), 1.0)
            step = (target - phi) / norm
            p = np.maximum(p + step * g, 0.0)
            if len(capped):
                cp[capped] = np.maximum(cp[capped] + step * gc, 0.0)
            phi, g, gc = self._evaluate(p, cp)
            passes += 1
            if phi >= target:  # the target was too modest: aim higher
                gap *= 1.5
            if phi > best:
                best, best_p, best_cp, stall = phi, p.copy(), cp.copy(), 0
            else:
                stall += 1
                if stall >= prm.stall:
                    gap, stall = max(gap / 2, prm.min_gap), 0
        self._p, self._cp, self._gap = best_p, best_cp, gap
        self.solves += 1
        self.last_stats = {"iterations": float(passes),
                           "lp_seconds": time.perf_counter() - start, "bound": best}
        return DLPResult(best, best_p.reshape(self.shape).copy(), passes, 0, False)

    @property
    def cap_prices(self) -> np.ndarray:
        """The last capacity prices per node (zero for uncapped nodes)."""
        return self._cp.copy()


def lagrangian_bound(types: Sequence[DLPType], inventory: np.ndarray,
                     capacity: np.ndarray | None = None, *, rounds: int = 400,
                     walkins: WalkInDemand | None = None) -> DLPResult:
    """A lower bound on the pattern LP (the DLP) by dual ascent over every candidate node.

    Every phi(p) is a valid bound, so the best one found is; it approaches the LP's value
    from below (`converged` is False: no optimality certificate). For LPs whose simplex
    master is too large to solve in minutes.
    """
    inv = np.asarray(inventory, np.float64)
    lp = LagrangeLP(types, inv.shape, capacity, LagrangeParams(first_rounds=rounds))
    lp.update(np.array([t.count for t in types], np.float64), inv, walkins=walkins)
    return lp.solve()
