"""GET /metrics (Prometheus text format)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.auth.dependencies import require

router = APIRouter(tags=["operations"])


@router.get("/metrics", dependencies=[Depends(require("ops:read"))],
            response_class=PlainTextResponse)
def metrics(request: Request) -> Response:
    """Request latency per route, allocation units by method, conflicts, re-routes, expiries."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
