"""The two hottest routes answered without FastAPI's per-request machinery.

FastAPI's routing, dependency solving and response handling cost more CPU per request
than a product-page read itself: at 1,000 reads/s on one worker that alone fills a core.
This ASGI layer answers the plain forms of `GET /v1/availability?sku=...` (network view)
and `POST /v1/allocations` (a JSON body) itself, with the same request model, the same
service functions, the same scope check and the same problem responses, and hands
everything else to FastAPI: other query parameters, a failed or missing key (FastAPI then
answers 401/403), a body that does not validate (FastAPI answers 422 with its field
list). The FastAPI routes stay the documented contract; `tests/api/test_hot_paths.py`
checks that both paths give the same answers. `OMNI_HOT_PATHS=false` turns this off.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from allocation.errors import DomainError, InsufficientStock
from api.allocations.schemas import AllocationIn
from api.auth.dependencies import ANY_SCOPE, current_principal_of
from api.problems import domain_problem, problem
from api.validation import KEY_RE
from data.reference import zip_location
from fulfilment.availability import stock_view

log = logging.getLogger("omni.api")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


_ZIP = re.compile(r"[0-9]{5}")


async def _in_thread(f: Callable[..., Any], *args: Any) -> Any:
    return await run_in_threadpool(f, *args)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return dict(scope.get("headers", ()))


async def _send_json(send: Send, status: int, body: bytes,
                     media: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", media),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class HotPaths:
    """Serve the plain availability read and allocation; pass everything else on."""

    def __init__(self, app: Any, fastapi_app: FastAPI) -> None:
        self.app = app
        self.fa = fastapi_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a hot request or hand it to FastAPI."""
        if scope["type"] == "http" and getattr(self.fa.state.settings, "hot_paths", True):
            method, path = scope["method"], scope["path"]
            if method == "GET" and path == "/v1/availability":
                if await self._availability(scope, send):
                    return
            elif method == "POST" and path == "/v1/allocations":
                done, receive = await self._allocation(scope, receive, send)
                if done:
                    return
        await self.app(scope, receive, send)

    async def _allowed(self, scope: Scope, scopes: tuple[str, ...]) -> bool:
        try:
            who = await current_principal_of(self.fa, scope)
        except DomainError:
            return False  # FastAPI answers the 401 with its usual problem
        return any(who.can(s) for s in scopes)

    async def _availability(self, scope: Scope, send: Send) -> bool:
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                          keep_blank_values=True)
        settings = self.fa.state.settings
        codes = [v for k, v in query if k == "sku"]
        other = {k: v for k, v in query if k != "sku"}
        if not codes or len(codes) > settings.max_availability_skus or len(other) + len(
                codes) != len(query) or not set(other) <= {"node", "zip", "radius_miles"}:
            return False
        near, radius = None, None
        if "zip" in other:
            if not _ZIP.fullmatch(other["zip"]):
                return False
            try:
                near = zip_location(other["zip"])
            except DomainError:
                return False  # FastAPI names the unknown ZIP
            radius = settings.default_radius_miles
        if "radius_miles" in other:
            try:
                radius = float(other["radius_miles"])
            except ValueError:
                return False
            if not 0 < radius <= 500:
                return False
            radius = radius if near is not None else None
        if not await self._allowed(scope, ANY_SCOPE):
            return False
        db = self.fa.state.db
        run = (lambda f, *a: f(*a)) if db.sqlite else _in_thread
        try:
            body = await _maybe_await(run(self._read, codes, other.get("node"), near, radius))
        except DomainError as exc:
            await self._problem(scope, send, exc)
            return True
        scope["omni.route"] = "/v1/availability"
        await _send_json(send, 200, body)
        return True

    def _read(self, codes: list[str], node: str | None, near: tuple[float, float] | None,
              radius: float | None) -> bytes:
        """The availability answer: the route's own function (fulfilment.availability)."""
        st = self.fa.state
        return orjson.dumps(stock_view(st.db, st.skus, st.allocation, codes, node=node,
                                       near=near, radius_miles=radius))

    async def _allocation(self, scope: Scope, receive: Receive,
                          send: Send) -> tuple[bool, Receive]:
        headers = _headers(scope)
        if not headers.get(b"content-type", b"").startswith(b"application/json"):
            return False, receive
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return True, receive
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        key_raw = headers.get(b"idempotency-key")
        key = None if key_raw is None else key_raw.decode("latin-1")
        # A key breaking api.validation's rule: FastAPI's 422 (the same rule, on the header).
        if (key is not None and not KEY_RE.fullmatch(key)) or not await self._allowed(
                scope, ("orders:write",)):
            return False, replay
        try:
            req = AllocationIn.model_validate_json(body)
        except ValidationError:
            return False, replay  # FastAPI's 422 names every bad field
        scope["omni.route"] = "/v1/allocations"
        metrics = self.fa.state.metrics
        from fulfilment import allocations as service

        try:
            # SQLite: decided on the loop, the write awaited (no thread-pool hop).
            out = await service.allocate_async(self.fa.state.allocation, req, key)
        except DomainError as exc:
            if isinstance(exc, InsufficientStock):
                metrics.conflicts.inc()
            await self._problem(scope, send, exc)
            return True, replay
        except Exception as exc:  # same as the app's handler: log it, never send the trace
            log.exception("unhandled error", exc_info=exc)
            await self._send_response(scope, send, problem(
                500, "Internal error", "the server failed; the error was logged"))
            return True, replay
        if not out["dry_run"] and not out.get("replayed"):
            metrics.decision(out)
        await _send_json(send, 200, orjson.dumps(out))
        return True, replay

    async def _problem(self, scope: Scope, send: Send, exc: DomainError) -> None:
        await self._send_response(scope, send, domain_problem(exc))

    @staticmethod
    async def _send_response(scope: Scope, send: Send, response: Any) -> None:
        async def no_body() -> dict[str, Any]:
            return {"type": "http.disconnect"}
        await response(scope, no_body, send)
