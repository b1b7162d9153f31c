"""Validating and recording simulation requests."""

from __future__ import annotations

import tomllib
from pathlib import Path

from sqlalchemy import select

from allocation.errors import DomainError, NotFound
from api.simulations.schemas import SimulationIn
from data.db import Database
from data.models import SimulationRun, utcnow

SCENARIOS = Path(__file__).resolve().parents[2] / "simulations" / "scenarios"


class BadScenario(DomainError):
    """The scenario does not parse or does not validate."""


def scenario_names() -> list[str]:
    """The committed example scenarios."""
    return sorted(p.stem for p in SCENARIOS.glob("*.toml"))


def create_run(db: Database, req: SimulationIn, started_by: str) -> SimulationRun:
    """Validate the scenario now (so errors reach the caller) and record a queued run."""
    from simulations.scenario import parse_scenario

    if req.scenario is not None:
        path = SCENARIOS / f"{req.scenario}.toml"
        if not path.exists():
            raise NotFound(f"no scenario {req.scenario!r}; expected one of "
                           f"{', '.join(scenario_names())}")
        source = path.read_text()
    else:
        source = req.toml or ""
    try:
        scenario = parse_scenario(tomllib.loads(source), default_name=req.scenario or "custom")
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        raise BadScenario(str(exc)) from None
    with db.transaction() as s:
        run = SimulationRun(scenario=scenario.name, source=source, seed=req.seed,
                            status="queued", progress=0.0, created_at=utcnow(),
                            started_by=started_by)
        s.add(run)
        s.flush()
        return run


def list_runs(db: Database, limit: int = 50) -> list[SimulationRun]:
    """The latest runs, newest first."""
    with db.read_session() as s:
        return list(s.scalars(select(SimulationRun).order_by(SimulationRun.id.desc())
                              .limit(limit)))


def get_run(db: Database, run_id: int) -> SimulationRun:
    """One run, or NotFound."""
    with db.read_session() as s:
        run = s.get(SimulationRun, run_id)
    if run is None:
        raise NotFound(f"no simulation run {run_id}")
    return run
