"""`run_scenario`: every policy of a scenario over one seed's demand, KPIs and the bound.

This is the function the HTTP background job and the sweeps call; it needs no database and
no web stack, only the demo DataFrames and the in-memory ledger.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulations.demand import generate_demand
from simulations.engine import Plugin, Run
from simulations.kpis import BoundResult, gap_closed, hindsight_bound, run_kpis
from simulations.records import (
    DayRecord,
    OrderRecord,
    ParcelRecord,
    PickupRecord,
    ReplenishmentRecord,
    WalkInRecord,
    to_frame,
)
from simulations.scenario import Scenario
from simulations.world import World, build_world

__all__ = ["RECORD_KINDS", "SimulationResult", "run_scenario"]

RECORD_KINDS = {"orders": OrderRecord, "parcels": ParcelRecord, "walk_ins": WalkInRecord,
                "pickups": PickupRecord, "replenishments": ReplenishmentRecord,
                "days": DayRecord}
ProgressCallback = Callable[[int, int], None]


@dataclass(eq=False)
class SimulationResult:
    """KPIs (one row per policy), the records of every policy, the bound, stock balances."""

    scenario: Scenario
    seed: int
    kpis: pd.DataFrame
    records: dict[str, pd.DataFrame]
    bound: BoundResult | None
    balances: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    seconds: float = 0.0


def run_scenario(scenario: Scenario, seed: int,
                 progress_callback: ProgressCallback | None = None, *,
                 plugins: Sequence[Plugin] = (), world: World | None = None,
                 keep_records: bool = True) -> SimulationResult:
    """Simulate every policy of `scenario` over the demand of `seed` (deterministic).

    `progress_callback(done, total)` is called after every simulated day of every policy
    (and once more after the bound).
    """
    started = time.perf_counter()
    world = world if world is not None else build_world(scenario)
    demand = generate_demand(world, seed)
    horizon = scenario.horizon_days
    total = horizon * len(scenario.policies) + int(scenario.bound.enabled)
    runs: list[Run] = []
    for k, policy in enumerate(scenario.policies):
        def tick(day: int, k: int = k) -> None:
            if progress_callback is not None:
                progress_callback(k * horizon + day, total)
        run = Run(world, demand, policy, plugins)
        t0 = time.perf_counter()
        run.run(tick)
        run.decide_seconds = time.perf_counter() - t0
        runs.append(run)
    bound = None
    if scenario.bound.enabled:
        bound = hindsight_bound(world, demand, runs, scenario.bound.max_iterations)
        if progress_callback is not None:
            progress_callback(total, total)
    kpis = pd.DataFrame([run_kpis(r) for r in runs])
    kpis.insert(0, "scenario", scenario.name)
    kpis.rename(columns={"decide_seconds": "run_seconds"}, inplace=True)
    kpis["bound"] = np.nan if bound is None else bound.value
    nearest = kpis.loc[kpis["policy"] == "nearest", "objective"]
    kpis["gap_closed"] = [
        gap_closed(v, float(nearest.iloc[0]), bound.value)
        if bound is not None and len(nearest) else np.nan for v in kpis["objective"]]
    records: dict[str, pd.DataFrame] = {}
    if keep_records:
        for name, cls in RECORD_KINDS.items():
            frame = pd.concat([to_frame(getattr(r, name), cls) for r in runs],
                              ignore_index=True)
            frame.insert(0, "scenario", scenario.name)
            records[name] = frame
    return SimulationResult(scenario, seed, kpis, records, bound,
                            {r.policy.name: r.stock_balance() for r in runs},
                            time.perf_counter() - started)
