"""POST /v1/simulations (a background job) and GET its progress and KPIs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from api.auth.dependencies import require
from api.dependencies import Db
from api.simulations import service
from api.simulations.schemas import SimulationIn, SimulationOut
from fulfilment.actors import Principal

router = APIRouter(tags=["simulations"])
Planner = Annotated[Principal, Depends(require("planner"))]
Reader = Annotated[Principal, Depends(require("planner", "ops:read"))]
# Row ids are 64-bit: a larger number would overflow the database driver (a 500, not a 404).
RunId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("/simulations", status_code=202)
async def start_simulation(body: SimulationIn, request: Request, db: Db,
                           who: Planner) -> SimulationOut:
    """Validate the scenario, queue the run, return at once (poll GET for progress)."""
    run = await run_in_threadpool(service.create_run, db, body, who.name)
    request.app.state.simulations.submit(run.id)
    return SimulationOut.model_validate(run)


@router.get("/simulations")
def list_simulations(db: Db, _: Reader) -> list[SimulationOut]:
    """The latest simulation runs, newest first."""
    return [SimulationOut.model_validate(r) for r in service.list_runs(db)]


@router.get("/simulations/{run_id}")
def get_simulation(run_id: RunId, db: Db, _: Reader) -> SimulationOut:
    """One run's status, progress and, when done, KPIs per policy and the bound."""
    return SimulationOut.model_validate(service.get_run(db, run_id))
