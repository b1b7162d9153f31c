"""Request models of the change feed's admin routes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.validation import Code, text


class WebhookIn(BaseModel):
    """A webhook subscription: where, which event types, which nodes."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, pattern=r"^https?://[^\s]+$",
                     description="http(s) URL that receives one POST per event.")
    event_types: list[str] = Field(
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
