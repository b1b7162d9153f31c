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

from optimizer.problem import Lists, Plan, ProblemData, small

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


def dp_exact(data: ProblemData) -> bool:
    """True when the partition enumeration is provably exact for this problem."""
    if data.n_lines > MAX_DP_LINES:
        return False
    py = small(data)
    if py is not None:
        qty = py.qty
        for arow, cap in zip(py.avail, py.cap, strict=True):
            need = 0
            for a, q in zip(arow, qty, strict=True):
                if a > 0:
                    if a != q:
                        return False
                    need += q
            if cap < need:
                return False
        return True
    has = data.avail > 0
    # Any node holding part of a line (but not all of it) may be worth splitting from.
    if (data.avail[has] != np.broadcast_to(data.qty, data.avail.shape)[has]).any():
        return False
    need = (has * data.qty[None, :]).sum(axis=1)
    return bool((data.capacity >= need).all())


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
    py = small(data)
    if py is not None:
        if n_lines == 1:
            return _one_line(data, py.qty[0], py.avail, py.unit, py.parcel, py.cap, py.unf[0])
        return _partitions_py(data, py)
    member, _ = _masks(n_lines)
    g, arg = group_table(data)
    u = data.unfilled_parcel_cost + member @ (data.unfilled_unit_cost * data.qty)
    u[0] = 0.0
    parts = _partitions(n_lines)  # (P, L)
    gp, up = g[parts], u[parts]
    real = parts > 0
    missing = ~np.isfinite(gp)
    gfin = np.where(missing, 0.0, gp)
    base = gfin.sum(axis=1)
    n_missing = missing.sum(axis=1)
    n_groups = real.sum(axis=1)
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
    for j, mask in enumerate(row):
        if mask == 0:
            continue
        lines = np.flatnonzero(member[mask] > 0)
        if j == unfilled_group:
            unfilled[lines] = data.qty[lines]
        else:
            x[arg[mask], lines] = data.qty[lines]
    return Plan(x, unfilled)


def _one_line(data: ProblemData, q: int, avail: list[list[int]], unit: list[list[float]],
              parcel: list[float], cap: list[int], unf: float) -> Plan:
    """solve_by_partitions for a single line, on lists. The only partition is {line}: the
    cheapest node holding all of it (unit * q + parcel, the first of equals) against leaving
    it unfilled (penalty parcel + unf * q); the node wins ties. Every value is the same single
    IEEE product or sum the matrix form computes."""
    node, g = -1, float("inf")
    for n, (arow, urow, p, c) in enumerate(zip(avail, unit, parcel, cap, strict=True)):
        if arow[0] == q and c >= q:
            cost = urow[0] * q + p
            if cost < g:
                node, g = n, cost
    u = data.unfilled_parcel_cost + unf * q
    x = np.zeros((len(parcel), 1), np.int64)
    unfilled = np.zeros(1, np.int64)
    # c_none = g when a node holds the line and a parcel is allowed; c_j = (g - g) + u = u.
    if node >= 0 and data.parcel_limit >= 1 and g <= u:
        x[node, 0] = q
    else:
        unfilled[0] = q
    return Plan(x, unfilled)


@cache
def _partition_lists(n_lines: int) -> tuple[list[list[int]], list[list[int]]]:
    """_partitions(L) as lists, and the lines of every subset mask (ascending)."""
    bits = [[i for i in range(n_lines) if mask >> i & 1] for mask in range(1 << n_lines)]
    return _partitions(n_lines).tolist(), bits


def _partitions_py(data: ProblemData, py: Lists) -> Plan:
    """solve_by_partitions for a small problem: the same table and partition costs, element
    by element. The sums of several terms (a group's units over its lines, the penalty of a
    group, a partition's groups) come from numpy's own operations on the same arrays as the
    vectorised version; every other value is one IEEE operation, and every argmin takes the
    first of equals, as numpy does."""
    n_lines, n_nodes = py.n_lines, py.n_nodes
    inf = float("inf")
    member, _ = _masks(n_lines)
    parts, bits = _partition_lists(n_lines)
    qty = py.qty
    # group_table: the cheapest node holding every line of a subset whole, with room for it.
    unit_sums = (member @ (data.unit_cost * data.qty[None, :]).T).tolist()  # (2^L, N)
    # The lines each node holds whole, as a bit mask; a subset is covered when inside it.
    whole = [sum(1 << i for i, (a, q) in enumerate(zip(row, qty, strict=True)) if a == q)
             for row in py.avail]
    g = [0.0] * (1 << n_lines)
    arg = [-1] * (1 << n_lines)
    parcel, cap = py.parcel, py.cap
    for mask in range(1, 1 << n_lines):
        need = sum(qty[i] for i in bits[mask])
        sums = unit_sums[mask]
        best, cost = -1, inf
        for n, w in enumerate(whole):
            if mask & w == mask and cap[n] >= need:
                c = sums[n] + parcel[n]
                if c < cost:
                    best, cost = n, c
        g[mask], arg[mask] = cost, best
    pen = (member @ (data.unfilled_unit_cost * data.qty)).tolist()
    u = [0.0] + [data.unfilled_parcel_cost + v for v in pen[1:]]
    # Partitions: every group whole from its node, or (at most) one group left unfilled.
    gfin = [[g[m] if g[m] != inf else 0.0 for m in row] for row in parts]
    if any(sum(v != 0.0 for v in row) > 2 for row in gfin):
        base = np.array(gfin, dtype=np.float64).sum(axis=1).tolist()  # numpy's own sums
    else:
        base = [sum(row) for row in gfin]  # at most two nonzero terms: exact in any order
    limit = data.parcel_limit
    best_none, c_best = -1, inf
    flat, j_best = -1, inf
    for p, row in enumerate(parts):
        missing = [g[m] == inf for m in row]
        n_missing = sum(missing)
        n_groups = sum(m > 0 for m in row)
        if n_missing == 0 and n_groups <= limit and base[p] < c_best:
            best_none, c_best = p, base[p]
        if n_groups - 1 <= limit:
            for j, m in enumerate(row):
                if m > 0 and n_missing - missing[j] == 0:
                    c = base[p] - gfin[p][j] + u[m]
                    if c < j_best:
                        flat, j_best = p * n_lines + j, c
    x = np.zeros((n_nodes, n_lines), np.int64)
    unfilled = np.zeros(n_lines, np.int64)
    if best_none >= 0 and c_best <= j_best:
        row, unfilled_group = parts[best_none], -1
    else:
        p, unfilled_group = divmod(flat, n_lines)
        row = parts[p]
    for j, mask in enumerate(row):
        if mask == 0:
            continue
        for i in bits[mask]:
            if j == unfilled_group:
                unfilled[i] = qty[i]
            else:
                x[arg[mask], i] = qty[i]
    return Plan(x, unfilled)
