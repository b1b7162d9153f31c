"""Domain errors of the core and the layers around it (pure: no HTTP, no database).

They say what went wrong in the retail language; how each reaches a client (an HTTP status
and problem type) is decided at the edge, in `api/problems.py`, and nowhere else.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the service answers as a problem (not a server failure)."""

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    """A named node, SKU, order or reservation does not exist."""


class UnknownReference(DomainError):
    """Input names a node or SKU that does not exist (bad input, not a missing resource)."""


class InvalidQuantity(DomainError):
    """A quantity is zero, negative, too large or otherwise impossible."""


class InsufficientStock(DomainError):
    """Not enough available stock for a reservation, sale or transfer; nothing was written."""

    def __init__(self, node: str, sku: str, requested: int, available: int, what: str = "ATP"):
        super().__init__(
            f"insufficient stock: requested {requested} of {sku} at {node}, "
            f"only {available} {what} available",
            node=node,
            sku=sku,
            requested=requested,
            available=available,
        )
        self.node, self.sku, self.requested, self.available = node, sku, requested, available


class IdempotencyConflict(DomainError):
    """The idempotency key was used before with a different request body."""


class InvalidState(DomainError):
    """The operation is not allowed in the current state (e.g. releasing a closed reservation)."""


class NotPermitted(DomainError):
    """The actor may not do this here (a store acting on another store's line)."""


class OrderExists(DomainError):
    """The order id was allocated before (without the same idempotency key)."""


class PricesUnavailable(DomainError):
    """The forecast-aware policy was asked for before its first stock prices exist."""


class BatchTooLarge(DomainError):
    """A feed carries more events than one call may."""


class Gone(DomainError):
    """What was asked for existed once and was removed (events older than the retention)."""
