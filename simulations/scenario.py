"""Scenarios: what to simulate, read from TOML into frozen, validated dataclasses.

Every check raises `ScenarioError` saying what was expected and what was found
("expected horizon_days >= 1, got 0"), prefixed with where in the file it was
("[demand] ...", "what_if[2] ..."). Unknown keys are errors too: a typo must not
silently fall back to a default.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from allocation.policies import POLICIES
from data.demo import DEFAULT_START, DemoParams

__all__ = [
    "BoundSpec", "DemandSpec", "ReplenishmentSpec", "Scenario", "ScenarioError", "Selector",
    "StoreOpsSpec", "WhatIf", "load_scenario", "parse_scenario",
]

DEFAULT_POLICIES = ("nearest", "rules", "optimal")
WHAT_IF_KINDS = ("ship_from_store", "dc_closed", "demand_surge", "capacity_cut",
                 "safety_stock")


class ScenarioError(ValueError):
    """A scenario file that does not say what the simulator needs, and why."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ScenarioError(message)


def _prob(name: str, value: float) -> None:
    _check(0.0 <= value <= 1.0, f"expected 0 <= {name} <= 1, got {value!r}")


def _at_least(name: str, value: float, low: float) -> None:
    _check(value >= low, f"expected {name} >= {low}, got {value!r}")


@dataclass(frozen=True)
class Selector:
    """Which stores (or customers) an edit touches: codes, states, or around a city."""

    stores: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    city: str | None = None  # a US city of the reference list, e.g. "Houston"
    radius_miles: float = 30.0

    def __post_init__(self) -> None:
        _at_least("radius_miles", self.radius_miles, 0.0)

    @property
    def everything(self) -> bool:
        """True when the selector names nothing (the edit applies everywhere)."""
        return not (self.stores or self.states or self.city)


@dataclass(frozen=True)
class DemandSpec:
    """Online orders (by ZIP population and SKU popularity) and walk-in demand per store."""

    orders_per_day: float = 100.0
    lines_mix: tuple[float, ...] = (0.55, 0.30, 0.15)  # share of orders with 1, 2, 3.. lines
    pickup_share: float = 0.15
    walk_in_scale: float = 1.0  # multiplies every store's walk-in rate
    popularity: str = "rates"  # "rates" (the network's forecast rates) or "history"
    locations: int = 150  # most populous ZIPs near the network's stores
    calendar: bool = True  # weekday and holiday factors on both channels
    walk_in_slots: int = 4  # intraday batches of walk-in shoppers

    def __post_init__(self) -> None:
        _at_least("orders_per_day", self.orders_per_day, 0.0)
        _check(len(self.lines_mix) >= 1 and all(p >= 0 for p in self.lines_mix)
               and abs(sum(self.lines_mix) - 1.0) < 1e-6,
               f"expected lines_mix of shares >= 0 summing to 1, got {list(self.lines_mix)}")
        _prob("pickup_share", self.pickup_share)
        _at_least("walk_in_scale", self.walk_in_scale, 0.0)
        _check(self.popularity in ("rates", "history"),
               f"expected popularity 'rates' or 'history', got {self.popularity!r}")
        _at_least("locations", self.locations, 1)
        _at_least("walk_in_slots", self.walk_in_slots, 1)


@dataclass(frozen=True)
class ReplenishmentSpec:
    """Periodic review, order-up-to the service-level quantile of demand over lead + review."""

    review_days: int = 7
    service_level: float = 0.95
    vendor_lead_days: int = 7  # vendor -> DC
    dc_lead_days: int = 2  # DC -> store
    source: str = "rates"  # "rates" (NB quantiles of the rates) or "forecast" (from history)

    def __post_init__(self) -> None:
        _at_least("review_days", self.review_days, 1)
        _check(0.0 < self.service_level < 1.0,
               f"expected 0 < service_level < 1, got {self.service_level!r}")
        _at_least("vendor_lead_days", self.vendor_lead_days, 0)
        _at_least("dc_lead_days", self.dc_lead_days, 0)
        _check(self.source in ("rates", "forecast"),
               f"expected source 'rates' or 'forecast', got {self.source!r}")


