"""An independent oracle: enumerate every allocation of every line (states merged by usage)."""

from __future__ import annotations

import itertools

import numpy as np

from optimizer.problem import ProblemData


def _splits(q: int, caps: list[int]) -> list[tuple[int, ...]]:
    """Every way to put 0..q units on each bin (bin k at most caps[k]) summing to <= q."""
    out = []
    for combo in itertools.product(*(range(min(c, q) + 1) for c in caps)):
        if sum(combo) <= q:
            out.append(combo)
    return out


def brute_force_cost(data: ProblemData) -> float:
    """Exact minimum cost by enumeration: every (node, line) quantity vector, all lines."""
    n_nodes = data.n_nodes
    # State: units per node so far (for parcels and capacity) -> (min unit cost, any unfilled).
    states: dict[tuple[tuple[int, ...], bool], float] = {((0,) * n_nodes, False): 0.0}
    for i in range(data.n_lines):
        q = int(data.qty[i])
        options = _splits(q, [int(a) for a in data.avail[:, i]])
        nxt: dict[tuple[tuple[int, ...], bool], float] = {}
        for (usage, unf), cost in states.items():
            for opt in options:
                new = tuple(u + o for u, o in zip(usage, opt, strict=True))
                if any(v > c for v, c in zip(new, data.capacity, strict=True)):
                    continue
                left = q - sum(opt)
                c = cost + sum(o * data.unit_cost[n, i] for n, o in enumerate(opt) if o)
                c += left * data.unfilled_unit_cost[i]
                key = (new, unf or left > 0)
                if c < nxt.get(key, np.inf):
                    nxt[key] = c
        states = nxt
    best = np.inf
    for (usage, unf), cost in states.items():
        used = [n for n, v in enumerate(usage) if v > 0]
        if len(used) > data.parcel_limit:
            continue
        total = cost + sum(data.parcel_cost[n] for n in used)
        total += data.unfilled_parcel_cost if unf else 0.0
        best = min(best, total)
    return float(best)
