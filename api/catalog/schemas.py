"""Response models for nodes and SKUs."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class NodeOut(BaseModel):
    """A DC or store."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    kind: str
    address: str
    city: str
    state: str
    zip: str
    lat: float
    lon: float
    ship_from_store: bool
    click_and_collect: bool
    pick_capacity_per_day: int | None
    pick_cost_per_unit: float
    active: bool


class SkuOut(BaseModel):
    """A catalogue item."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    name: str
    category: str
    weight_lb: float
    unit_price: float
    unit_cost: float


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    total: int
    limit: int
    offset: int