@dataclass(frozen=True)
class StoreOpsSpec:
    """Store labour and customer behaviour: capacity, rejections, no-shows."""

    pick_capacity_scale: float = 1.0  # times each store's daily pick capacity
    rejection_probability: float = 0.03  # a store rejects a parcel it was given
    no_show_probability: float = 0.05  # a pickup is never collected
    pickup_hold_days: int = 3  # uncollected pickups go back to stock after this
    max_reroutes: int = 2
    late_probability: float = 0.03  # a parcel arrives a day after its promise

    def __post_init__(self) -> None:
        _at_least("pick_capacity_scale", self.pick_capacity_scale, 0.0)
        for name in ("rejection_probability", "no_show_probability", "late_probability"):
            _prob(name, getattr(self, name))
        _at_least("pickup_hold_days", self.pickup_hold_days, 0)
        _at_least("max_reroutes", self.max_reroutes, 0)


@dataclass(frozen=True)
class BoundSpec:
    """The hindsight LP bound over the realised orders."""

    enabled: bool = True
    max_iterations: int = 200

    def __post_init__(self) -> None:
        _at_least("max_iterations", self.max_iterations, 1)


@dataclass(frozen=True)
class WhatIf:
    """One edit of the network or demand; `kind` says which fields matter."""

    kind: str
    where: Selector = field(default_factory=Selector)
    enabled: bool = False  # ship_from_store: the flag to set
    dc: str | int | None = None  # dc_closed: a DC code, or its index (0 = largest)
    percent: float = 0.0  # demand_surge (+x%) or capacity_cut (-x%)
    category: str | None = None  # demand_surge: only this SKU category
    channel: str = "both"  # demand_surge: "online", "walk_in" or "both"
    factor: float = 1.0  # safety_stock: multiply store safety stock
    from_day: int = 0
    to_day: int | None = None  # exclusive; None = to the end of the horizon

    def __post_init__(self) -> None:
        _check(self.kind in WHAT_IF_KINDS,
               f"expected kind one of {list(WHAT_IF_KINDS)}, got {self.kind!r}")
        _at_least("from_day", self.from_day, 0)
        if self.to_day is not None:
            _check(self.to_day > self.from_day,
                   f"expected to_day > from_day ({self.from_day}), got {self.to_day}")
        if self.kind == "dc_closed":
            _check(self.dc is not None, "expected dc (a DC code or index) for dc_closed")
        if self.kind == "demand_surge":
            _at_least("percent", self.percent, -100.0)
            _check(self.channel in ("online", "walk_in", "both"),
                   f"expected channel 'online', 'walk_in' or 'both', got {self.channel!r}")
        if self.kind == "capacity_cut":
            _check(0.0 <= self.percent <= 100.0,
                   f"expected 0 <= percent <= 100, got {self.percent!r}")
        if self.kind == "safety_stock":
            _at_least("factor", self.factor, 0.0)

    def active(self, day: int) -> bool:
        """Whether the edit is in force on `day`."""
        return self.from_day <= day and (self.to_day is None or day < self.to_day)


