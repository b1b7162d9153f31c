"""The pattern (configuration) LP over order types, kept warm between re-solves.

The same LP as `optimizer.dlp` (every order type chooses a mix of fulfilment patterns, stock
and pick capacity bound the expected use), but as an object that keeps its generated
columns: re-solving with less stock and less remaining demand only changes right-hand
sides, so the old columns are a near-optimal start and column generation converges in one
or two pricing rounds. Walk-in shoppers at stores compete for the same stock rows: a walk-in
unit served earns its margin (objective -margin), so a store unit goes online only when
that is worth more than the shelf sale it displaces.

Measured on the issue-17 instances (10 DCs, 99 cities, 50 SKUs, 6,336 types of up to 8
lines): pricing every type in one compiled pass (`optimizer.colgen`, ~15 ms) instead of a
solver call per type took the first solve from ~65 s to ~12 s, and GLOP's dual simplex
from the kept basis (presolve off) a re-solve from 5-12 s to ~0.2 s (median); a Lagrangian
warm-up (`PatternParams.warm_up_rounds`) seeds the first solve (~5 s). What remains is
simplex pivots (~0.5 ms each on 6,600 rows, a few hundred per re-solve, more late in the
horizon), which is why `optimizer.lagrange` prices the larger instances.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp

from optimizer.colgen import TypeTable, price_all
from optimizer.dlp import DLPResult, DLPType, _price

__all__ = ["PatternLP", "PatternParams", "WalkInDemand", "price_type"]

_UNCAPPED = 1 << 40
_ENUM_NODES = 8  # up to 2^(8+1) node subsets per type: enumerate; beyond, the exact solver


def _subsets(k: int) -> np.ndarray:
    """Every subset of k items as a (2^k, k) bool matrix."""
    ids = np.arange(1 << k)
    return ((ids[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)


_SUBSETS = [_subsets(k) for k in range(_ENUM_NODES + 2)]


def price_type(t: DLPType, prices: np.ndarray,
               cap_prices: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Cheapest pattern of a type under stock prices: (cost at true prices, x, unfilled).

    With one unit per SKU and no capacity in the pricing problem, a pattern is a set of
    nodes (the unfilled option is one more) and every SKU goes to its cheapest member, so
    enumerating node sets is exact; it replaces a solver call per type and round.
    """
    k = len(t.nodes)
    if k > _ENUM_NODES:
        return _price(t, prices, cap_prices)
    n_lines = len(t.skus)
    adj = t.unit_cost + prices[np.ix_(t.nodes, t.skus)] + cap_prices[t.nodes][:, None]
    unit = np.vstack([np.where(t.allowed, adj, np.inf), t.unfilled_unit_cost[None, :]])
    parcel = np.append(t.parcel_cost, t.unfilled_parcel_cost)
    masks = _SUBSETS[k + 1][1:]  # (M, K+1), the empty set cannot serve anything
    per = np.where(masks[:, :, None], unit[None, :, :], np.inf)  # (M, K+1, L)
    best = per.argmin(axis=1)  # (M, L)
    unit_sum = np.take_along_axis(per, best[:, None, :], axis=1)[:, 0, :].sum(axis=1)
    total = masks @ parcel + unit_sum
    m = int(np.argmin(total))
    choice = best[m]
    # Only nodes actually used pay a parcel; a subset with an idle member is never cheaper.
    x = np.zeros((k, n_lines), np.int64)
    real = choice < k
    x[choice[real], np.flatnonzero(real)] = 1
    u = (~real).astype(np.int64)
    used = x.sum(axis=1) > 0
    true_cost = float(t.parcel_cost[used].sum() + (t.unit_cost * x).sum())
    if u.sum():
        true_cost += t.unfilled_parcel_cost + float(t.unfilled_unit_cost @ u)
    return true_cost, x, u


