"""FastAPI dependencies that authenticate the API key and check its scope before any work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from allocation.errors import DomainError, NotPermitted
from api.auth.service import lookup
from data.db import Database
from fulfilment.actors import LOCAL_ADMIN, Principal


class Unauthorized(DomainError):
    """No API key, or an unknown or revoked one."""


class Forbidden(NotPermitted):
    """The key is valid but lacks the scope (or the store) this needs."""


def _token(scope: dict[str, Any]) -> str | None:
    headers = dict(scope.get("headers", ()))
    auth = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return headers.get(b"x-api-key", b"").decode("latin-1") or None


async def current_principal_of(app: Any, scope: dict[str, Any]) -> Principal:
    """The caller behind a request's API key (an admin when auth is off), or Unauthorized."""
    if not getattr(app.state.settings, "auth_required", True):
        return LOCAL_ADMIN
    state = scope.setdefault("state", {})
    cached = state.get("principal")
    if cached is not None:
        return cached
    token = _token(scope)
    if token is None:
        raise Unauthorized("send an API key: Authorization: Bearer <key> (or X-API-Key)")
    principal = await run_in_threadpool(_lookup, app.state.db, token)
    if principal is None:
        raise Unauthorized("the API key is unknown or revoked")
    state["principal"] = principal  # request.state.principal: logs and later dependencies
    return principal


async def current_principal(request: Request) -> Principal:
    """The caller behind the request's API key (an admin when auth is off), or 401."""
    return await current_principal_of(request.app, request.scope)


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

