"""GET /v1/forecasts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from allocation.errors import InvalidQuantity, UnknownReference
from api.dependencies import DbRead
from api.forecasts.schemas import ForecastRow, ForecastRunOut, ForecastsOut
from api.validation import CODE_PARAM
from data.forecast_store import read_forecasts
from data.models import Node, Sku

router = APIRouter(tags=["forecasts"])


@router.get("/forecasts")
def get_forecasts(
    session: DbRead,
    node: Annotated[str | None, Query(**CODE_PARAM, description="Node code.")] = None,
    sku: Annotated[str | None, Query(**CODE_PARAM, description="SKU code.")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    # Bounded: a larger offset overflows the database integer (a 500) and returns nothing.
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> ForecastsOut:
    """Daily demand forecasts (mean and quantiles) of a node, a SKU, or one (node, SKU)."""
    if node is None and sku is None:
        raise InvalidQuantity("give node, sku or both")
    if node is not None and session.scalar(select(Node.id).where(Node.code == node)) is None:
        raise UnknownReference(f"unknown node: {node}", nodes=[node])
    if sku is not None and session.scalar(select(Sku.id).where(Sku.code == sku)) is None:
        raise UnknownReference(f"unknown SKU(s): {sku}", skus=[sku])
    run, rows = read_forecasts(session, node, sku, limit, offset)
    return ForecastsOut(
        run=None if run is None else ForecastRunOut.model_validate(run, from_attributes=True),
        items=[ForecastRow(**r) for r in rows], limit=limit, offset=offset)
