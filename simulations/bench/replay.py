"""Replay benchmark (`omni-replay/1`, see REPLAY.md): load, run a policy, judge, validate.

The runner goes through `allocation.service.allocate` on a MemoryLedger, the same decision
and commit code as the live service. The judge recomputes the cost from the decisions
alone (own haversine, own parcel counting), never from a policy's own totals.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from allocation.candidates import build_candidates
from allocation.costs import CostModel, DistanceRates, OpportunityCosts, PickCosts, TransferRates
from allocation.forecast_aware import ForecastAwarePolicy, ForecastPricer, order_types
from allocation.ledger import MemoryLedger
from allocation.network import UNLIMITED, Network, Order, OrderLine, unique_skus
from allocation.policies import Policy, get_policy
from allocation.service import allocate
from optimizer.dlp import DLPResult, DLPType, dlp_bound
from optimizer.lagrange import lagrangian_bound
from optimizer.pattern import WalkInDemand

__all__ = ["Instance", "dlp_of", "hindsight_of", "judge_cost", "load_instance", "run_replay",
           "validate_result"]

FORMAT = "omni-replay/1"
RESULT_FORMAT = "omni-replay-result/1"


@dataclass(frozen=True, eq=False)
class Instance:
    """A parsed replay instance."""

    name: str
    raw: dict[str, Any]
    network: Network
    skus: tuple[str, ...]
    on_hand: np.ndarray  # (nodes, skus)
    safety: np.ndarray  # (nodes, skus)
    cost: CostModel
    orders: tuple[Order, ...]  # sorted by t
    order_t: tuple[float, ...]

    def usable(self) -> np.ndarray:
        """Stock a policy may use: on_hand - safety_stock, never negative."""
        return np.maximum(self.on_hand - self.safety, 0)


def cost_model_from(costs: dict[str, Any]) -> CostModel:
    """The cost model of an instance's `costs` block (only the distance model is defined)."""
    if costs.get("model", "distance") != "distance":
        raise ValueError(f"unsupported cost model {costs.get('model')!r}; expected 'distance'")
    pick = costs.get("pick_cost") or {}
    return CostModel(
        shipping=DistanceRates(float(costs["per_parcel"]), float(costs["per_unit"]),
                               float(costs["per_unit_mile"])),
        pick=PickCosts(dc=float(pick.get("dc", 0.0)), store=float(pick.get("store", 0.0))),
        transfer=TransferRates(enabled=False),
        unfilled_multiplier=float(costs.get("unfilled_multiplier", 2.0)),
        unfilled_per_unit=0.0,
        pickup_priced_as_shipping=True,
    )


def load_instance(source: str | Path | dict[str, Any]) -> Instance:
    """Parse an instance file (or an already-loaded dict)."""
    raw = source if isinstance(source, dict) else json.loads(Path(source).read_text())
    if raw.get("format") != FORMAT:
        raise ValueError(f"expected format {FORMAT!r}, got {raw.get('format')!r}")
    network = Network.from_records(raw["nodes"])
    skus = tuple(str(s["id"]) for s in raw["skus"])
    col = {s: j for j, s in enumerate(skus)}
    on_hand = np.zeros((len(network), len(skus)), np.int64)
    safety = np.zeros_like(on_hand)
    for row in raw.get("inventory", []):
        i, j = network.index[row["node"]], col[row["sku"]]
        on_hand[i, j] += int(row["on_hand"])
        safety[i, j] += int(row.get("safety_stock", 0) or 0)
    rows = sorted(enumerate(raw["orders"]), key=lambda p: (p[1].get("t", 0), p[0]))
    orders = tuple(
        Order(id=str(o["id"]), lines=tuple(OrderLine(str(x["sku"]), int(x["qty"]))
                                           for x in o["lines"]),
              lat=float(o["lat"]), lon=float(o["lon"]), method=o.get("method", "ship"),
              pickup_node=o.get("pickup_node"))
        for _, o in rows)
    return Instance(str(raw.get("name", "")), raw, network, skus, on_hand, safety,
                    cost_model_from(raw["costs"]), orders,
                    tuple(float(o.get("t", 0)) for _, o in rows))


def _receipts(inst: Instance) -> list[tuple[float, str, str, int]]:
    return sorted((float(r.get("t", 0)), str(r["node"]), str(r["sku"]), int(r["qty"]))
                  for r in inst.raw.get("receipts") or [])


