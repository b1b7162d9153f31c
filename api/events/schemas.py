"""Request models of the change feed's admin routes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.validation import Code, text

TYPE_PATTERN = r"^(\*|[a-z_]{1,30}(\.[a-z_]{1,30})?(\.\*)?)$"


class WebhookIn(BaseModel):
    """A webhook subscription: where, which event types, which nodes."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, pattern=r"^https?://[^\s]+$",
                     description="http(s) URL that receives one POST per event.")
    event_types: list[Annotated[str, Field(pattern=TYPE_PATTERN)]] = Field(
        default=["*"], min_length=1, max_length=20,
        description="Types without the com.omni. prefix (availability.changed, order.*, *).")
    nodes: list[Code] | None = Field(default=None, max_length=1000, description=(
        "Only events of these nodes (order steps that name no node pass)."))
    description: text(300) | None = None  # type: ignore[valid-type]
    secret: str | None = Field(default=None, pattern=r"^whsec_[A-Za-z0-9+/=]{24,120}$",
                               description="Signing secret; generated when omitted.")
    start: Literal["now", "oldest"] = Field(
        default="now", description="Deliver changes from now on, or every event still kept.")


class WebhookPatch(BaseModel):
    """Pause or resume a subscription."""

    model_config = ConfigDict(extra="forbid")

    active: bool


class OldNew(BaseModel):
    """A quantity before and after the change (old is null in a snapshot)."""

    old: int | None
    new: int | None


class AvailabilityData(BaseModel):
    """`com.omni.availability.changed`: one position's stock before and after one change."""

    node: str
    sku: str
    atp: OldNew = Field(description="Available to promise: on_hand - reserved - safety, >= 0.")
    on_hand: OldNew = Field(description="Units on the shelf (shelf stock).")
    reserved: OldNew
    safety_stock: OldNew
    network_atp: int = Field(description="The SKU's ATP over every node at this point of the "
                             "stream (sum of each node's latest ATP).")
    snapshot: bool = Field(description="Part of a resync snapshot (no old values).")


class OrderData(BaseModel):
    """`com.omni.order.*`: one step of an order's life (per line, or the order)."""

    order: str
    line: int | None
    sku: str | None
    action: str = Field(description="allocate, accept, reject, picked, shipped, "
                        "ready_for_pickup, collected, expire, cancel or reoptimize.")
    from_state: str | None
    to_state: str
    node: str | None
    actor: str | None
    detail: dict[str, Any] | None = Field(description="reject: reason and rerouted_to.")
    occurred_at: str | None
    channel: str | None
    method: str | None


class CloudEvent(BaseModel):
    """One change as a CloudEvents 1.0 structured JSON event (webhooks, SSE, NATS alike).

    Types: com.omni.availability.changed, com.omni.availability.resync (drop what you hold:
    a snapshot of every position with stock follows), com.omni.order.allocated,
    .rerouted, .pickup_ready, .expired, .cancelled, .line_state_changed. Events of one
    `partitionkey` (a position or an order) arrive in the order they were committed.
    """

    specversion: Literal["1.0"]
    id: str = Field(description="The stream sequence: gapless, increasing; the webhook-id, "
                    "the SSE id and the NATS Nats-Msg-Id.")
    source: str
    type: str
    subject: str
    time: str = Field(description="When the change was written (in its transaction).")
    datacontenttype: Literal["application/json"]
    sequence: str
    partitionkey: str = Field(description="stock/<node>/<sku>, order/<id> or stock.")
    data: AvailabilityData | OrderData | dict[str, Any]


class EventsPage(BaseModel):
    """A page of the stream and where to continue."""

    events: list[CloudEvent]
    next_after: int = Field(description="Pass as `after` for the next page.")
    head: int = Field(description="The last sequence of the stream when read.")
