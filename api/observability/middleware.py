"""Per-request id, latency histogram by route template, and one JSON access-log line."""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi import FastAPI, Request

from api.observability.logs import request_id
from api.observability.metrics import Metrics

access = logging.getLogger("omni.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")


def _template(request: Request) -> str:
    """The matched route's path template with its router prefix ("unmatched" for 404s)."""
    # FastAPI >= 0.16x resolves included routers lazily: the prefixed template lives in the
    # effective route context; older versions put the prefixed route itself in scope.
    ctx = (request.scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(ctx, "path", None) or getattr(request.scope.get("route"), "path", None)
    return path or "unmatched"


def install(app: FastAPI, metrics: Metrics) -> None:
    """Wrap every request: X-Request-ID in and out, latency observed, access line logged."""

    @app.middleware("http")
    async def observe(request: Request, call_next):  # type: ignore[no-untyped-def]
        given = request.headers.get("x-request-id", "")
        rid = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["x-request-id"] = rid
            return response
        finally:
            elapsed = time.perf_counter() - start
            route = _template(request)
            metrics.latency.labels(request.method, route, str(status)).observe(elapsed)
            who = getattr(request.state, "principal", None)
            access.info("request", extra={
                "method": request.method, "path": request.url.path, "route": route,
                "status": status, "ms": round(elapsed * 1000, 2),
                "principal": getattr(who, "key_id", None)})
            request_id.reset(token)
