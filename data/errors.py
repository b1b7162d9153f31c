"""Domain errors shared by the ledger implementations (pure: no database imports)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the API maps to an HTTP problem."""

    status = 400
    title = "Bad request"
    type_ = "about:blank"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    """A named node, SKU, order or reservation does not exist."""

    status = 404
    title = "Not found"
    type_ = "/problems/not-found"


class UnknownReference(DomainError):
    """Input names a node or SKU that does not exist (a 422, not a 404 of the URL)."""

    status = 422
    title = "Unknown node or SKU"
    type_ = "/problems/unknown-reference"


class InvalidQuantity(DomainError):
    """A quantity is zero, negative or otherwise impossible."""

    status = 422
    title = "Invalid quantity"
    type_ = "/problems/invalid-quantity"


class InsufficientStock(DomainError):
    """Not enough available stock for a reservation, sale or transfer; nothing was written."""

    status = 409
    title = "Insufficient stock"
    type_ = "/problems/insufficient-stock"

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

    status = 422
    title = "Idempotency key reused with a different request"
    type_ = "/problems/idempotency-conflict"


class InvalidState(DomainError):
    """The operation is not allowed in the current state (e.g. releasing a closed reservation)."""

    status = 409
    title = "Invalid state"
    type_ = "/problems/invalid-state"
