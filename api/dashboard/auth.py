"""Dashboard sign-in: an API key with ops:read becomes a signed, expiring session cookie."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.orm import Session

from api.auth.dependencies import Forbidden, Unauthorized

__all__ = ["SESSION_COOKIE", "DashboardUser", "Forbidden", "NotSignedIn", "dashboard_user",
           "sign_in"]

SESSION_COOKIE = "omni_session"
SESSION_SECONDS = 12 * 3600


class NotSignedIn(Unauthorized):
    """No valid dashboard session: the browser is sent to the sign-in page."""

    title = "Sign in required"
    type_ = "/problems/sign-in"


@dataclass(frozen=True)
class DashboardUser:
    """Who is looking: the key's name and scopes."""

    name: str
    scopes: frozenset[str]

    def can(self, scope: str) -> bool:
        """True when the key carries the scope (admin carries every scope)."""
        return scope in self.scopes or "admin" in self.scopes


def _secret(request: Request) -> bytes:
    app = request.app
    if not hasattr(app.state, "session_secret"):
        app.state.session_secret = secrets.token_bytes(32)
    return app.state.session_secret


def _sign(secret: bytes, payload: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps(payload, sort_keys=True).encode()).decode()
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _unsign(secret: bytes, token: str) -> dict | None:
    body, _, mac = token.rpartition(".")
    good = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()
    if not body or not hmac.compare_digest(mac, good):
        return None
    payload = json.loads(base64.urlsafe_b64decode(body))
    return payload if payload.get("exp", 0) > time.time() else None


def _auth_required(request: Request) -> bool:
    return bool(getattr(request.app.state.settings, "auth_required", False))


def sign_in(request: Request, session: Session, raw_key: str) -> str | None:
    """A session token for a valid key with ops:read, else None."""
    from api.auth.service import verify_key  # the service's API-key store

    found = verify_key(session, raw_key)
    if found is None:
        return None
    name, scopes = found
    if "ops:read" not in scopes and "admin" not in scopes:
        return None
    return _sign(_secret(request), {"name": name, "scopes": sorted(scopes),
                                    "exp": time.time() + SESSION_SECONDS})


def dashboard_user(request: Request) -> DashboardUser:
    """The signed-in user of this request (ops:read), or NotSignedIn."""
    if not _auth_required(request):
        return DashboardUser("local (auth off)", frozenset({"admin"}))
    token = request.cookies.get(SESSION_COOKIE)
    payload = _unsign(_secret(request), token) if token else None
    if payload is None:
        raise NotSignedIn("sign in at /dashboard/login with an API key that has ops:read")
    return DashboardUser(payload["name"], frozenset(payload["scopes"]))
