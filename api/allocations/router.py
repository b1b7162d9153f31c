"""POST /v1/allocations: source an order (or quote it with dry_run)."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Request
from fastapi.responses import Response

from allocation.errors import InsufficientStock
from api.allocations.schemas import AllocationIn, AllocationOut
from api.dependencies import Db
from api.validation import KEY_HEADER
from fulfilment import allocations as service

router = APIRouter(tags=["allocations"])


@router.post("/allocations", response_model=AllocationOut)
async def post_allocation(
    body: AllocationIn, request: Request, db: Db,
    idempotency_key: Annotated[str | None, Header(**KEY_HEADER)] = None,
) -> Response:
    """Decide per line the node and method at least cost, reserve it, and say why."""
    metrics = request.app.state.metrics
    try:
        out = await service.allocate_async(request.app.state.allocation, body, idempotency_key)
    except InsufficientStock:  # the stock kept moving under us: refused, nothing written
        metrics.conflicts.inc()
        raise
    if not out["dry_run"] and not out.get("replayed"):
        metrics.decision(out)
    # `out` is built to the schema (decision.to_dict); validating it again costs more than
    # the decision itself on small orders.
    return Response(orjson.dumps(out), media_type="application/json")
