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

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api.allocations.schemas import AllocationIn
from api.auth.dependencies import ANY_SCOPE, current_principal_of
from api.problems import domain_problem, problem
from data import availability
from data.errors import DomainError, InsufficientStock

log = logging.getLogger("omni.api")
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


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
        if not query or any(k != "sku" for k, _ in query) \
                or len(query) > settings.max_availability_skus:
            return False
        if not await self._allowed(scope, ANY_SCOPE):
            return False
        scope["omni.route"] = "/v1/availability"
        db = self.fa.state.db
        codes = [v for _, v in query]
        try:
            if db.sqlite:  # a few indexed rows: cheaper inline than a thread-pool hop
                network = availability.network_atp_fast(db, self.fa.state.skus, codes)
            else:
                network = await run_in_threadpool(availability.network_atp_fast, db,
                                                  self.fa.state.skus, codes)
        except DomainError as exc:
            await self._problem(scope, send, exc)
            return True
        body = json.dumps({"network": network, "nodes": []}, separators=(",", ":"))
        await _send_json(send, 200, body.encode())
        return True

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
        if (key is not None and len(key) > 200) or not await self._allowed(scope,
                                                                           ("orders:write",)):
            return False, replay
        try:
            req = AllocationIn.model_validate_json(body)
        except ValidationError:
            return False, replay  # FastAPI's 422 names every bad field
        scope["omni.route"] = "/v1/allocations"
        metrics = self.fa.state.metrics
        from api.allocations import service

        try:
            out = await run_in_threadpool(service.allocate_order, self.fa.state.db,
                                          self.fa.state.allocation, req, key)
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
        await _send_json(send, 200, json.dumps(out, separators=(",", ":")).encode())
        return True, replay

    async def _problem(self, scope: Scope, send: Send, exc: DomainError) -> None:
        await self._send_response(scope, send, domain_problem(exc))

    @staticmethod
    async def _send_response(scope: Scope, send: Send, response: Any) -> None:
        async def no_body() -> dict[str, Any]:
            return {"type": "http.disconnect"}
        await response(scope, no_body, send)