@dataclass(frozen=True)
class Scenario:
    """Everything one simulation needs besides the seed."""

    name: str
    network: DemoParams
    horizon_days: int = 14
    policies: tuple[str, ...] = DEFAULT_POLICIES
    demand: DemandSpec = field(default_factory=DemandSpec)
    replenishment: ReplenishmentSpec = field(default_factory=ReplenishmentSpec)
    stores: StoreOpsSpec = field(default_factory=StoreOpsSpec)
    bound: BoundSpec = field(default_factory=BoundSpec)
    what_if: tuple[WhatIf, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        _check(bool(self.name), "expected a non-empty name")
        _at_least("horizon_days", self.horizon_days, 1)
        _check(len(self.policies) >= 1, "expected at least one policy")
        known = sorted(POLICIES)
        for p in self.policies:
            _check(p in POLICIES, f"expected policies from {known}, got {p!r}")
        _check(len(set(self.policies)) == len(self.policies), "expected distinct policies")

    @property
    def start(self) -> dt.date:
        """First simulated day (the demo network's "today")."""
        return self.network.start


# ---------------------------------------------------------------------------- parsing


def _build(cls: type, raw: Any, where: str, convert: Mapping[str, Any] | None = None) -> Any:
    """Instantiate a dataclass from a TOML table, rejecting unknown keys."""
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: expected a table, got {type(raw).__name__}")
    names = [f.name for f in fields(cls) if f.init]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ScenarioError(f"{where}: unknown key {unknown[0]!r}; expected one of {names}")
    kwargs = dict(raw)
    for key, fn in (convert or {}).items():
        if key in kwargs:
            kwargs[key] = fn(kwargs[key])
    try:
        return cls(**kwargs)
    except ScenarioError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from None


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioError(f"expected a list of strings, got {value!r}")
    return tuple(value)


def _floats(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not all(isinstance(v, int | float) for v in value):
        raise ScenarioError(f"expected a list of numbers, got {value!r}")
    return tuple(float(v) for v in value)


def _what_if(raw: Any, k: int) -> WhatIf:
    where = f"what_if[{k}]"
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: expected a table, got {type(raw).__name__}")
    sel_keys = {"stores", "states", "city", "radius_miles"}
    sel_raw = {key: raw[key] for key in raw if key in sel_keys}
    rest = {key: raw[key] for key in raw if key not in sel_keys}
    sel = _build(Selector, sel_raw, where, {"stores": _strings, "states": _strings})
    return _build(WhatIf, dict(rest, where=sel), where)


def parse_scenario(raw: Mapping[str, Any], *, default_name: str = "scenario") -> Scenario:
    """A validated Scenario from a parsed TOML document."""
    top = {"name", "description", "horizon_days", "policies", "network", "demand",
           "replenishment", "stores", "bound", "what_if"}
    unknown = sorted(set(raw) - top)
    if unknown:
        raise ScenarioError(f"unknown key {unknown[0]!r}; expected one of {sorted(top)}")
    net_raw = dict(raw.get("network", {}))
    net_raw.setdefault("history_days", 0)
    if isinstance(net_raw.get("start"), str):
        net_raw["start"] = dt.date.fromisoformat(net_raw["start"])
    net_raw.setdefault("start", DEFAULT_START)
    network = _build(DemoParams, net_raw, "[network]")
    what_ifs = raw.get("what_if", [])
    if not isinstance(what_ifs, list):
        raise ScenarioError("expected what_if to be an array of tables ([[what_if]])")
    try:
        return Scenario(
            name=str(raw.get("name", default_name)),
            description=str(raw.get("description", "")),
            network=network,
            horizon_days=raw.get("horizon_days", 14),
            policies=_strings(raw.get("policies", list(DEFAULT_POLICIES))),
            demand=_build(DemandSpec, raw.get("demand", {}), "[demand]",
                          {"lines_mix": _floats}),
            replenishment=_build(ReplenishmentSpec, raw.get("replenishment", {}),
                                 "[replenishment]"),
            stores=_build(StoreOpsSpec, raw.get("stores", {}), "[stores]"),
            bound=_build(BoundSpec, raw.get("bound", {}), "[bound]"),
            what_if=tuple(_what_if(w, k) for k, w in enumerate(what_ifs)),
        )
    except TypeError as exc:
        raise ScenarioError(str(exc)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{p}: not valid TOML: {exc}") from None
    try:
        return parse_scenario(raw, default_name=p.stem)
    except ScenarioError as exc:
        raise ScenarioError(f"{p.name}: {exc}") from None
