"""OR-Tools models: exact per-order sourcing and the deterministic LP bound (pure numpy)."""

from optimizer.problem import Plan, ProblemData, Result, SolveParams, is_feasible, plan_cost
from optimizer.solve import solve

__all__ = ["Plan", "ProblemData", "Result", "SolveParams", "is_feasible", "plan_cost", "solve"]
