"""Sweeps over scenarios x seeds: serially, or fanned out over a Dask cluster.

Each task is `run_scenario(scenario, seed)`, deterministic for its inputs, so a sweep gives
the same KPIs however it is scheduled. By default a LocalCluster of processes with one
thread each (the solvers hold the GIL); `scheduler` names a running cluster instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from simulations.runner import SimulationResult, run_scenario
from simulations.scenario import Scenario

__all__ = ["run_sweep", "sweep_tasks"]


def sweep_tasks(scenarios: Sequence[Scenario], seeds: Sequence[int]) -> list[tuple[Scenario, int]]:
    """Every (scenario, seed) pair, scenarios outermost."""
    return [(s, seed) for s in scenarios for seed in seeds]


def _run(scenario: Scenario, seed: int) -> SimulationResult:
    return run_scenario(scenario, seed)


def run_sweep(
    scenarios: Sequence[Scenario], seeds: Sequence[int], *, workers: int = 0,
    scheduler: str | None = None, on_done: Callable[[SimulationResult], None] | None = None,
) -> list[SimulationResult]:
    """Run every (scenario, seed); serial when workers <= 1 and no scheduler is given.

    Results come back in task order whatever order the workers finish in.
    """
    tasks = sweep_tasks(scenarios, seeds)
    if scheduler is None and workers <= 1:
        out = []
        for scen, seed in tasks:
            res = _run(scen, seed)
            if on_done is not None:
                on_done(res)
            out.append(res)
        return out
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = [client.submit(_run, scen, seed, pure=False) for scen, seed in tasks]
        index = {f.key: k for k, f in enumerate(futures)}
        out: list[SimulationResult | None] = [None] * len(tasks)
        for fut in as_completed(futures):
            res = fut.result()
            out[index[fut.key]] = res
            if on_done is not None:
                on_done(res)
        return [r for r in out if r is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
