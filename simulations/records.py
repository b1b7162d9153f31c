"""Flat, typed event records (one frozen dataclass per kind, Ciw style) and their frames.

A run appends records to plain lists; `to_frame` turns a list into a DataFrame with one
column per field, typed even when the list is empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, get_type_hints

import numpy as np
import pandas as pd

__all__ = ["DayRecord", "OrderRecord", "ParcelRecord", "PickupRecord", "ReplenishmentRecord",
           "WalkInRecord", "to_frame"]


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """One online order at the end of the run: what it cost and whether it was on time."""

    policy: str
    seed: int
    order: str
    day: int
    hour: float
    method: str  # "ship" | "pickup"
    location: int
    units: int
    filled: int
    unfilled: int
    parcels: int  # nodes that supplied it (after re-routes)
    reroutes: int
    shipping: float  # parcel + per-unit shipping or transfer cost
    pick: float
    unfilled_cost: float
    total: float
    promise_day: int  # days after the start; -1 when nothing was promised
    delivered_day: int  # delivered or ready; -1 when never
    on_time: bool


@dataclass(frozen=True, slots=True)
class ParcelRecord:
    """Units one node supplies to one order (also the rejected ones)."""

    policy: str
    seed: int
    order: str
    day: int
    node: str
    method: str
    units: int
    cost: float
    rejected: bool


@dataclass(frozen=True, slots=True)
class WalkInRecord:
    """Walk-in demand at a store on a day."""

    policy: str
    seed: int
    day: int
    node: str
    demand: int
    sold: int
    lost: int
    lost_to_online: int  # lost units the store's online picks since its last receipt explain


@dataclass(frozen=True, slots=True)
class PickupRecord:
    """A click-and-collect parcel's end: collected or expired (units back on the shelf)."""

    policy: str
    seed: int
    order: str
    node: str
    ready_day: int
    day: int
    units: int
    outcome: str  # "collected" | "expired"


@dataclass(frozen=True, slots=True)
class ReplenishmentRecord:
    """A replenishment shipment: vendor -> DC or DC -> store."""

    policy: str
    seed: int
    ordered_day: int
    arrival_day: int
    source: str
    node: str
    skus: int
    units: int


@dataclass(frozen=True, slots=True)
class DayRecord:
    """A node at the end of a day: stock, picks against capacity, empty shelves."""

    policy: str
    seed: int
    day: int
    node: str
    kind: str
    on_hand: int
    picked: int
    capacity: int  # -1 when uncapped
    stockouts: int  # ranged SKUs with nothing on the shelf (stores)


def _dtype(hint: Any) -> Any:
    return {int: np.int64, float: np.float64, bool: bool, str: object}.get(hint, object)


def to_frame(records: Sequence[Any], cls: type) -> pd.DataFrame:
    """A DataFrame with one column per field of `cls` (typed, also for an empty list)."""
    names = [f.name for f in fields(cls)]
    hints = get_type_hints(cls)
    if not records:
        return pd.DataFrame({n: pd.Series(dtype=_dtype(hints[n])) for n in names})
    cols = {n: [getattr(r, n) for r in records] for n in names}
    return pd.DataFrame({n: np.asarray(v, dtype=_dtype(hints[n])) for n, v in cols.items()})