@dataclass(frozen=True, eq=False)
class WalkInDemand:
    """Expected walk-in units per (store, SKU) and the margin a served unit earns."""

    node: np.ndarray  # (W,) row indices into the inventory
    sku: np.ndarray  # (W,) column indices
    qty: np.ndarray  # (W,) expected units (>= 0)
    margin: np.ndarray  # (W,) per unit (>= 0)

    def __post_init__(self) -> None:
        arrays = [np.asarray(a) for a in (self.node, self.sku, self.qty, self.margin)]
        if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1:
            raise ValueError("expected node, sku, qty and margin of one common length")
        if (arrays[2] < 0).any() or (arrays[3] < 0).any():
            raise ValueError("expected walk-in qty >= 0 and margin >= 0")

    @staticmethod
    def empty() -> WalkInDemand:
        """No walk-in demand."""
        z = np.zeros(0)
        return WalkInDemand(z.astype(np.int64), z.astype(np.int64), z, z)

    def scaled(self, factor: float) -> WalkInDemand:
        """The same demand times `factor` (what remains of the horizon)."""
        return WalkInDemand(self.node, self.sku, np.asarray(self.qty) * factor, self.margin)


@dataclass(frozen=True)
class PatternParams:
    """How the master LP is solved.

    GLOP's revised simplex keeps its basis between solves when presolve is off: a re-solve
    after new right-hand sides (less stock, less demand) starts from the old optimal basis,
    which stays dual feasible (dual simplex), and one after new columns from a primal
    feasible one. Presolve rebuilds the problem and loses that start.
    """

    solver: str = "GLOP"  # GLOP | PDLP | HIGHS_LP (pywraplp names)
    warm: bool = True  # GLOP without presolve, so its basis carries over between solves
    seed_columns: bool = True  # start every type with its myopic best pattern, not only "unfilled"
    warm_up_rounds: int = 0  # first solve: Lagrangian subgradient rounds that seed the pool
    warm_up_keep: int = 3  # ... of which the last this many add their patterns
    primal: bool = False  # keep the last solve's column values (`plan`): a pricer follows them

    def __post_init__(self) -> None:
        if self.solver not in ("GLOP", "PDLP", "HIGHS_LP"):
            raise ValueError(f"expected solver GLOP | PDLP | HIGHS_LP, got {self.solver!r}")


