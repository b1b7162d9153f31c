"""decide() is pinned: seeded random orders give the same decisions and candidates as recorded.

The golden file was produced by the code before the hot-path rework of decide (caches per
network and cost model, fewer numpy calls on tiny arrays); every later change must keep
allocations, methods, costs, promise dates, runner-ups, unfilled reasons and the priced
candidates; floats to 7 significant digits, since numpy's vectorised sin/cos differ in
the last bit between CPUs (the haversine miles of the 600-node network did on a new
machine). Only timings are left out. Regenerate (only for an intended change of results;
the file was written by the code of 807643a) with:

    .venv/bin/python -m tests.allocation.test_decide_golden --write
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from allocation.candidates import Candidates
from allocation.costs import CostModel, DistanceRates, PickCosts, RateCard, TransferRates
from allocation.decision import Decision
from allocation.network import UNLIMITED, Network, Order, OrderLine
from allocation.service import OpportunityCosts, decide

GOLDEN = Path(__file__).parent / "data" / "decide_golden.json"
N_SKUS = 8
CASES = {"small": 320, "large": 200}  # orders per network
FULL = 4  # cases per network stored in full (the rest as a hash)
TIMING = ("seconds", "solve_seconds")


def _zone_chart(seed: int) -> np.ndarray:
    """A read-only (1000, 1000) uint8 chart: zones 1..9 with 15% of cells unknown (0)."""
    rng = np.random.default_rng(seed)
    zm = rng.integers(1, 10, (1000, 1000)).astype(np.uint8)
    zm[rng.random(zm.shape) < 0.15] = 0
    zm.setflags(write=False)
    return zm


def _network(kind: str) -> Network:
    """small: 3 DCs + 12 stores in Texas (the demo's shape); large: 600 nodes across the US."""
    if kind == "small":
        rng = np.random.default_rng(15)
        n, n_dc = 15, 3
        lat, lon = rng.uniform(26, 34, n), rng.uniform(-106, -94, n)
        zip3 = rng.integers(750, 800, n)
    else:
        rng = np.random.default_rng(600)
        n, n_dc = 600, 60
        lat, lon = rng.uniform(26, 48, n), rng.uniform(-122, -70, n)
        zip3 = rng.integers(0, 1000, n)
    zip3[rng.random(n) < 0.1] = -1
    is_store = np.arange(n) >= n_dc
    cap = np.where(is_store, rng.integers(0, 8, n), UNLIMITED)
    pick = np.where(rng.random(n) < 0.3, rng.uniform(0.2, 1.5, n), np.nan)
    return Network(
        codes=tuple(f"{'ST' if s else 'DC'}-{k}" for k, s in enumerate(is_store)),
        is_store=is_store, lat=lat, lon=lon,
        ship_from_store=is_store & (rng.random(n) < 0.8),
        click_and_collect=is_store & (rng.random(n) < 0.9), pick_capacity=cap, zip3=zip3,
        pick_cost=pick)


def _cost_models() -> list[CostModel]:
    return [
        CostModel(),
        CostModel(shipping=DistanceRates(), pick=PickCosts(0.0, 0.0),
                  transfer=TransferRates(enabled=False), unfilled_per_unit=0.0,
                  pickup_priced_as_shipping=True),
        CostModel(shipping=DistanceRates(), pick=PickCosts(0.3, 0.9), unfilled_per_unit=5.0),
        CostModel(shipping=RateCard(), transfer=TransferRates(enabled=False),
                  unfilled_multiplier=1.5),
        CostModel(pick=PickCosts(0.5, 0.5), unfilled_per_unit=0.0),
    ]


def _cases(kind: str) -> Iterator[tuple[str, Network, Order, np.ndarray, dict[str, Any]]]:
    """Seeded orders covering ship and pickup, rules, deadlines, caps, weights and prices."""
    network = _network(kind)
    n = len(network)
    rng = np.random.default_rng(20250 + len(kind))
    charts = [_zone_chart(1), None]
    costs = _cost_models()
    stores = [c for c, s in zip(network.codes, network.is_store, strict=True) if s]
    zip3s = [int(z) for z in network.zip3 if z >= 0]
    codes = [f"S{j}" for j in range(N_SKUS)]
    opp_values = rng.uniform(0, 2, (n, N_SKUS)) * (rng.random((n, N_SKUS)) < 0.4)
    opportunity = OpportunityCosts(tuple(codes[:6]), opp_values[:, :6])
    base = dt.datetime(2025, 3, 3, 0, 0)
    for k in range(CASES[kind]):
        n_lines = int(rng.choice([1, 1, 1, 2, 2, 3, 4, 5]))
        skus = [codes[j] for j in rng.choice(N_SKUS, size=n_lines, replace=False)]
        if n_lines > 1 and rng.random() < 0.1:
            skus[-1] = skus[0]  # a repeated SKU: two lines share its units
        lines = tuple(OrderLine(s, int(rng.choice([1, 1, 1, 2, 3]))) for s in skus)
        u = rng.random()
        zip3 = (int(rng.choice(zip3s)) if u < 0.6 else int(rng.integers(0, 1000)) if u < 0.85
                else None if u < 0.95 else 1200)
        pickup = rng.random() < 0.25
        clock = base + dt.timedelta(days=int(rng.integers(0, 5)),
                                    minutes=int(rng.integers(0, 24 * 60)))
        placed = clock if rng.random() < 0.3 else None
        now = clock if rng.random() < 0.7 else None
        known = placed or now
        deliver_by = (known.date() + dt.timedelta(days=int(rng.integers(0, 5)))
                      if known is not None and rng.random() < 0.25 else None)
        if kind == "small":
            lat, lon = float(rng.uniform(26, 34)), float(rng.uniform(-106, -94))
        else:
            lat, lon = float(rng.uniform(26, 48)), float(rng.uniform(-122, -70))
        order = Order(
            f"{kind}-{k}", lines, lat=lat, lon=lon, method="pickup" if pickup else "ship",
            pickup_node=str(rng.choice(stores)) if pickup else None, zip3=zip3,
            single_parcel=bool(rng.random() < 0.08),
            max_parcels=int(rng.integers(1, 3)) if rng.random() < 0.12 else None,
            deliver_by=deliver_by, placed_at=placed)
        n_distinct = len(dict.fromkeys(skus))
        if kind == "small":
            atp = rng.integers(0, 5, (n, n_distinct)) * (rng.random((n, n_distinct)) < 0.5)
            store_cap = rng.integers(0, 6, n)
        else:  # deep DC stock, a few units in some stores (CP-SAT stays well within 1 s)
            held = np.where(network.is_store, 0.04, 0.7)[:, None]
            atp = rng.integers(1, 4, (n, n_distinct)) * (rng.random((n, n_distinct)) < held)
            atp[~network.is_store] *= int(rng.choice([2, 8, 8]))
            store_cap = rng.integers(0, 40, n)
        capacity = None
        if rng.random() < 0.5:
            capacity = np.where(network.is_store, store_cap, UNLIMITED)
        kwargs: dict[str, Any] = {
            "policy": str(rng.choice(["optimal"] * 8 + ["nearest", "rules"])),
            "cost": costs[int(rng.integers(0, len(costs)))],
            "capacity": capacity,
            "zone_matrix": charts[int(rng.random() < 0.2)],
            "now": now,
            "explain": bool(rng.random() < 0.9),
        }
        if rng.random() < 0.2:
            kwargs["sku_weights"] = {s: float(rng.uniform(0.2, 3.0)) for s in codes[:5]}
        if rng.random() < 0.15:
            kwargs["opportunity"] = opportunity
        yield order.id, network, order, atp, kwargs


def _plain(a: Any) -> Any:
    return a.tolist() if isinstance(a, np.ndarray) else a


def snapshot(decision: Decision, cands: Candidates) -> dict[str, Any]:
    """Everything decide returns as plain JSON (floats exact), timings left out."""
    doc = decision.to_dict()
    doc["solver"] = {k: v for k, v in doc["solver"].items() if k not in TIMING}
    d = cands.data
    doc["candidates"] = {
        "skus": list(cands.skus), "qty": _plain(cands.qty), "line_sku": _plain(cands.line_sku),
        "nodes": _plain(cands.nodes), "methods": list(cands.methods),
        "miles": _plain(cands.miles),
        "promise": None if cands.promise is None else [p.isoformat() for p in cands.promise],
        "parcel": _plain(cands.parcel), "ship_unit": _plain(cands.ship_unit),
        "pick_unit": _plain(cands.pick_unit), "opp_unit": _plain(cands.opp_unit),
        "unfilled_parcel": float(cands.unfilled_parcel),
        "unfilled_unit": _plain(cands.unfilled_unit), "reasons": list(cands.reasons),
        "data": {"qty": _plain(d.qty), "avail": _plain(d.avail),
                 "unit_cost": _plain(d.unit_cost), "parcel_cost": _plain(d.parcel_cost),
                 "capacity": _plain(d.capacity),
                 "unfilled_unit_cost": _plain(d.unfilled_unit_cost),
                 "unfilled_parcel_cost": d.unfilled_parcel_cost,
                 "max_parcels": d.max_parcels},
    }
    return doc


def canonical(x: Any) -> Any:
    """The document with every float to 7 significant digits (last-bit noise gone)."""
    if isinstance(x, float):
        return float(f"{x:.7g}")
    if isinstance(x, dict):
        return {k: canonical(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [canonical(v) for v in x]
    return x


def digest(doc: dict[str, Any]) -> str:
    """Short SHA-256 of the canonical JSON (floats to 7 significant digits)."""
    return hashlib.sha256(json.dumps(canonical(doc), sort_keys=True).encode()).hexdigest()[:20]


def run_all() -> tuple[dict[str, Any], dict[str, set[str]]]:
    """Snapshot of every case (hashes of all, a few in full) and the branches they reached."""
    hashes: dict[str, str] = {}
    full: dict[str, Any] = {}
    seen: dict[str, set[str]] = {"how": set(), "method": set(), "reason": set()}
    for kind in CASES:
        for i, (cid, network, order, atp, kwargs) in enumerate(_cases(kind)):
            policy = kwargs.pop("policy")
            decision, cands = decide(order, network, atp, policy, **kwargs)
            doc = canonical(snapshot(decision, cands))
            hashes[cid] = digest(doc)
            if i < FULL:
                full[cid] = doc
            seen["how"].add(str(decision.solver["method"]))
            for line in decision.lines:
                seen["method"].update(a.method for a in line.allocations)
                if line.unfilled_reason:
                    seen["reason"].add(line.unfilled_reason)
    return {"hashes": hashes, "full": full}, seen


@pytest.fixture(scope="module")
def results() -> tuple[dict[str, Any], dict[str, set[str]]]:
    """Every case decided once."""
    return run_all()


def test_decide_matches_the_recorded_decisions(
    results: tuple[dict[str, Any], dict[str, set[str]]],
) -> None:
    golden = json.loads(GOLDEN.read_text())
    got, _ = results
    assert set(golden["hashes"]) == {f"{k}-{i}" for k, c in CASES.items() for i in range(c)}
    for cid, doc in golden["full"].items():
        assert got["full"][cid] == doc, cid
    differ = [cid for cid, h in golden["hashes"].items() if got["hashes"].get(cid) != h]
    assert not differ, f"{len(differ)} of {len(golden['hashes'])} decisions differ: {differ[:10]}"


def test_cases_cover_every_branch(results: tuple[dict[str, Any], dict[str, set[str]]]) -> None:
    """The seeded cases reach every solve path, method and unfilled reason they should."""
    _, seen = results
    assert {"trivial", "subset-dp", "cp-sat", "nearest", "rules"} <= seen["how"]
    assert {"ship_from_dc", "ship_from_store", "pickup_from_shelf",
            "pickup_via_transfer"} <= seen["method"]
    assert {"no_stock_at_eligible_node", "insufficient_stock", "deadline",
            "no_pick_capacity"} <= seen["reason"], seen["reason"]


if __name__ == "__main__":  # pragma: no cover - regenerating the golden file
    if "--write" not in sys.argv:
        raise SystemExit("pass --write to overwrite " + str(GOLDEN))
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(run_all()[0], sort_keys=True, separators=(",", ":")) + "\n")
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")
