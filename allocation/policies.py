"""Sourcing policies behind one interface: `nearest`, `rules` and `optimal`.

- nearest: each line from the closest node with stock (the myopic baseline of the papers);
- rules: fewest parcels, then closest (Shopify's and Spree's default behaviour);
- optimal: the exact least-cost plan of the cost model (optimizer.solve).
All return a feasible plan over the candidates: ATP, pick capacity and the parcel limit hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from allocation.candidates import Candidates
from optimizer.problem import Plan, SolveParams
from optimizer.solve import solve

__all__ = ["POLICIES", "NearestPolicy", "OptimalPolicy", "Policy", "RulesPolicy", "get_policy"]


class Policy(Protocol):
    """Chooses a plan for one order's candidates."""

    name: str

    def plan(self, cands: Candidates) -> tuple[Plan, dict[str, object]]:
        """A feasible plan and how it was found (method, optimality, timings)."""
        ...


class _Fill:
    """Mutable bookkeeping of a constructive plan (units, capacity left, open parcels)."""

    def __init__(self, cands: Candidates) -> None:
        d = cands.data
        self.data = d
        self.x = np.zeros((d.n_nodes, d.n_lines), np.int64)
        self.left = d.qty.copy()
        self.cap = d.capacity.copy()

    def can_open(self) -> bool:
        return int((self.x.sum(axis=1) > 0).sum()) < self.data.parcel_limit

    def room(self, n: int, s: int) -> int:
        """Units node n can still add to column s."""
        if not self.x[n].any() and not self.can_open():
            return 0
        return int(min(self.data.avail[n, s] - self.x[n, s], self.cap[n], self.left[s]))

    def take(self, n: int, s: int, q: int) -> None:
        self.x[n, s] += q
        self.cap[n] -= q
        self.left[s] -= q

    def plan(self) -> Plan:
        return Plan(self.x, self.left.copy())


@dataclass(frozen=True)
class NearestPolicy:
    """Per line, the closest node with stock; split to the next closest when it runs out."""

    name: str = "nearest"

    def plan(self, cands: Candidates) -> tuple[Plan, dict[str, object]]:
        """Fill line by line in order of distance."""
        fill = _Fill(cands)
        order = np.argsort(cands.miles, kind="stable")
        for s in range(cands.data.n_lines):
            for n in order:
                if fill.left[s] == 0:
                    break
                q = fill.room(int(n), s)
                if q > 0:
                    fill.take(int(n), s, q)
        return fill.plan(), {"method": "nearest", "optimal": False}


@dataclass(frozen=True)
class RulesPolicy:
    """Fewest parcels (one node for everything if any, else greedy cover), then closest."""

    name: str = "rules"

    def plan(self, cands: Candidates) -> tuple[Plan, dict[str, object]]:
        """Greedy set cover by units, ties broken by distance."""
        fill = _Fill(cands)
        d = cands.data
        while fill.left.any():
            room = np.minimum(d.avail - fill.x, fill.left[None, :])
            room = np.maximum(room, 0)
            units = np.minimum(room.sum(axis=1), fill.cap)
            if not fill.can_open():
                units = np.where(fill.x.sum(axis=1) > 0, units, 0)
            if units.max(initial=0) <= 0:
                break
            # Most units first; among equals the closest (lexsort: last key is primary).
            n = int(np.lexsort((cands.miles, -units))[0])
            for s in range(d.n_lines):
                q = fill.room(n, s)
                if q > 0:
                    fill.take(n, s, q)
        return fill.plan(), {"method": "rules", "optimal": False}


@dataclass(frozen=True)
class OptimalPolicy:
    """Exact least cost of the cost model (CP-SAT with provably exact fast paths)."""

    name: str = "optimal"
    params: SolveParams = field(default_factory=SolveParams)

    def plan(self, cands: Candidates) -> tuple[Plan, dict[str, object]]:
        """Solve the frozen per-order problem."""
        result = solve(cands.data, self.params)
        return result.plan, {"method": result.method, "optimal": result.optimal,
                             "solve_seconds": result.seconds}


def _forecast_aware() -> Policy:
    # Imported late: ForecastAwarePolicy builds on OptimalPolicy, defined in this module.
    from allocation.forecast_aware import ForecastAwarePolicy

    return ForecastAwarePolicy()


POLICIES: dict[str, Any] = {"nearest": NearestPolicy, "rules": RulesPolicy,
                            "optimal": OptimalPolicy, "forecast_aware": _forecast_aware}


# The built-in policies are frozen and stateless: one default instance each is shared.
_SHARED = (NearestPolicy, RulesPolicy, OptimalPolicy)
_instances: dict[str, tuple[Any, Policy]] = {}


def get_policy(name: str) -> Policy:
    """The policy registered under `name` with default settings."""
    try:
        factory = POLICIES[name]
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; expected one of {sorted(POLICIES)}") from None
    if factory not in _SHARED:
        return factory()  # type: ignore[no-any-return]
    hit = _instances.get(name)
    if hit is None or hit[0] is not factory:
        hit = _instances[name] = (factory, factory())
    return hit[1]
