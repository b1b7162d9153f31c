"""RFC 9457 problem responses: every error leaves the service as application/problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from allocation.errors import DomainError

log = logging.getLogger("omni.api")
PROBLEM = "application/problem+json"


class Problem(BaseModel):
    """An RFC 9457 problem body (extra members such as `errors` or `sku` may follow)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str


_DESCRIPTIONS = {
    400: "The body is not decodable (e.g. not UTF-8).",
    401: "No API key, or an unknown or revoked one.",
    403: "The key lacks the scope (or the store) this needs.",
    404: "The named resource does not exist.",
    409: "Conflict: insufficient stock, an existing order, or a state that forbids this.",
    413: "The request body is larger than the limit; split the batch.",
    422: "The request is invalid or names an unknown node or SKU.",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries declaring problem+json answers for the given codes."""
    # Declared per router so clients (and schemathesis) see every status the route can send.
    return {code: {"model": Problem, "description": _DESCRIPTIONS[code],
                   "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            for code in codes}


def problem(status: int, title: str, detail: str, type_: str = "about:blank",
            **extra: Any) -> JSONResponse:
    """Build a problem+json response."""
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


# How each domain error reaches a client: (status, title, problem type). The one place
# that knows: the errors themselves (allocation.errors and the api's own) carry no HTTP.
PROBLEMS: dict[str, tuple[int, str, str]] = {
    "NotFound": (404, "Not found", "/problems/not-found"),
    "UnknownReference": (422, "Unknown node or SKU", "/problems/unknown-reference"),
    "InvalidQuantity": (422, "Invalid quantity", "/problems/invalid-quantity"),
    "InsufficientStock": (409, "Insufficient stock", "/problems/insufficient-stock"),
    "IdempotencyConflict": (422, "Idempotency key reused with a different request",
                            "/problems/idempotency-conflict"),
    "InvalidState": (409, "Invalid state", "/problems/invalid-state"),
    "NotPermitted": (403, "Forbidden", "/problems/forbidden"),
    "OrderExists": (409, "Order already allocated", "/problems/order-exists"),
    "PricesUnavailable": (409, "Stock prices not available", "/problems/prices-unavailable"),
    "BatchTooLarge": (413, "Batch too large", "/problems/too-large"),
    "Unauthorized": (401, "Unauthorized", "/problems/unauthorized"),
    "Gone": (410, "Gone", "/problems/gone"),
    "BadScenario": (422, "Invalid scenario", "/problems/invalid-scenario"),
    "DomainError": (400, "Bad request", "about:blank"),
}


def problem_of(exc: DomainError) -> tuple[int, str, str]:
    """(status, title, type) of a domain error: its own class's entry or its nearest base's."""
    for cls in type(exc).__mro__:
        found = PROBLEMS.get(cls.__name__)
        if found is not None:
            return found
    return PROBLEMS["DomainError"]


def domain_problem(exc: DomainError) -> JSONResponse:
    """The problem response of a domain error (its status, title, type and extra members)."""
    extra = {k: v for k, v in exc.extra.items() if v not in (None, [], {})}
    status, title, type_ = problem_of(exc)
    return problem(status, title, exc.detail, type_, **extra)


class BodyTooLarge(StarletteHTTPException):
    """A request body over the size limit (raised while it streams in; a 413 problem)."""

    def __init__(self, limit: int, size: int | None = None) -> None:
        what = "body" if size is None else f"body of {size} bytes"
        super().__init__(413, f"{what} exceeds the limit of {limit} bytes; split the batch")

    def response(self) -> JSONResponse:
        """The 413 problem answering it."""
        # A feed must be split, not truncated.
        return problem(413, "Request too large", str(self.detail), "/problems/too-large")


def _loc(loc: tuple | list) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


def install(app: FastAPI) -> None:
    """Map domain errors, validation errors and HTTP errors to problem responses."""

    @app.exception_handler(DomainError)
    async def _domain(req: Request, exc: DomainError) -> Response:
        path = req.url.path
        if problem_of(exc)[0] == 401 and path.startswith("/dashboard") and "/data/" not in path:
            # A person in a browser: show the sign-in page rather than a JSON problem.
            return RedirectResponse("/dashboard/login", status_code=303)
        return domain_problem(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": "body" if e.get("type") == "json_invalid" else
                   _loc(e.get("loc", ())),
                   "message": ("malformed JSON: " + e.get("ctx", {}).get("error", "")).strip()
                   if e.get("type") == "json_invalid" else e.get("msg", "")}
                  for e in exc.errors()]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        detail = f"{first['field']}: {first['message']}"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem(422, "Invalid request", detail, "/problems/validation", errors=errors)

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_req: Request, exc: BodyTooLarge) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_req: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, exc: Exception) -> JSONResponse:
        # Log the trace for operators; never send it to the client.
        log.exception("unhandled error", exc_info=exc)
        return problem(500, "Internal error", "the server failed; the error was logged")
