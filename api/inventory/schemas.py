"""Request and response models for stock feeds and availability."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from api.validation import ID_RULE, MAX_QTY, Code, Id, Text


class InventoryEventIn(BaseModel):
    """One POS sale, receipt or stock adjustment from a store or DC system."""

    model_config = ConfigDict(extra="forbid")

    event_id: Id = Field(description=f"Caller's unique id ({ID_RULE}): replays of it change "
                         "nothing.")
    kind: Literal["receipt", "sale", "adjustment"]
    node: Code
    sku: Code
    qty: StrictInt = Field(ge=-MAX_QTY, le=MAX_QTY, description=(
        f"Units; 1..{MAX_QTY} for receipt and sale, nonzero -{MAX_QTY}..{MAX_QTY} for "
        "adjustment."))
    occurred_at: dt.datetime | None = Field(
        default=None, description="When it happened (ISO 8601); now when omitted.")
    reference: Text | None = Field(default=None, description="POS ticket, PO number, count id "
                                   "(up to 120 characters, no control characters).")

    @model_validator(mode="after")
    def _qty_sign(self) -> InventoryEventIn:
        if self.kind == "adjustment" and self.qty == 0:
            raise ValueError("an adjustment needs a nonzero qty")
        if self.kind != "adjustment" and self.qty <= 0:
            raise ValueError(f"expected qty > 0 for a {self.kind}, got {self.qty}")
        if self.occurred_at is not None and self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at needs a time zone (e.g. 2026-11-23T10:00:00Z)")
        return self


class InventoryBatchIn(BaseModel):
    """Many events in one call, applied in event-time order, all or nothing."""

    model_config = ConfigDict(extra="forbid")

    events: list[InventoryEventIn] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _wrap_single(cls, data: object) -> object:
        # One event may be posted bare, or a bare JSON list of events.
        if isinstance(data, dict) and "events" not in data:
            return {"events": [data]}
        if isinstance(data, list):
            return {"events": data}
        return data


class InventoryResult(BaseModel):
    """What a feed call did."""

    applied: int = Field(description="Events written now.")
    duplicates: int = Field(description="Events whose event_id was already in the ledger.")


class NodeStockOut(BaseModel):
    """One SKU at one node."""

    node: str
    kind: str
    sku: str
    on_hand: int
    reserved: int
    safety_stock: int
    atp: int = Field(description="Available to promise online: on_hand - reserved - safety.")
    shelf: int = Field(description="What a walk-in shopper can take: on_hand - reserved.")
    ships: bool
    pickup: bool
    distance_miles: float | None = None


class NetworkAtp(BaseModel):
    """Network-wide availability of one SKU."""

    ship: int = Field(description="ATP at nodes that ship (DCs and ship-from-store stores).")
    pickup: int = Field(description="ATP at click-and-collect stores.")
    on_hand: int


class AvailabilityOut(BaseModel):
    """Availability for a list of SKUs."""

    network: dict[str, NetworkAtp]
    nodes: list[NodeStockOut]
