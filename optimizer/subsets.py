"""Exact sourcing by enumerating set partitions of the lines (the fast path for small orders).

When no line ever needs splitting (every node that holds a line holds all of it) and pick
capacity cannot bind, a plan is a partition of the lines into groups, each group shipped
whole from one node or left unfilled. Two groups on one node cost a parcel more than the
merged group, which is also enumerated, so the minimum over partitions of the sum of each
group's cheapest node is the exact optimum. Work is O(2^L * N + Bell(L) * L), vectorised.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from optimizer.problem import Plan, ProblemData

__all__ = ["MAX_DP_LINES", "dp_exact", "group_table", "solve_by_partitions"]

MAX_DP_LINES = 8  # Bell(8) = 4140 partitions; beyond that CP-SAT is the better tool


@cache
def _masks(n_lines: int) -> tuple[np.ndarray, np.ndarray]:
    """Membership matrix (2^L, L) of every subset and the popcount of each."""
    subsets = np.arange(1 << n_lines)
    member = ((subsets[:, None] >> np.arange(n_lines)[None, :]) & 1).astype(np.float64)
    member.setflags(write=False)
    pop = member.sum(axis=1)
    pop.setflags(write=False)
    return member, pop


@cache
def _partitions(n_lines: int) -> np.ndarray:
    """Every set partition of range(L) as rows of group bitmasks, padded with 0."""
    out: list[list[int]] = []

    def grow(i: int, groups: list[int]) -> None:
        if i == n_lines:
            out.append(groups + [0] * (n_lines - len(groups)))
            return
        for k in range(len(groups)):
            groups[k] |= 1 << i
            grow(i + 1, groups)
            groups[k] &= ~(1 << i)
        grow(i + 1, [*groups, 1 << i])

    grow(0, [])
    arr = np.array(out, dtype=np.int64).reshape(-1, n_lines)
    arr.setflags(write=False)
    return arr


@cache
def _groups(n_lines: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Per partition its real groups (mask > 0) and their number; the lines of each mask."""
    real = _partitions(n_lines) > 0
    n_groups = real.sum(axis=1)
    for a in (real, n_groups):
        a.setflags(write=False)
    member, _ = _masks(n_lines)
    return real, n_groups, [np.flatnonzero(row > 0) for row in member]


def dp_exact(data: ProblemData) -> bool:
    """True when the partition enumeration is provably exact for this problem."""
    if data.n_lines > MAX_DP_LINES:
        return False
    # Any node holding part of a line (but not all of it) may be worth splitting from.
    if np.count_nonzero((data.avail > 0) & (data.avail != data.qty[None, :])):
        return False
    # Every node holds whole lines or nothing: its avail row sums to the units it would pick.
    return not np.count_nonzero(data.capacity < data.avail.sum(axis=1))


def group_table(data: ProblemData) -> tuple[np.ndarray, np.ndarray]:
    """Cheapest whole-group cost per subset of lines over real nodes, and that node (-1 none)."""
    member, pop = _masks(data.n_lines)
    full = (data.avail == data.qty[None, :]).astype(np.float64)  # (N, L)
    covers = (member @ full.T) == pop[:, None]  # (2^L, N)
    need = member @ data.qty.astype(np.float64)
    covers &= data.capacity[None, :] >= need[:, None]
    cost = member @ (data.unit_cost * data.qty[None, :]).T + data.parcel_cost[None, :]
    cost = np.where(covers, cost, np.inf)
    best = cost.argmin(axis=1) if data.n_nodes else np.zeros(len(pop), np.int64)
    g = cost[np.arange(len(pop)), best] if data.n_nodes else np.full(len(pop), np.inf)
    g[0] = 0.0
    arg = np.where(np.isfinite(g), best, -1)
    arg[0] = -1
    return g, arg


def solve_by_partitions(data: ProblemData) -> Plan:
    """Least-cost plan shipping every line whole (exact when `dp_exact(data)`)."""
    n_lines = data.n_lines
    member, _ = _masks(n_lines)
    g, arg = group_table(data)
    u = data.unfilled_parcel_cost + member @ (data.unfilled_unit_cost * data.qty)
    u[0] = 0.0
    parts = _partitions(n_lines)  # (P, L)
    real, n_groups, lines_of = _groups(n_lines)
    gp, up = g[parts], u[parts]
    missing = ~np.isfinite(gp)
    gfin = np.where(missing, 0.0, gp)
    base = gfin.sum(axis=1)
    n_missing = missing.sum(axis=1)
    limit = data.parcel_limit
    # Option "nothing unfilled", then option "group j unfilled" (at most one unfilled group:
    # merging unfilled groups saves a penalty parcel, and that partition is enumerated too).
    c_none = np.where((n_missing == 0) & (n_groups <= limit), base, np.inf)
    ok_j = real & ((n_missing[:, None] - missing) == 0) & ((n_groups - 1)[:, None] <= limit)
    c_j = np.where(ok_j, base[:, None] - gfin + up, np.inf)
    best_none = int(c_none.argmin())
    flat = int(c_j.argmin())
    x = np.zeros((data.n_nodes, n_lines), np.int64)
    unfilled = np.zeros(n_lines, np.int64)
    if c_none[best_none] <= c_j.flat[flat]:
        row, unfilled_group = parts[best_none], -1
    else:
        p, unfilled_group = divmod(flat, n_lines)
        row = parts[p]
    for j, mask in enumerate(row.tolist()):
        if mask == 0:
            continue
        lines = lines_of[mask]
        if j == unfilled_group:
            unfilled[lines] = data.qty[lines]
        else:
            x[arg[mask], lines] = data.qty[lines]
    return Plan(x, unfilled)

