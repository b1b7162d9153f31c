"""Liveness and readiness probes (no API key: load balancers and orchestrators call them)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.dependencies import Db
from data.db import Database

router = APIRouter(tags=["health"])


@router.get("/health")
def health(db: Db) -> dict[str, str]:
    """Liveness plus a database round trip."""
    with db.read_session() as s:
        s.execute(text("SELECT 1"))
    return {"status": "ok", "database": db.engine.dialect.name}


@router.get("/live")
async def live() -> dict[str, str]:
    """Liveness: the process answers (restart it if this fails)."""
    return {"status": "ok"}


def _ready(db: Database) -> tuple[bool, dict[str, str | None]]:
    from data.migrate import schema_state

    try:
        current, head = schema_state(db.engine)
    except Exception as exc:  # a probe reports, it never raises
        return False, {"status": "unavailable", "detail": f"database: {type(exc).__name__}"}
    if current != head:
        return False, {"status": "unavailable", "schema": current, "expected": head,
                       "detail": "run `omni db upgrade`"}
    return True, {"status": "ok", "schema": current}


@router.get("/ready", responses={503: {"description": "Database down or schema not migrated."}})
async def ready(db: Db) -> JSONResponse:
    """Readiness: the database answers and its schema is at the bundled migration head."""
    ok, body = await run_in_threadpool(_ready, db)
    return JSONResponse(body, status_code=200 if ok else 503)
