"""Re-planning one sourced order against its incumbent plan: move only when it saves enough.

Backlog re-optimisation (allocation.reoptimize) visits allocated-but-unpicked orders one at a
time, gives each the stock its own reservations hold back, and asks this module whether a
different plan beats the incumbent by more than a threshold. A plan may never leave more
units unfilled than the incumbent did: re-optimisation moves sourced units, it does not
un-source them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from optimizer.problem import Plan, ProblemData, SolveParams, plan_cost
from optimizer.solve import solve

__all__ = ["Improvement", "ReoptParams", "improve"]

_EPS = 1e-9


@dataclass(frozen=True)
class ReoptParams:
    """Threshold per move, overall time limit, passes over the backlog, per-order solver."""

    threshold: float = 0.5  # dollars an order's move must save (moves cost store work)
    time_limit: float = 10.0  # seconds for the whole backlog; the rest keeps its plan
    passes: int = 1  # a second pass can use stock freed by moves later in the first
    solve: SolveParams = field(default_factory=lambda: SolveParams(time_limit=0.2))

    def __post_init__(self) -> None:
        if not self.threshold >= 0:
            raise ValueError(f"expected threshold >= 0, got {self.threshold}")
        if not self.time_limit > 0:
            raise ValueError(f"expected time_limit > 0, got {self.time_limit}")
        if self.passes < 1:
            raise ValueError(f"expected passes >= 1, got {self.passes}")


@dataclass(frozen=True, eq=False)
class Improvement:
    """A better plan for one order and both costs under the same cost arrays."""

    plan: Plan
    cost_before: float
    cost_after: float

    @property
    def saving(self) -> float:
        """Cost before minus cost after (> threshold by construction)."""
        return self.cost_before - self.cost_after


def improve(data: ProblemData, incumbent: Plan, params: ReoptParams) -> Improvement | None:
    """The optimal plan when it saves more than the threshold over `incumbent`, else None.

    `data.avail` must already include the units the incumbent holds (its own release).
    """
    before = plan_cost(data, incumbent)
    result = solve(data, params.solve)
    plan = result.plan
    if int(plan.unfilled.sum()) > int(incumbent.unfilled.sum()):
        return None
    after = plan_cost(data, plan)
    if before - after <= params.threshold + _EPS or np.array_equal(plan.x, incumbent.x):
        return None
    return Improvement(plan, before, after)