def run_replay(
    inst: Instance,
    policy: Policy | str,
    *,
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> dict[str, Any]:
    """Run a policy over the orders in time order; return the result document."""
    pol = get_policy(policy) if isinstance(policy, str) else policy
    caps = inst.network.pick_capacity
    ledger = MemoryLedger(inst.network.codes, inst.skus, inst.on_hand, inst.safety,
                          pick_capacity=None if (caps >= UNLIMITED).all() else caps)
    receipts = _receipts(inst)
    r = 0
    decisions = []
    start, cpu = time.perf_counter(), time.process_time()
    pricer = None
    opportunity: OpportunityCosts | None = None
    if isinstance(pol, ForecastAwarePolicy):
        pricer = ForecastPricer(inst.network, inst.skus, inst.cost,
                                inst.raw.get("expected_orders") or [], inst.usable(),
                                capacity=ledger.capacity_left(), params=pol.params,
                                walkins=expected_walkins(inst), safety=inst.safety)
    walkins = sorted((float(w["t"]), k, w) for k, w in enumerate(inst.raw.get("walkins") or []))
    wk, lost_units, lost_margin, sold_units = 0, 0, 0.0, 0
    pairs = list(zip(inst.order_t, inst.orders, strict=True))
    since, stocked_out = 1 << 62, False
    for k, (t, order) in enumerate(progress(pairs) if progress else pairs):
        while r < len(receipts) and receipts[r][0] <= t:
            ledger.receive(*receipts[r][1:])
            r += 1
        while wk < len(walkins) and walkins[wk][0] <= t:  # shoppers first at equal times
            w = walkins[wk][2]
            sold = ledger.sell(str(w["store"]), str(w["sku"]), int(w["qty"]))
            sold_units += sold
            lost_units += int(w["qty"]) - sold
            lost_margin += (int(w["qty"]) - sold) * float(w.get("margin", 0.0))
            wk += 1
        if pricer is not None and (since >= pricer.resolve_every or stocked_out):
            opportunity = pricer.prices(ledger.atp_all(), k, ledger.capacity_left())
            since, stocked_out = 0, False
        pol_k = pol
        if pricer is not None and pricer.follows:  # the LP's own pattern for this order
            pattern = pricer.pattern_for(order, ledger.atp(unique_skus(order.lines)[0]))
            if pattern:
                pol_k = replace(pol, pattern=pattern)  # type: ignore[type-var]
        d = allocate(order, inst.network, ledger, pol_k, cost=inst.cost,
                     opportunity=opportunity, explain=False)
        since += 1
        if pricer is not None and pricer.params.resolve_on_stockout and d.reservations:
            # A (node, SKU) just ran dry: the LP's basis, hence its prices, changed.
            stocked_out = any(ledger.atp([line.sku])[ledger.node_index[a.node], 0] == 0
                              for line in d.lines for a in line.allocations)
        decisions.append({"order": order.id, "lines": [
            {"sku": line.sku,
             "allocations": [{"node": a.node, "qty": a.qty} for a in line.allocations],
             "unfilled": line.unfilled} for line in d.lines]})
    seconds = time.perf_counter() - start
    result = {"format": RESULT_FORMAT, "instance": inst.name, "policy": pol.name,
              "decisions": decisions, "total_cost": 0.0, "seconds": seconds,
              "cpu_seconds": time.process_time() - cpu}
    for _, _, w in walkins[wk:]:  # shoppers after the last order
        sold = ledger.sell(str(w["store"]), str(w["sku"]), int(w["qty"]))
        sold_units += sold
        lost_units += int(w["qty"]) - sold
        lost_margin += (int(w["qty"]) - sold) * float(w.get("margin", 0.0))
    if walkins:
        result["walkins"] = {"sold_units": sold_units, "lost_units": lost_units,
                             "lost_margin": lost_margin}
    if pricer is not None:
        again, again_cpu = pricer.solve_seconds[1:], pricer.solve_cpu_seconds[1:]
        result["lp"] = {"solves": pricer.solves, "seconds": pricer.seconds,
                        "resolve_every": pricer.resolve_every, "form": pricer.form,
                        "first_seconds": pricer.solve_seconds[0] if pricer.solves else 0.0,
                        "resolve_seconds_mean": float(np.mean(again)) if again else 0.0,
                        "resolve_seconds_max": float(np.max(again)) if again else 0.0,
                        "first_cpu_seconds": (pricer.solve_cpu_seconds[0] if pricer.solves
                                              else 0.0),
                        "resolve_cpu_seconds_mean": (float(np.mean(again_cpu)) if again_cpu
                                                     else 0.0),
                        "resolve_cpu_seconds_max": (float(np.max(again_cpu)) if again_cpu
                                                    else 0.0)}
    result["total_cost"] = judge_cost(inst.raw, result)
    return result


def _miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """REPLAY.md distance: haversine, R = 6371 km, 1.61 km per mile (scalar, independent)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6371.0 * math.asin(math.sqrt(min(max(a, 0.0), 1.0))) / 1.61


def judge_cost(raw: dict[str, Any], result: dict[str, Any]) -> float:
    """Total cost of a result's decisions, computed exactly as REPLAY.md states."""
    c = raw["costs"]
    pp, pu, pm = float(c["per_parcel"]), float(c["per_unit"]), float(c["per_unit_mile"])
    mult = float(c.get("unfilled_multiplier", 2.0))
    pick = c.get("pick_cost") or {}
    nodes = {n["id"]: n for n in raw["nodes"]}
    orders = {o["id"]: o for o in raw["orders"]}
    total = 0.0
    for dec in result["decisions"]:
        o = orders[dec["order"]]
        used: set[str] = set()
        unfilled = 0
        for line in dec["lines"]:
            unfilled += int(line.get("unfilled", 0))
            for a in line["allocations"]:
                n = nodes[a["node"]]
                q = int(a["qty"])
                if q <= 0:
                    continue
                used.add(a["node"])
                miles = _miles(n["lat"], n["lon"], o["lat"], o["lon"])
                total += q * (pu + pm * miles + float(pick.get(n["kind"], 0.0)))
        total += pp * len(used)
        if unfilled:
            far = max(_miles(n["lat"], n["lon"], o["lat"], o["lon"]) for n in raw["nodes"])
            total += mult * pp + unfilled * mult * (pu + pm * far)
    return total


def validate_result(raw: dict[str, Any], result: dict[str, Any]) -> list[str]:
    """Every reason the result is invalid (empty when valid): stock, capacity, eligibility."""
    errors: list[str] = []
    nodes = {n["id"]: n for n in raw["nodes"]}
    orders = {o["id"]: o for o in raw["orders"]}
    stock: dict[tuple[str, str], int] = {}
    for row in raw.get("inventory", []):
        key = (row["node"], row["sku"])
        stock[key] = stock.get(key, 0) + int(row["on_hand"]) - int(row.get("safety_stock") or 0)
    receipts = sorted(_receipts_raw(raw))
    cap = {k: n.get("pick_capacity") for k, n in nodes.items()}
    decided = {d["order"]: d for d in result.get("decisions", [])}
    if set(decided) != set(orders):
        errors.append("decisions do not cover exactly the instance's orders")
    seq = sorted(enumerate(raw["orders"]), key=lambda p: (p[1].get("t", 0), p[0]))
    r = 0
    for _, o in seq:
        while r < len(receipts) and receipts[r][0] <= o.get("t", 0):
            _, node, sku, q = receipts[r]
            stock[node, sku] = stock.get((node, sku), 0) + q
            r += 1
        dec = decided.get(o["id"])
        if dec is None:
            continue
        want = [(x["sku"], int(x["qty"])) for x in o["lines"]]
        got = [(x["sku"], x) for x in dec["lines"]]
        if [s for s, _ in want] != [s for s, _ in got]:
            errors.append(f"{o['id']}: lines do not match the order")
            continue
        for (sku, qty), (_, line) in zip(want, got, strict=True):
            allocs = line["allocations"]
            if sum(int(a["qty"]) for a in allocs) + int(line.get("unfilled", 0)) != qty:
                errors.append(f"{o['id']} {sku}: allocated + unfilled != ordered")
            if int(line.get("unfilled", 0)) < 0:
                errors.append(f"{o['id']} {sku}: negative unfilled")
            for a in allocs:
                node, q = a["node"], int(a["qty"])
                if q < 0 or node not in nodes:
                    errors.append(f"{o['id']} {sku}: bad allocation {a}")
                    continue
                if not _allowed(nodes[node], o):
                    errors.append(f"{o['id']} {sku}: node {node} may not supply this order")
                stock[node, sku] = stock.get((node, sku), 0) - q
                if stock[node, sku] < 0:
                    errors.append(f"{o['id']} {sku}: stock at {node} exceeded")
                if cap[node] is not None:
                    cap[node] -= q
                    if cap[node] < 0:
                        errors.append(f"{o['id']}: pick capacity of {node} exceeded")
    return errors


def _receipts_raw(raw: dict[str, Any]) -> list[tuple[float, str, str, int]]:
    return [(float(r.get("t", 0)), str(r["node"]), str(r["sku"]), int(r["qty"]))
            for r in raw.get("receipts") or []]


def _allowed(node: dict[str, Any], order: dict[str, Any]) -> bool:
    """REPLAY.md eligibility: pickups only from their store; stores ship only if flagged."""
    if order.get("method", "ship") == "pickup":
        return node["id"] == order.get("pickup_node")
    return node["kind"] == "dc" or bool(node.get("ship_from_store"))


# Up to this many order types the bounds are solved exactly (column generation, GLOP);
# beyond, the Lagrangian bound of `optimizer.lagrange` (valid, approached from below).
EXACT_BOUND_TYPES = 15_000


def _bound(types: list[DLPType], stock: np.ndarray, caps: np.ndarray | None,
           max_iterations: int) -> DLPResult:
    if len(types) <= EXACT_BOUND_TYPES:
        return dlp_bound(types, stock, caps, max_iterations=max_iterations)
    return lagrangian_bound(types, stock, caps)


def dlp_of(inst: Instance, max_iterations: int = 500) -> DLPResult:
    """The deterministic LP bound of the instance's `expected_orders` (GLOP, column gen.;
    a Lagrangian lower bound beyond `EXACT_BOUND_TYPES` order types)."""
    usable = inst.usable()
    col = {s: j for j, s in enumerate(inst.skus)}
    types = []
    for k, e in enumerate(inst.raw.get("expected_orders", [])):
        skus = list(dict.fromkeys(str(s) for s in e["skus"]))
        order = Order(id=f"type-{k}", lines=tuple(OrderLine(s, 1) for s in skus),
                      lat=float(e["lat"]), lon=float(e["lon"]))
        cols = np.array([col[s] for s in skus], np.int64)
        cands = build_candidates(inst.network, order, usable[:, cols], inst.cost)
        d = cands.data
        types.append(DLPType(cols, float(e["count"]), cands.nodes, d.unit_cost, d.parcel_cost,
                             d.avail > 0, d.unfilled_unit_cost, d.unfilled_parcel_cost))
    caps = inst.network.pick_capacity
    return _bound(types, usable, None if (caps >= UNLIMITED).all() else caps, max_iterations)


def expected_walkins(inst: Instance) -> WalkInDemand:
    """The instance's `expected_walkins` (docs/REPLAY_EXTENSIONS.md) as LP walk-in demand."""
    rows = inst.raw.get("expected_walkins") or []
    col = {s: j for j, s in enumerate(inst.skus)}
    if not rows:
        return WalkInDemand.empty()
    return WalkInDemand(np.array([inst.network.index[str(w["store"])] for w in rows]),
                        np.array([col[str(w["sku"])] for w in rows]),
                        np.array([float(w["qty"]) for w in rows]),
                        np.array([float(w.get("margin", 0.0)) for w in rows]))


def realised_types(inst: Instance) -> list[dict[str, Any]]:
    """The realised orders grouped into order types (location, method, SKU set) with counts."""
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for o in inst.orders:
        skus = tuple(sorted(dict.fromkeys(o.skus)))
        key = (o.lat, o.lon, o.method, o.pickup_node, skus)
        g = groups.setdefault(key, {"lat": o.lat, "lon": o.lon, "method": o.method,
                                    "pickup_node": o.pickup_node, "skus": list(skus),
                                    "count": 0.0})
        g["count"] += 1.0
    return list(groups.values())


def hindsight_of(inst: Instance, max_iterations: int = 500) -> DLPResult:
    """Hindsight bound: the pattern LP over the realised orders (what a clairvoyant could do).

    Every realised order type with its realised count, against all the stock the instance
    ever has (start + receipts; ordering in time is relaxed, so this stays a lower bound on
    every policy's judged cost). Lines count one unit each, as in REPLAY.md streams.
    """
    usable = inst.usable().astype(np.float64)
    col = {s: j for j, s in enumerate(inst.skus)}
    for _, node, sku, q in _receipts(inst):
        usable[inst.network.index[node], col[sku]] += q
    expected = realised_types(inst)
    types, _ = order_types(inst.network, inst.skus, inst.cost, expected, usable)
    caps = inst.network.pick_capacity
    return _bound(types, usable, None if (caps >= UNLIMITED).all() else caps, max_iterations)