class PatternLP:
    """Column-generation LP of order types and walk-ins; re-solvable with new demand/stock.

    Pricing prices every type at once (`optimizer.colgen`, exact); the master is one
    pywraplp model kept between solves, so a re-solve only moves bounds and adds columns.
    """

    def __init__(self, types: Sequence[DLPType], shape: tuple[int, int],
                 capacity: np.ndarray | None = None,
                 params: PatternParams | None = None) -> None:
        self.types = list(types)
        self.shape = shape
        self.params = params or PatternParams()
        self.capacity = None if capacity is None else np.asarray(capacity, np.int64)
        self._inv = np.zeros(shape)
        self._cap = None if self.capacity is None else self.capacity.astype(np.float64)
        self.table = TypeTable.build(self.types)
        self._counts = np.zeros(len(self.types))
        s = pywraplp.Solver.CreateSolver(self.params.solver)
        if s is None:  # pragma: no cover - GLOP ships with every OR-Tools wheel
            raise RuntimeError(f"{self.params.solver} is not available")
        self.solver = s
        self._mode = ""
        self._rhs_moved = False
        self._warmed = False
        self.objective = s.Objective()
        self.objective.SetMinimization()
        self.demand = [s.Constraint(0.0, 0.0) for _ in self.types]
        self.stock: dict[tuple[int, int], pywraplp.Constraint] = {}
        self.caps: dict[int, pywraplp.Constraint] = {}
        self.walkin: dict[tuple[int, int], pywraplp.Variable] = {}
        self.columns = 0
        self._seen: set[tuple[int, bytes]] = set()
        # Every column's type, line -> candidate position (-1 unfilled) and variable, in the
        # order added, and the values of the last solve (`params.primal`).
        self._col_type: list[int] = []
        self._col_lines: list[np.ndarray] = []
        self._vars: list[pywraplp.Variable] = []
        self._x = np.zeros(0)
        self.last_stats: dict[str, float] = {}
        self.cap_prices = np.zeros(shape[0])  # of the last solve
        for k, t in enumerate(self.types):
            # Everything unfilled: always feasible, so the master LP always has a solution.
            x0 = np.zeros((len(t.nodes), len(t.skus)), np.int64)
            self._add_column(k, t.unfilled_parcel_cost + float(t.unfilled_unit_cost.sum()), x0)
        if self.params.seed_columns and self.types:
            # The pattern each type would take at zero stock prices: most of them stay in
            # the optimum, which saves the first rounds of column generation.
            zero = np.zeros(shape)
            _, true, assign = price_all(self.table, zero, np.zeros(shape[0]))
            for k in range(len(self.types)):
                if np.isfinite(true[k]):
                    self._add_assigned(k, float(true[k]), assign)

    def _set_mode(self, mode: str) -> None:
        """GLOP: dual simplex right after new right-hand sides, primal after new columns."""
        if self.params.solver != "GLOP" or not self.params.warm or mode == self._mode:
            return
        dual = "true" if mode == "dual" else "false"
        self.solver.SetSolverSpecificParametersAsString(
            f"use_preprocessing: false use_dual_simplex: {dual}")
        self._mode = mode

    def _row(self, key: tuple[int, int]) -> pywraplp.Constraint:
        con = self.stock.get(key)
        if con is None:
            con = self.solver.Constraint(-self.solver.infinity(), float(self._inv[key]))
            self.stock[key] = con
        return con

    def _add_assigned(self, k: int, cost: float, assign: np.ndarray) -> None:
        """Add type k's pattern given as line -> candidate position (-1 unfilled)."""
        a, b = self.table.sku_ptr[k], self.table.sku_ptr[k + 1]
        line_node = assign[a:b]
        key = (k, line_node.tobytes())
        if key in self._seen:
            return
        t = self.types[k]
        x = np.zeros((len(t.nodes), len(t.skus)), np.int64)
        real = line_node >= 0
        x[line_node[real], np.flatnonzero(real)] = 1
        self._add_column(k, cost, x, key)

    def _add_column(self, k: int, cost: float, x: np.ndarray,
                    key: tuple[int, bytes] | None = None) -> None:
        t = self.types[k]
        if key is None:
            line_node = np.full(len(t.skus), -1, np.int64)
            nz_n, nz_l = np.nonzero(x)
            line_node[nz_l] = nz_n
            key = (k, line_node.tobytes())
            if key in self._seen:
                return
        self._seen.add(key)
        solver = self.solver
        var = solver.NumVar(0.0, solver.infinity(), "")
        self.columns += 1
        self._col_type.append(k)
        self._col_lines.append(np.frombuffer(key[1], np.int64))
        self._vars.append(var)
        self.objective.SetCoefficient(var, cost)
        self.demand[k].SetCoefficient(var, 1.0)
        capped = self._cap is not None and self.capacity is not None
        for a, b in zip(*np.nonzero(x), strict=True):
            n = int(t.nodes[a])
            key2 = (n, int(t.skus[b]))
            self._row(key2).SetCoefficient(var, float(x[a, b]))
            if capped and self.capacity[n] < _UNCAPPED:  # type: ignore[index]
                con = self.caps.get(n)
                if con is None:
                    con = solver.Constraint(-solver.infinity(), float(self._cap[n]))  # type: ignore[index]
                    self.caps[n] = con
                con.SetCoefficient(var, con.GetCoefficient(var) + float(x[a, b]))

    def update(self, counts: np.ndarray, inventory: np.ndarray,
               capacity: np.ndarray | None = None,
               walkins: WalkInDemand | None = None) -> None:
        """New right-hand sides: expected count per type, stock, capacity left, walk-ins."""
        counts = np.asarray(counts, np.float64)
        if counts.shape != (len(self.types),) or (counts < 0).any():
            raise ValueError(f"expected {len(self.types)} counts >= 0")
        inv = np.asarray(inventory, np.float64)
        if inv.shape != self.shape:
            raise ValueError(f"expected inventory of shape {self.shape}, got {inv.shape}")
        self._inv = np.maximum(inv, 0.0)
        self._counts = counts.copy()
        self._rhs_moved = True
        for con, c in zip(self.demand, counts.tolist(), strict=True):
            con.SetBounds(c, c)
        for key, con in self.stock.items():
            con.SetUb(float(self._inv[key]))
        if capacity is not None and self.capacity is not None:
            self._cap = np.maximum(np.asarray(capacity, np.float64), 0.0)
            for n, con in self.caps.items():
                con.SetUb(float(self._cap[n]))
        for var in self.walkin.values():
            var.SetUb(0.0)
        if walkins is not None:
            for n, s, q, m in zip(walkins.node, walkins.sku, walkins.qty, walkins.margin,
                                  strict=True):
                key = (int(n), int(s))
                var = self.walkin.get(key)
                if var is None:
                    var = self.solver.NumVar(0.0, 0.0, "")
                    self.walkin[key] = var
                    self._row(key).SetCoefficient(var, 1.0)
                var.SetUb(var.ub() + float(q))
                # A served walk-in unit earns its margin: the LP keeps it unless online pays more.
                self.objective.SetCoefficient(var, -float(m))

    def _warm_up(self, rounds: int, target: float) -> None:
        """Subgradient ascent on the Lagrangian dual from zero prices (Polyak steps towards
        `target`, the seeded master's optimum, an upper bound on the dual's maximum); every
        pattern the iterates choose joins the pool. Each round is one compiled pricing pass,
        so the first master solve starts with columns near the optimum instead of growing
        them over expensive simplex rounds."""
        n_nodes, n_skus = self.shape
        tab = self.table
        todo = np.flatnonzero(self._counts > 0)
        if not len(todo) or rounds <= 0:
            return
        lam = self._counts
        line_type = np.repeat(np.arange(len(tab)), tab.lines)
        line_w = lam[line_type]
        inv = self._inv.reshape(-1)
        rows = np.array([n * n_skus + s for n, s in self.stock], np.int64)
        w_key = np.array([n * n_skus + s for n, s in self.walkin], np.int64)
        w_q = np.array([v.ub() for v in self.walkin.values()])
        w_m = np.array([-self.objective.GetCoefficient(v) for v in self.walkin.values()])
        capped = np.array(sorted(self.caps), np.int64)
        cap = (self._cap[capped] if self._cap is not None and len(capped)
               else np.zeros(0))
        p = np.zeros(n_nodes * n_skus)
        cp = np.zeros(n_nodes)
        best, theta, stall = -np.inf, 1.0, 0
        for it in range(rounds):
            adj, true, assign = price_all(tab, p.reshape(self.shape), cp, todo)
            real = assign >= 0
            node = tab.nodes[tab.node_ptr[line_type[real]] + assign[real]]
            use = np.bincount(node * n_skus + tab.skus[real], weights=line_w[real],
                              minlength=n_nodes * n_skus)
            served = p[w_key] < w_m
            phi = (float((lam[todo] * adj[todo]).sum()) - float((inv[rows] * p[rows]).sum())
                   + float((w_q * np.minimum(p[w_key] - w_m, 0.0)).sum()))
            g_full = use - inv
            np.add.at(g_full, w_key[served], w_q[served])
            g = g_full[rows]
            gc = np.zeros(0)
            if len(capped):
                gc = np.bincount(node, weights=line_w[real], minlength=n_nodes)[capped] - cap
                phi -= float((cap * cp[capped]).sum())
            if phi > best + 1e-9 * max(abs(best), 1.0):
                best, stall = phi, 0
            else:
                stall += 1
                if stall >= 3:
                    theta, stall = theta / 2, 0
            if it >= rounds - self.params.warm_up_keep:
                for k in todo.tolist():
                    self._add_assigned(k, float(true[k]), assign)
            gp = np.where((p[rows] > 0) | (g > 0), g, 0.0)
            gcp = np.where((cp[capped] > 0) | (gc > 0), gc, 0.0) if len(capped) else gc
            norm = float((gp * gp).sum() + (gcp * gcp).sum())
            if norm <= 0 or target <= phi:
                break
            step = theta * (target - phi) / norm
            p[rows] = np.maximum(p[rows] + step * g, 0.0)
            if len(capped):
                cp[capped] = np.maximum(cp[capped] + step * gc, 0.0)

    def _duals(self, prices: np.ndarray, cap_prices: np.ndarray) -> np.ndarray:
        """Stock and capacity prices (in place) and the demand rows' duals."""
        prices[:] = 0.0
        for (n, s), con in self.stock.items():
            prices[n, s] = -con.dual_value()  # <= rows of a min LP: duals <= 0
        np.maximum(prices, 0.0, out=prices)
        cap_prices[:] = 0.0
        for n, con in self.caps.items():
            cap_prices[n] = max(-con.dual_value(), 0.0)
        return np.array([con.dual_value() for con in self.demand])

    def solve(self, *, max_iterations: int = 200, tol: float = 1e-7,
              gap: float = 0.0, scale: float = 0.0) -> DLPResult:
        """Column generation from the current pool; value is cost minus walk-in margin earned.

        Stops when no pattern prices out (`converged`), or when the Lagrangian bound
        (master value + sum over types of count x min(0, reduced cost)) is within `gap`
        (relative) of max(|master value|, `scale`): the prices are then those of an LP
        within that much of the optimum (`converged` False). A re-solve late in the horizon
        passes the first solve's value as `scale`, so its tolerance stays an amount of
        money, not a share of a value that shrinks with the demand left.
        """
        solver = self.solver
        prices = np.zeros(self.shape)
        cap_prices = np.zeros(self.shape[0])
        converged = False
        iterations = 0
        todo = np.flatnonzero(self._counts > 0)
        lp_s = price_s = add_s = 0.0
        value = bound = float("nan")
        added = 0
        for iterations in range(1, max_iterations + 1):  # noqa: B007 - reported afterwards
            t0 = time.perf_counter()
            # The old basis stays dual feasible when only bounds moved: dual simplex; new
            # columns keep it primal feasible: primal simplex.
            self._set_mode("dual" if self._rhs_moved and self.columns > len(self.types)
                           else "primal")
            self._rhs_moved = False
            if solver.Solve() != pywraplp.Solver.OPTIMAL:
                raise RuntimeError("pattern LP was not solved to optimality")
            t1 = time.perf_counter()
            lp_s += t1 - t0
            # Read every dual before adding columns: adding invalidates the solution.
            duals = self._duals(prices, cap_prices)
            if self.params.primal:
                self._x = np.array([v.solution_value() for v in self._vars])
            value = self.objective.Value()
            adj, true, assign = price_all(self.table, prices, cap_prices, todo)
            t2 = time.perf_counter()
            price_s += t2 - t1
            reduced = adj[todo] - duals[todo]
            new = todo[reduced < -tol * np.maximum(1.0, np.abs(true[todo]))]
            short = float((self._counts[todo] * np.minimum(reduced, 0.0)).sum())
            if gap > 0 and len(new) and -short <= gap * max(abs(value), scale, 1.0) \
                    and not np.isnan(adj[todo]).any():
                bound = value + short
                break
            slow = todo[np.isnan(adj[todo])]  # more lines than the compiled pricing takes
            if not self._warmed:
                self._warmed = True
                if self.params.warm_up_rounds > 0 and len(new):
                    before = self.columns
                    self._warm_up(self.params.warm_up_rounds, value)
                    add_s += time.perf_counter() - t2
                    added += self.columns - before
                    continue
            before = self.columns
            for k in new.tolist():
                self._add_assigned(k, float(true[k]), assign)
            for k in slow.tolist():
                t = self.types[k]
                cost, x, _ = price_type(t, prices, cap_prices)
                red = (cost + float((prices[np.ix_(t.nodes, t.skus)] * x).sum())
                       + float(cap_prices[t.nodes] @ x.sum(axis=1)) - duals[k])
                if red < -tol * max(1.0, abs(cost)):
                    self._add_column(k, cost, x)
            add_s += time.perf_counter() - t2
            added += self.columns - before
            if self.columns == before:
                converged = True
                bound = value
                break
        self.last_stats = {"iterations": float(iterations), "lp_seconds": lp_s,
                           "bound_gap": (value - bound) / max(abs(value), 1.0),
                           "pricing_seconds": price_s, "add_seconds": add_s,
                           "columns_added": float(added)}
        self.cap_prices = cap_prices.copy()
        return DLPResult(value, prices.copy(), iterations, self.columns, converged)

    def plan(self, eps: float = 1e-9) -> list[tuple[int, float, np.ndarray]]:
        """(type, value, line -> candidate position or -1) of every column the last solve
        used (`PatternParams.primal`); empty when values were not kept."""
        used = np.flatnonzero(self._x > eps)
        return [(self._col_type[c], float(self._x[c]), self._col_lines[c]) for c in used]

    def walkin_margin_at_stake(self) -> float:
        """Total margin of the walk-in demand currently in the LP (value + this = cost + lost)."""
        return float(sum(var.ub() * -self.objective.GetCoefficient(var)
                         for var in self.walkin.values()))
