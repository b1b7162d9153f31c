"""Request and response models of POST /v1/allocations."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from api.validation import (
    ID_RULE,
    KEY_RULE,
    MAX_LINE_QTY,
    MAX_ORDER_UNITS,
    Code,
    Id,
    IdempotencyKey,
    Zip,
)

MAX_LINES = 200


class LineIn(BaseModel):
    """One order line."""

    model_config = ConfigDict(extra="forbid")

    sku: Code
    qty: StrictInt = Field(gt=0, le=MAX_LINE_QTY, description=f"Units, 1..{MAX_LINE_QTY}.")


class ConstraintsIn(BaseModel):
    """Customer constraints on the sourcing."""

    model_config = ConfigDict(extra="forbid")

    single_parcel: bool = False
    max_parcels: int | None = Field(default=None, ge=1, le=MAX_LINES)
    deliver_by: dt.date | None = Field(default=None, description="Latest delivery/ready date.")


class AllocationIn(BaseModel):
    """An order to source (and reserve unless dry_run)."""

    model_config = ConfigDict(extra="forbid")

    order_id: Id = Field(description=f"The caller's order id, unique: {ID_RULE} (it must "
                         "travel in a URL path: GET /v1/orders/{order_id}).")
    method: Literal["ship", "pickup"] = "ship"
    zip: Zip | None = Field(default=None, description="Ship-to ZIP.")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    pickup_store: Code | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=MAX_LINES, description=(
        f"1..{MAX_LINES} lines of at most {MAX_LINE_QTY} units, {MAX_ORDER_UNITS} units in all."))
    constraints: ConstraintsIn = Field(default_factory=ConstraintsIn)
    policy: Literal["optimal", "rules", "nearest", "forecast_aware"] = Field(
        default="optimal", description="forecast_aware needs the service's stock prices "
        "(OMNI_FORECAST_PRICES); 409 until the first refresh.")
    dry_run: bool = Field(default=False, description="Quote only: decide without reserving.")
    idempotency_key: IdempotencyKey | None = Field(
        default=None, description=f"Like the Idempotency-Key header: {KEY_RULE}.")

    @model_validator(mode="after")
    def _where(self) -> AllocationIn:
        if self.method == "pickup" and not self.pickup_store:
            raise ValueError("a pickup order needs pickup_store")
        if self.method == "ship" and self.zip is None and (self.lat is None or self.lon is None):
            raise ValueError("a ship order needs zip, or lat and lon")
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        units = sum(line.qty for line in self.lines)
        if units > MAX_ORDER_UNITS:
            raise ValueError(f"the order's lines total {units} units; an order may total at "
                             f"most {MAX_ORDER_UNITS}")
        return self


class AllocationOut(BaseModel):
    """The decision: per line the nodes, methods, costs, runner-up and promise date."""

    order_id: str
    status: str
    dry_run: bool
    replayed: bool = False
    decision: dict[str, Any]
