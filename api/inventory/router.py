"""POST /v1/inventory/events and GET /v1/availability."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from allocation.errors import InvalidQuantity
from api.auth.dependencies import ANY_SCOPE, require
from api.dependencies import AppSettings, Db
from api.inventory.schemas import (
    AvailabilityOut,
    InventoryBatchIn,
    InventoryResult,
)
from api.validation import KEY_HEADER
from fulfilment import inventory as service
from fulfilment.availability import stock_view

router = APIRouter(tags=["inventory"])


@router.post("/inventory/events", dependencies=[Depends(require("inventory:write"))])
async def post_events(
    body: InventoryBatchIn, db: Db, settings: AppSettings,
    idempotency_key: Annotated[str | None, Header(**KEY_HEADER)] = None,
) -> InventoryResult:
    """Apply one event, a list, or {"events": [...]} (all or nothing; idempotent per event_id)."""
    return InventoryResult(**await run_in_threadpool(
        service.apply_events, db, body.events, settings.max_batch_events, idempotency_key))


@router.get("/availability", dependencies=[Depends(require(*ANY_SCOPE))],
            response_model=AvailabilityOut)
def get_availability(
    request: Request,
    db: Db,
    settings: AppSettings,
    # Codes are not pattern-checked here: an unknown code is a 422 naming it, the same
    # answer as api.hot_paths' (a NUL is refused before, by the body-limit middleware).
    sku: Annotated[list[str], Query(min_length=1, description="SKU codes (repeat the parameter).")],
    node: Annotated[str | None, Query(description="Only this node.")] = None,
    zip: Annotated[str | None, Query(pattern=r"^[0-9]{5}$", description="Customer ZIP.")] = None,
    radius_miles: Annotated[float | None, Query(gt=0, le=500)] = None,
    nodes: Annotated[bool | None, Query(description="Include per-node rows (default: when "
                                        "node or zip is given).")] = None,
) -> Response:
    """ATP per node and network-wide, shelf stock for walk-ins, optionally near a ZIP."""
    if len(sku) > settings.max_availability_skus:
        raise InvalidQuantity(f"expected at most {settings.max_availability_skus} SKUs per "
                              f"query, got {len(sku)}")
    near = None
    if zip is not None:
        from data.reference import zip_location

        near = zip_location(zip)
    radius = radius_miles or (settings.default_radius_miles if near else None)
    state = request.app.state
    return _json(stock_view(db, state.skus, state.allocation, sku, node=node, near=near,
                            radius_miles=radius, rows=nodes))


def _json(body: dict) -> Response:
    # The body is built from the schema's own fields; FastAPI's second validation pass
    # of a few hundred rows would cost more than the query.
    return Response(orjson.dumps(body), media_type="application/json")
