"""Per-request id, latency histogram by route template, and one JSON access-log line.

Pure ASGI middleware rather than `@app.middleware("http")`: Starlette's BaseHTTPMiddleware
runs every request through an extra task and a memory stream, which cost more CPU than
the availability read it wraps.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from typing import Any

from fastapi import FastAPI

from api.observability.logs import request_id
from api.observability.metrics import Metrics

access = logging.getLogger("omni.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,100}$")

Scope = dict[str, Any]

# Generated request ids: a random 80-bit prefix per process and a counter, 32 hex digits
# like a UUID's, unique across workers and restarts without a random draw per request.
_ID_PREFIX = os.urandom(10).hex()
_ID_COUNTER = itertools.count()


def new_request_id() -> str:
    """A fresh request id (32 hex digits)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFF:012x}"


def _template(scope: Scope) -> str:
    """The matched route's path template with its router prefix ("unmatched" for 404s)."""
    # FastAPI >= 0.16x resolves included routers lazily: the prefixed template lives in the
    # effective route context; older versions put the prefixed route itself in scope.
    if "omni.route" in scope:  # answered by api.hot_paths
        return scope["omni.route"]
    ctx = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(ctx, "path", None) or getattr(scope.get("route"), "path", None)
    return path or "unmatched"


def _header(scope: Scope, name: bytes) -> str:
    for k, v in scope.get("headers", ()):
        if k == name:
            return v.decode("latin-1")
    return ""


class ObserveMiddleware:
    """X-Request-ID in and out, latency observed per route, one access line per request."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._latency: dict[tuple[str, str, int], Any] = {}  # labelled children, looked up once

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Wrap one HTTP request (other scopes pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        rid = given if _SAFE_ID.match(given) else new_request_id()
        raw_rid = rid.encode()
        token = request_id.set(rid)
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", raw_rid)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = _template(scope)
            method = scope.get("method", "")
            child = self._latency.get((method, route, status))
            if child is None:
                child = self.metrics.latency.labels(method, route, str(status))
                self._latency[(method, route, status)] = child
            child.observe(elapsed)
            who = (scope.get("state") or {}).get("principal")
            access.info("request", extra={
                "method": method, "path": scope.get("path", ""), "route": route,
                "status": status, "ms": round(elapsed * 1000, 2),
                "principal": getattr(who, "key_id", None)})
            request_id.reset(token)


class BodyLimitMiddleware:
    """Refuse bodies larger than the limit before reading them (413 problem)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Answer 413 when Content-Length is over the limit; otherwise pass through."""
        if scope["type"] == "http":
            size = _header(scope, b"content-length")
            if size.isdigit() and int(size) > self.max_bytes:
                from api.problems import problem

                # A feed must be split, not truncated.
                response = problem(
                    413, "Request too large",
                    f"body of {size} bytes exceeds the limit of {self.max_bytes}; "
                    "split the batch", "/problems/too-large")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install(app: FastAPI, metrics: Metrics, max_body_bytes: int) -> None:
    """Add the hot paths, the body limit and, outermost, the request id / latency / log."""
    from api.hot_paths import HotPaths

    app.add_middleware(HotPaths, fastapi_app=app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(ObserveMiddleware, metrics=metrics)
