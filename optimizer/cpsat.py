"""The exact per-order model in CP-SAT: integer units per (node, line), a parcel flag per node."""

from __future__ import annotations

import numpy as np
from ortools.sat.python import cp_model

from optimizer.problem import Plan, ProblemData, SolveParams

__all__ = ["solve_cpsat"]


def _scaled(values: np.ndarray, scale: int) -> list[int]:
    # CP-SAT needs integer coefficients; micro-dollars keep any order's total exact to a cent.
    return [int(v) for v in np.rint(np.asarray(values, dtype=np.float64) * scale)]


def solve_cpsat(
    data: ProblemData, params: SolveParams, hint: Plan | None = None
) -> tuple[Plan | None, bool, dict[str, float]]:
    """Solve the model; return (best plan or None, proven optimal, solver stats)."""
    n_nodes, n_lines = data.n_nodes, data.n_lines
    model = cp_model.CpModel()
    unit = _scaled(data.unit_cost.ravel(), params.scale)
    parcel = _scaled(data.parcel_cost, params.scale)
    unf_unit = _scaled(data.unfilled_unit_cost, params.scale)
    unf_parcel = _scaled([data.unfilled_parcel_cost], params.scale)[0]
    x: dict[tuple[int, int], cp_model.IntVar] = {}
    y: list[cp_model.IntVar | None] = [None] * n_nodes
    terms: list[tuple[cp_model.IntVar, int]] = []
    for n in range(n_nodes):
        lines = np.flatnonzero(data.avail[n] > 0)
        if len(lines) == 0 or data.capacity[n] == 0:
            continue
        yn = model.new_bool_var(f"y{n}")
        y[n] = yn
        terms.append((yn, parcel[n]))
        for i in lines:
            ub = int(min(data.avail[n, i], data.capacity[n]))
            v = model.new_int_var(0, ub, f"x{n}_{i}")
            x[n, int(i)] = v
            model.add(v <= ub * yn)
            terms.append((v, unit[n * n_lines + int(i)]))
        row = [x[n, int(i)] for i in lines]
        if sum(int(min(data.avail[n, i], data.capacity[n])) for i in lines) > data.capacity[n]:
            model.add(sum(row) <= int(data.capacity[n]))
        # A parcel flag without units would only add cost, but forbid it to keep plans clean.
        model.add(sum(row) >= yn)
    z = model.new_bool_var("unfilled_parcel")
    terms.append((z, unf_parcel))
    u = []
    for i in range(n_lines):
        ui = model.new_int_var(0, int(data.qty[i]), f"u{i}")
        u.append(ui)
        model.add(ui <= int(data.qty[i]) * z)
        terms.append((ui, unf_unit[i]))
        supply = [x[n, i] for n in range(n_nodes) if (n, i) in x]
        model.add(sum(supply) + ui == int(data.qty[i]))
    used = [v for v in y if v is not None]
    if data.max_parcels is not None and len(used) > data.max_parcels:
        model.add(sum(used) <= data.max_parcels)
    model.minimize(sum(c * v for v, c in terms))
    if hint is not None:
        for (n, i), v in x.items():
            model.add_hint(v, int(hint.x[n, i]))
        for n, yn in enumerate(y):
            if yn is not None:
                model.add_hint(yn, int(hint.x[n].sum() > 0))
        for i, ui in enumerate(u):
            model.add_hint(ui, int(hint.unfilled[i]))
        model.add_hint(z, int(hint.unfilled.sum() > 0))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = params.time_limit
    solver.parameters.num_workers = params.num_workers
    status = solver.solve(model)
    stats = {"wall_time": solver.wall_time, "variables": float(len(x) + len(used) + n_lines + 1)}
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, False, stats
    xs = np.zeros((n_nodes, n_lines), np.int64)
    for (n, i), v in x.items():
        xs[n, i] = solver.value(v)
    us = np.array([solver.value(v) for v in u], dtype=np.int64)
    return Plan(xs, us), status == cp_model.OPTIMAL, stats
