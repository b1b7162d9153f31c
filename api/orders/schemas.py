"""Request and response models of the order life cycle."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from allocation.lifecycle import RejectReason
from api.validation import Code, text

Carrier = text(60, min_length=1)
Tracking = text(120, min_length=1)
Note = text(500)


class TransitionIn(BaseModel):
    """Optional details of a transition: reject needs reason, shipped carrier and tracking."""

    model_config = ConfigDict(extra="forbid")

    reason: RejectReason | None = Field(default=None, description="Why a node rejects.")
    node: Code | None = Field(default=None,
                              description="Rejecting node when a line is split over several.")
    carrier: Carrier | None = None
    tracking: Tracking | None = None
    note: Note | None = None


class AllocationRow(BaseModel):
    """One reservation of a line: where, how many, how, and whether it is still held."""

    reservation_id: int
    node: str
    qty: int
    method: str | None
    status: str


class LineOut(BaseModel):
    """One order line, its state and its reservations."""

    line_no: int
    sku: str
    qty: int
    state: str
    allocations: list[AllocationRow]


class HistoryRow(BaseModel):
    """One step of the order's history."""

    at: dt.datetime
    action: str
    line_no: int | None
    from_state: str | None
    to_state: str
    node: str | None
    actor: str | None
    detail: dict[str, Any] | None


class OrderOut(BaseModel):
    """An order: status, lines with their reservations, and its history."""

    order_id: str
    status: str
    method: str
    pickup_store: str | None
    created_at: dt.datetime
    lines: list[LineOut]
    history: list[HistoryRow]


class TaskRow(BaseModel):
    """One line a node has to act on."""

    order_id: str
    line_no: int
    sku: str
    qty: int
    method: str | None
    state: str
    ready_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None


class TasksOut(BaseModel):
    """A node's work list: accept, pick, ship, stage for pickup, hand over pickups."""

    node: str
    to_accept: list[TaskRow]
    to_pick: list[TaskRow]
    to_ship: list[TaskRow]
    to_stage: list[TaskRow]
    pickups_waiting: list[TaskRow]


class SweepOut(BaseModel):
    """What one pickup-expiry sweep did."""

    expired: list[dict[str, Any]]
