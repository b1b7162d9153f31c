"""Simulation jobs: run in a separate process so the API stays responsive; state in the DB."""

from __future__ import annotations

import multiprocessing as mp
import time
import tomllib
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from sqlalchemy import update

from data.db import Database
from data.models import SimulationRun, utcnow

PROGRESS_STEP = 0.02  # write progress at most every 2 points: one UPDATE, not one per day


def run_job(database_url: str, run_id: int) -> None:
    """Run one stored simulation to completion, writing progress and results (in a worker)."""
    from simulations.runner import run_scenario
    from simulations.scenario import parse_scenario

    db = Database.from_url(database_url)
    try:
        with db.session() as s:
            run = s.get(SimulationRun, run_id)
            assert run is not None, f"no simulation run {run_id}"
            source, seed, name = run.source, run.seed, run.scenario
        _set(db, run_id, status="running", progress=0.0)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            frac = done / max(total, 1)
            if frac - last[0] >= PROGRESS_STEP or done == total:
                last[0] = frac
                _set(db, run_id, progress=round(min(frac, 0.999), 4))

        t0 = time.perf_counter()
        scenario = parse_scenario(tomllib.loads(source), default_name=name)
        result = run_scenario(scenario, seed, progress, keep_records=False)
        kpis = result.kpis.astype(object).where(result.kpis.notna(), None).to_dict("records")
        _set(db, run_id, status="done", progress=1.0, kpis=kpis,
             bound=None if result.bound is None else float(result.bound.value),
             seconds=time.perf_counter() - t0, finished_at=utcnow())
    except Exception as exc:
        _set(db, run_id, status="failed", error=f"{exc.__class__.__name__}: {exc}"[:2000],
             finished_at=utcnow())
        traceback.print_exc()
    finally:
        db.dispose()


def _set(db: Database, run_id: int, **values: Any) -> None:
    with db.transaction() as s:
        s.execute(update(SimulationRun).where(SimulationRun.id == run_id).values(**values)
                  .execution_options(synchronize_session=False))


class SimulationJobs:
    """One worker process for simulations (they are CPU-bound; requests must not wait)."""

    def __init__(self, database_url: str, workers: int = 1) -> None:
        self.database_url = database_url
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
        self.futures: dict[int, Future[None]] = {}

    def submit(self, run_id: int) -> None:
        """Queue a stored run."""
        self.futures[run_id] = self._pool.submit(run_job, self.database_url, run_id)

    def shutdown(self) -> None:
        """Stop taking work; a running simulation is abandoned (its row stays 'running')."""
        self._pool.shutdown(wait=False, cancel_futures=True)
