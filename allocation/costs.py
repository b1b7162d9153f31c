"""Cost model parameters (validated, frozen) and the vectorised pricing of node -> customer.

Two shipping models: the literature's distance model (Jasin & Sinha 2015: 8.759 per parcel
+ 0.423 + 0.000541 x miles per unit, so results compare with published ones) and a USPS
style rate card (base + per-lb by zone, zone from origin and destination ZIP3 through a
zone chart). Both give, per candidate node, a fixed parcel cost and a cost per unit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "CostModel", "DistanceRates", "PickCosts", "RateCard", "Timing", "TransferRates",
    "promise_dates", "zone_from_miles", "zones_for",
]

# USPS zones are distance bands (miles) when no ZIP3 chart entry is known.
_ZONE_MILES = np.array([50, 150, 300, 600, 1000, 1400, 1800], dtype=np.float64)


def _non_negative(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        values = value if isinstance(value, tuple) else (value,)
        if any(not np.isfinite(v) or v < 0 for v in values):
            raise ValueError(f"expected {name} >= 0, got {value!r}")


def _nine(obj: object, *names: str) -> None:
    for name in names:
        if len(getattr(obj, name)) != 10:
            raise ValueError(f"expected {name} to have 10 entries (zone 0 = unknown, 1..9)")


@dataclass(frozen=True)
class DistanceRates:
    """Jasin & Sinha (2015) distance model: per parcel, per unit, per unit-mile."""

    per_parcel: float = 8.759
    per_unit: float = 0.423
    per_unit_mile: float = 0.000541

    def __post_init__(self) -> None:
        _non_negative(self, "per_parcel", "per_unit", "per_unit_mile")


@dataclass(frozen=True)
class RateCard:
    """Parcel rate card by USPS zone (index 0 is the rate for an unknown zone)."""

    # Ground-Advantage-like commercial rates (USD), 2024 order of magnitude.
    base_by_zone: tuple[float, ...] = (6.60, 4.75, 4.85, 4.95, 5.15, 5.40, 5.75, 6.10, 6.60, 8.50)
    per_lb_by_zone: tuple[float, ...] = (1.45, 0.35, 0.40, 0.48, 0.62, 0.80, 1.00, 1.20, 1.45,
                                         2.10)

    def __post_init__(self) -> None:
        _nine(self, "base_by_zone", "per_lb_by_zone")
        _non_negative(self, "base_by_zone", "per_lb_by_zone")


@dataclass(frozen=True)
class PickCosts:
    """Pick and handling cost per unit by node kind (store labour costs more than a DC's)."""

    dc: float = 0.35
    store: float = 1.10

    def __post_init__(self) -> None:
        _non_negative(self, "dc", "store")


@dataclass(frozen=True)
class Timing:
    """Processing, cut-offs and transit: the inputs of a promise date."""

    transit_days_by_zone: tuple[int, ...] = (5, 2, 2, 3, 3, 4, 4, 5, 5, 7)
    transfer_days_by_zone: tuple[int, ...] = (4, 1, 1, 2, 2, 3, 3, 4, 4, 6)
    processing_days_dc: int = 0
    processing_days_store: int = 0
    cutoff_hour_dc: int = 14  # orders placed at or after this hour ship the next day
    cutoff_hour_store: int = 12
    shelf_ready_hours: float = 2.0  # pickup from the store's own shelf

    def __post_init__(self) -> None:
        _nine(self, "transit_days_by_zone", "transfer_days_by_zone")
        _non_negative(self, "transit_days_by_zone", "transfer_days_by_zone", "processing_days_dc",
                      "processing_days_store", "shelf_ready_hours")
        for name in ("cutoff_hour_dc", "cutoff_hour_store"):
            if not 0 <= getattr(self, name) <= 24:
                raise ValueError(f"expected 0 <= {name} <= 24, got {getattr(self, name)}")


@dataclass(frozen=True)
class TransferRates:
    """Moving stock to a pickup store on the replenishment truck (cheaper than a parcel)."""

    enabled: bool = True
    per_transfer: float = 1.50
    per_unit: float = 0.30
    per_unit_mile: float = 0.0002
    pickup_handling: float = 0.75  # staging an order for collection, once per order

    def __post_init__(self) -> None:
        _non_negative(self, "per_transfer", "per_unit", "per_unit_mile", "pickup_handling")


@dataclass(frozen=True)
class CostModel:
    """Everything that prices a sourcing decision; defaults are realistic, not tuned."""

    shipping: DistanceRates | RateCard = field(default_factory=RateCard)
    pick: PickCosts = field(default_factory=PickCosts)
    timing: Timing = field(default_factory=Timing)
    transfer: TransferRates = field(default_factory=TransferRates)
    # Unfilled units: one extra parcel from a virtual node as far as the farthest real node,
    # every shipping rate times this multiplier (REPLAY.md), plus a per-unit penalty (the lost
    # margin and goodwill of a cancelled unit; REPLAY.md instances set it to zero).
    unfilled_multiplier: float = 2.0
    unfilled_per_unit: float = 20.0
    # REPLAY.md prices every supplying node like a shipment, pickups included.
    pickup_priced_as_shipping: bool = False

    def __post_init__(self) -> None:
        _non_negative(self, "unfilled_multiplier", "unfilled_per_unit")


def zone_from_miles(miles: np.ndarray) -> np.ndarray:
    """USPS-like zone 1..8 from great-circle miles (the chart's own distance bands)."""
    return (np.searchsorted(_ZONE_MILES, np.asarray(miles), side="left") + 1).astype(np.int64)


def zones_for(
    origin_zip3: np.ndarray, dest_zip3: int | None, miles: np.ndarray,
    zone_matrix: np.ndarray | None,
) -> np.ndarray:
    """Zone per origin: from the chart where both ZIP3 are known and listed, else from miles."""
    fallback = zone_from_miles(miles)
    if zone_matrix is None or dest_zip3 is None or not 0 <= dest_zip3 < zone_matrix.shape[1]:
        return fallback
    origin = np.asarray(origin_zip3, dtype=np.int64)
    ok = (origin >= 0) & (origin < zone_matrix.shape[0])
    chart = np.zeros(origin.shape, dtype=np.int64)
    chart[ok] = zone_matrix[origin[ok], dest_zip3]
    return np.where(chart > 0, chart, fallback)


def promise_dates(
    placed_at: dt.datetime, is_store: np.ndarray, days: np.ndarray, timing: Timing
) -> list[dt.date]:
    """Delivery (or ready) date per node: processing, cut-off, then `days` in transit."""
    hour = placed_at.hour + placed_at.minute / 60.0
    cutoff = np.where(is_store, timing.cutoff_hour_store, timing.cutoff_hour_dc)
    processing = np.where(is_store, timing.processing_days_store, timing.processing_days_dc)
    total = processing + (hour >= cutoff) + np.asarray(days, dtype=np.int64)
    day0 = placed_at.date()
    # Few distinct day counts (zones x cut-off): build each date once, then index.
    uniq, inv = np.unique(total, return_inverse=True)
    dates = [day0 + dt.timedelta(days=int(d)) for d in uniq]
    return [dates[i] for i in inv.tolist()]

@dataclass(frozen=True, eq=False)
class OpportunityCosts:
    """Price per unit of taking stock from (node, SKU); zero for SKUs it does not list."""

    sku_codes: tuple[str, ...]
    values: np.ndarray  # (nodes, len(sku_codes)), indexed like the network

    def __post_init__(self) -> None:
        vals = np.array(self.values, dtype=np.float64, copy=True)
        if vals.ndim != 2 or vals.shape[1] != len(self.sku_codes):
            raise ValueError("expected values of shape (nodes, len(sku_codes))")
        if not np.isfinite(vals).all() or (vals < 0).any():
            raise ValueError("expected opportunity costs >= 0")
        vals.setflags(write=False)
        object.__setattr__(self, "values", vals)
        object.__setattr__(self, "sku_codes", tuple(self.sku_codes))
        object.__setattr__(self, "_col", {s: j for j, s in enumerate(self.sku_codes)})

    def for_skus(self, skus: Sequence[str]) -> np.ndarray:
        """(nodes, len(skus)) array, zero columns for unknown SKUs."""
        col: dict[str, int] = self._col  # type: ignore[attr-defined]
        out = np.zeros((self.values.shape[0], len(skus)))
        for k, s in enumerate(skus):
            j = col.get(s)
            if j is not None:
                out[:, k] = self.values[:, j]
        return out
