"""FastAPI dependencies that authenticate the API key and check its scope before any work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from api.auth.service import LOCAL_ADMIN, Principal, lookup
from data.db import Database
from data.errors import DomainError


class Unauthorized(DomainError):
    """No API key, or an unknown or revoked one."""

    status = 401
    title = "Unauthorized"
    type_ = "/problems/unauthorized"


class Forbidden(DomainError):
    """The key is valid but lacks the scope (or the store) this needs."""

    status = 403
    title = "Forbidden"
    type_ = "/problems/forbidden"


def _token(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


async def current_principal(request: Request) -> Principal:
    """The caller behind the request's API key (an admin when auth is off), or 401."""
    if not getattr(request.app.state.settings, "auth_required", True):
        return LOCAL_ADMIN
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = _token(request)
    if token is None:
        raise Unauthorized("send an API key: Authorization: Bearer <key> (or X-API-Key)")
    principal = await run_in_threadpool(_lookup, request.app.state.db, token)
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked")
    request.state.principal = principal
    return principal


def _lookup(db: Database, token: str) -> Principal | None:
    with db.read_session() as s:
        return lookup(s, token)


def require(*scopes: str) -> Callable[[Request], Principal]:
    """A dependency passing callers holding any of `scopes` (or admin); others get 403."""

    async def dep(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not any(principal.can(s) for s in scopes):
            raise Forbidden(f"this needs one of the scopes: {', '.join(scopes)}",
                            required=list(scopes))
        return principal

    dep.__name__ = f"require_{'_or_'.join(s.replace(':', '_') for s in scopes)}"
    return dep


ANY_SCOPE = ("orders:write", "inventory:write", "store:act", "planner", "ops:read")
Anyone = Annotated[Principal, Depends(require(*ANY_SCOPE))]

