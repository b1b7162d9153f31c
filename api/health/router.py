"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from api.dependencies import Db

router = APIRouter(tags=["health"])


@router.get("/health")
def health(db: Db) -> dict[str, str]:
    """Liveness plus a database round trip."""
    with db.read_session() as s:
        s.execute(text("SELECT 1"))
    return {"status": "ok", "database": db.engine.dialect.name}
