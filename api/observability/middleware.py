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
from api.problems import BodyTooLarge, problem

access = logging.getLogger("omni.access")
errors = logging.getLogger("omni.api")
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
    """X-Request-ID in and out, latency observed per route, one access line per request.

    An exception no handler answered is logged and answered (500 problem) here, inside the
    request's context: Starlette's ServerErrorMiddleware sits outside every user middleware,
    so its log line had no request id and its 500 no X-Request-ID header.
    """

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
        status = 0  # no response started yet

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", raw_rid)]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Log the trace for operators (with the request id); never send it to the client.
            errors.exception("unhandled error", exc_info=exc)
            if status == 0:
                await problem(500, "Internal error", "the server failed; the error was logged")(
                    scope, receive, send_with_id)
            # Handled: re-raising would have ServerErrorMiddleware log it again, without id.
        finally:
            status = status or 500
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
    """The request's edge checks, before anything reads the body or touches the database.

    - A body over the limit gets a 413 problem: at once when Content-Length says so, and,
      when the size is not announced (chunked transfer encoding), as soon as the bytes read
      so far pass the limit. It wraps api.hot_paths, which reads bodies itself.
    - A NUL character in the path or the query string gets a 422 problem (PostgreSQL cannot
      store or compare one; every body field has its own rule, see api.validation).
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Check the request's size and path; pass it through (counted when chunked)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            await self._nul(scope, receive, send)
            return
        size = None
        chunked = False
        for k, v in scope["headers"]:
            if k == b"content-length":
                size = v
            elif k == b"transfer-encoding":
                chunked = True
        if size is not None and not chunked and size.isdigit():
            if int(size) > self.max_bytes:
                await BodyTooLarge(self.max_bytes, int(size)).response()(scope, receive, send)
                return
            # The server reads no more than Content-Length: nothing to count.
            await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Any, send: Any) -> None:
        limit = self.max_bytes
        seen = 0
        started = False

        async def counting() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # FastAPI re-raises an HTTPException from the body read and answers it
                    # with the problem handler (api.problems); from elsewhere (the hot
                    # path) it comes up to this middleware.
                    raise BodyTooLarge(limit)
            return message

        async def tracking(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting, tracking)
        except BodyTooLarge as exc:
            if started:
                raise
            await exc.response()(scope, receive, send)

    @staticmethod
    async def _nul(scope: Scope, receive: Any, send: Any) -> None:
        where = "path" if "\x00" in scope["path"] else "query"
        detail = (f"the request {where} contains a NUL character (%00); ids, codes and "
                  "text may not contain control characters")
        await problem(422, "Invalid request", detail, "/problems/validation",
                      errors=[{"field": where, "message": detail}])(scope, receive, send)


def install(app: FastAPI, metrics: Metrics, max_body_bytes: int) -> None:
    """Add the hot paths, the body limit and, outermost, the request id / latency / log."""
    from api.hot_paths import HotPaths

    app.add_middleware(HotPaths, fastapi_app=app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(ObserveMiddleware, metrics=metrics)
