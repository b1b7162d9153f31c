"""API keys: a random token shown once, stored as its SHA-256, looked up by a public key id."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from allocation.errors import InvalidQuantity, UnknownReference
from data.models import ApiKey, Node, utcnow
from fulfilment.actors import Principal

SCOPES = ("orders:write", "inventory:write", "store:act", "planner", "ops:read", "admin")
PREFIX = "omni"




def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(session: Session, scopes: list[str], name: str,
               store: str | None = None) -> tuple[str, ApiKey]:
    """Store a new key and return (token, row); the token is never stored and shown once."""
    bad = sorted(set(scopes) - set(SCOPES))
    if not scopes or bad:
        raise InvalidQuantity(f"unknown scope(s): {', '.join(bad) or '(none given)'}; "
                              f"expected some of {', '.join(SCOPES)}")
    if ("store:act" in scopes) != (store is not None):
        raise InvalidQuantity("a store:act key needs --store CODE, and only it takes one")
    node_id = None
    if store is not None:
        node_id = session.scalar(select(Node.id).where(Node.code == store))
        if node_id is None:
            raise UnknownReference(f"unknown node {store!r}", nodes=[store])
    key_id = secrets.token_hex(6)
    token = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(key_id=key_id, name=name, secret_hash=_digest(token),
                 scopes=" ".join(dict.fromkeys(scopes)), node_id=node_id, created_at=utcnow())
    session.add(row)
    session.flush()
    return token, row


def lookup(session: Session, token: str) -> Principal | None:
    """The principal of a valid, unrevoked token, else None (constant-time hash compare)."""
    if len(token) > 512 or not (token.isascii() and token.isprintable()):
        return None  # keys are printable ASCII; a NUL would fail the query (a 500, not 401)
    parts = token.split("_", 2)  # the secret itself may contain "_"
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    row = session.execute(
        select(ApiKey, Node.code).outerjoin(Node, Node.id == ApiKey.node_id)
        .where(ApiKey.key_id == parts[1])).first()
    if row is None:
        return None
    key, node = row
    if key.revoked_at is not None or not hmac.compare_digest(key.secret_hash, _digest(token)):
        return None
    return Principal(key.name, key.key_id, frozenset(key.scopes.split()), key.node_id, node)


def verify_key(session: Session, token: str) -> tuple[str, frozenset[str]] | None:
    """(name, scopes) of a valid key, else None (the dashboard's sign-in uses this)."""
    p = lookup(session, token)
    return None if p is None else (p.name, p.scopes)


def revoke_key(session: Session, key_id: str) -> bool:
    """Revoke a key by its id; False when no such active key."""
    key = session.scalar(select(ApiKey).where(ApiKey.key_id == key_id,
                                              ApiKey.revoked_at.is_(None)))
    if key is None:
        return False
    key.revoked_at = utcnow()
    return True


def list_keys(session: Session) -> list[dict[str, object]]:
    """Every key without its secret: id, name, scopes, store, created, revoked."""
    rows = session.execute(select(ApiKey, Node.code).outerjoin(Node, Node.id == ApiKey.node_id)
                           .order_by(ApiKey.id)).all()
    return [{"key_id": k.key_id, "name": k.name, "scopes": k.scopes, "store": code,
             "created_at": k.created_at.isoformat(),
             "revoked_at": k.revoked_at.isoformat() if k.revoked_at else None}
            for k, code in rows]
