"""Who acts on an order: an API key's holder, a store, the pickup sweeper."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    """Who calls: the key's name and id, its scopes, and the one node a store key acts for."""

    name: str
    key_id: str | None
    scopes: frozenset[str]
    node_id: int | None = None
    node: str | None = None

    def can(self, scope: str) -> bool:
        """True when the key carries the scope (admin carries every scope)."""
        return scope in self.scopes or "admin" in self.scopes

    @property
    def store_bound(self) -> bool:
        """True for a store key: it may see and act on its own node only."""
        return self.node_id is not None and "admin" not in self.scopes


LOCAL_ADMIN = Principal("local (auth off)", None, frozenset({"admin"}))
