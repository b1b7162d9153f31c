"""The frozen node network and the order the allocation core decides on (plain dataclasses)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["METHODS", "UNLIMITED", "Network", "Order", "OrderLine"]

UNLIMITED = 1 << 40  # pick capacity of a node without a cap
METHODS = ("ship_from_dc", "ship_from_store", "pickup_from_shelf", "pickup_via_transfer")


def _ro(a: Any, dtype: type) -> np.ndarray:
    out = np.array(a, dtype=dtype, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class Network:
    """Nodes (DCs and stores) as parallel read-only arrays, indexed like the ledger's nodes."""

    codes: tuple[str, ...]
    is_store: np.ndarray  # bool
    lat: np.ndarray
    lon: np.ndarray
    ship_from_store: np.ndarray  # bool: a store may ship to homes
    click_and_collect: np.ndarray  # bool: a store hands out pickups
    pick_capacity: np.ndarray  # int: units it can still pick (UNLIMITED when uncapped)
    zip3: np.ndarray  # int, -1 when unknown
    # Pick and handling cost per unit at each node; NaN means "the cost model's rate for
    # its kind" (replay instances price by kind, the live network per node).
    pick_cost: np.ndarray | None = None
    index: Mapping[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.codes)
        object.__setattr__(self, "codes", tuple(self.codes))
        for name, dtype in (("is_store", bool), ("lat", np.float64), ("lon", np.float64),
                            ("ship_from_store", bool), ("click_and_collect", bool),
                            ("pick_capacity", np.int64), ("zip3", np.int64)):
            arr = _ro(getattr(self, name), dtype).reshape(-1)
            if arr.shape != (n,):
                raise ValueError(f"expected {name} of length {n}, got {arr.shape[0]}")
            object.__setattr__(self, name, arr)
        if len(set(self.codes)) != n:
            raise ValueError("expected unique node codes")
        if (np.abs(self.lat) > 90).any() or (np.abs(self.lon) > 180).any():
            raise ValueError("expected lat in [-90, 90] and lon in [-180, 180]")
        pick = np.full(n, np.nan) if self.pick_cost is None else self.pick_cost
        pick = _ro(pick, np.float64).reshape(-1)
        if pick.shape != (n,) or (pick < 0).any():
            raise ValueError(f"expected pick_cost of length {n} with values >= 0")
        object.__setattr__(self, "pick_cost", pick)
        if (self.pick_capacity < 0).any():
            raise ValueError("expected pick_capacity >= 0")
        object.__setattr__(self, "index", {c: i for i, c in enumerate(self.codes)})
        object.__setattr__(self, "_memo", {})

    # The memo (constants derived from the frozen arrays, see `memo`) is not part of the
    # network's state: pickles and copies carry the arrays only and start an empty memo.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_memo", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__["_memo"] = {}

    @property
    def memo(self) -> dict[Any, Any]:
        """Per-network cache of derived constants (the arrays are read-only, so they hold)."""
        return self._memo  # type: ignore[attr-defined,no-any-return]

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def from_records(cls, nodes: Iterable[Mapping[str, Any]]) -> Network:
        """Build from dicts with id/code, kind, lat, lon and optional flags (REPLAY.md nodes)."""
        rows = list(nodes)
        cap = [UNLIMITED if r.get("pick_capacity") is None else int(r["pick_capacity"])
               for r in rows]
        return cls(
            codes=tuple(str(r.get("id", r.get("code"))) for r in rows),
            is_store=[r["kind"] == "store" for r in rows],
            lat=[float(r["lat"]) for r in rows],
            lon=[float(r["lon"]) for r in rows],
            ship_from_store=[bool(r.get("ship_from_store", False)) for r in rows],
            click_and_collect=[bool(r.get("click_and_collect", False)) for r in rows],
            pick_capacity=cap,
            zip3=[int(r["zip3"]) if r.get("zip3") is not None else -1 for r in rows],
            pick_cost=[np.nan if r.get("pick_cost") is None else float(r["pick_cost"])
                       for r in rows],
        )

    def kinds(self) -> list[str]:
        """"dc" or "store" per node."""
        return ["store" if s else "dc" for s in self.is_store]


@dataclass(frozen=True)
class OrderLine:
    """One SKU and its quantity."""

    sku: str
    qty: int

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError(f"expected qty > 0, got {self.qty} for {self.sku}")


@dataclass(frozen=True)
class Order:
    """An online order: where it goes (or which store it is collected from), its lines, rules."""

    id: str
    lines: tuple[OrderLine, ...]
    lat: float
    lon: float
    method: str = "ship"  # "ship" | "pickup"
    pickup_node: str | None = None
    zip3: int | None = None
    single_parcel: bool = False
    max_parcels: int | None = None
    deliver_by: dt.date | None = None  # latest acceptable delivery / ready date
    placed_at: dt.datetime | None = None  # for cut-offs and promise dates

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))
        if not self.lines:
            raise ValueError("expected at least one order line")
        if self.method not in ("ship", "pickup"):
            raise ValueError(f"expected method 'ship' or 'pickup', got {self.method!r}")
        if self.method == "pickup" and not self.pickup_node:
            raise ValueError("expected pickup_node for a pickup order")
        if self.max_parcels is not None and self.max_parcels < 1:
            raise ValueError(f"expected max_parcels >= 1, got {self.max_parcels}")
        if not (-90 <= self.lat <= 90 and -180 <= self.lon <= 180):
            raise ValueError("expected lat in [-90, 90] and lon in [-180, 180]")

    @property
    def skus(self) -> list[str]:
        """SKU of every line, in line order."""
        return [line.sku for line in self.lines]

    @property
    def parcel_limit(self) -> int | None:
        """The customer's cap on shipping nodes (1 for single-parcel orders)."""
        if self.single_parcel:
            return 1
        return self.max_parcels

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Order:
        """Build from a REPLAY.md order (or an API payload of the same shape)."""
        lines = tuple(OrderLine(str(x["sku"]), int(x["qty"])) for x in d["lines"])
        deliver_by = d.get("deliver_by")
        placed_at = d.get("placed_at")
        return cls(
            id=str(d["id"]), lines=lines, lat=float(d["lat"]), lon=float(d["lon"]),
            method=str(d.get("method", "ship")), pickup_node=d.get("pickup_node"),
            zip3=d.get("zip3"), single_parcel=bool(d.get("single_parcel", False)),
            max_parcels=d.get("max_parcels"),
            deliver_by=dt.date.fromisoformat(deliver_by) if isinstance(deliver_by, str)
            else deliver_by,
            placed_at=dt.datetime.fromisoformat(placed_at) if isinstance(placed_at, str)
            else placed_at,
        )


def unique_skus(lines: Sequence[OrderLine]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Distinct SKUs, their total quantity, and each line's position among them."""
    pos: dict[str, int] = {}
    where = [pos.setdefault(line.sku, len(pos)) for line in lines]
    qty = [0] * len(pos)
    for s, line in zip(where, lines, strict=True):
        qty[s] += line.qty
    return list(pos), np.array(qty, np.int64), np.array(where, np.int64)
