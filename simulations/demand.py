"""Demand streams of one seed: online orders (placed by ZIP population and SKU popularity)
and walk-in shoppers per store, plus the uniforms that decide rejections and no-shows.

Every policy of a scenario replays the same stream (common random numbers): the orders,
the walk-in draws of each day and each order's rejection / lateness / no-show uniforms are
drawn here from `np.random.SeedSequence(seed)` children, one per purpose, never from global
random state. Walk-ins are drawn per day from that day's own child, so they need no storage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulations.world import World

__all__ = ["DayOrders", "Demand", "draw_walk_ins", "generate_demand"]

N_UNIFORMS = 8  # rejection draws per order (one per store parcel, re-routes included)


@dataclass(frozen=True, eq=False)
class DayOrders:
    """The online orders of one day, sorted by time (parallel arrays)."""

    hour: np.ndarray  # float, 0..24
    location: np.ndarray  # index into the world's customer locations
    pickup: np.ndarray  # bool
    skus: list[tuple[int, ...]]  # distinct SKU columns, one unit each
    u_reject: np.ndarray  # (n, N_UNIFORMS)
    u_late: np.ndarray  # (n,)
    u_no_show: np.ndarray  # (n,)
    u_delay: np.ndarray  # (n,) when in the hold window the customer comes


@dataclass(frozen=True, eq=False)
class Demand:
    """All online orders of the horizon and the seeds of each day's walk-ins."""

    seed: int
    days: list[DayOrders]
    walk_in_seeds: list[np.random.SeedSequence]

    @property
    def n_orders(self) -> int:
        """Online orders over the horizon."""
        return sum(len(d.hour) for d in self.days)


def _distinct_skus(rng: np.random.Generator, cdf: np.ndarray, size: int) -> tuple[int, ...]:
    """`size` distinct SKUs by popularity (draw with replacement, keep first distinct)."""
    size = min(size, len(cdf))
    out: dict[int, None] = {}
    while len(out) < size:
        for j in np.searchsorted(cdf, rng.random(2 * size), side="right"):
            out.setdefault(int(min(j, len(cdf) - 1)), None)
            if len(out) == size:
                break
    return tuple(sorted(out))


def generate_demand(world: World, seed: int) -> Demand:
    """Draw the seed's online orders and walk-in seeds (deterministic for the seed)."""
    spec = world.scenario.demand
    root = np.random.SeedSequence(seed)
    orders_ss, walk_ss, ops_ss = root.spawn(3)
    rng, ops = np.random.default_rng(orders_ss), np.random.default_rng(ops_ss)
    mix = np.asarray(spec.lines_mix)
    has_pickup = world.loc_pickup >= 0
    days = []
    for day in range(world.horizon):
        loc_factor, sku_w = world.online_factor(day)
        lam = spec.orders_per_day * world.day_factor[day] * world.loc_weight * loc_factor
        counts = rng.poisson(lam)
        location = np.repeat(np.arange(len(lam)), counts)
        n = len(location)
        hour = rng.uniform(0.0, 24.0, n)
        order = np.argsort(hour, kind="stable")
        hour, location = hour[order], location[order]
        sizes = rng.choice(len(mix), size=n, p=mix) + 1
        pickup = (rng.random(n) < spec.pickup_share) & has_pickup[location]
        same = sku_w.ndim == 1 or (sku_w == sku_w[0]).all()
        cdfs = {0: np.cumsum(sku_w[0])} if same else {}
        skus = []
        for loc, size in zip(location, sizes, strict=True):
            key = 0 if same else int(loc)
            if key not in cdfs:
                cdfs[key] = np.cumsum(sku_w[key])
            skus.append(_distinct_skus(rng, cdfs[key] / cdfs[key][-1], int(size)))
        days.append(DayOrders(hour, location, pickup, skus, ops.random((n, N_UNIFORMS)),
                              ops.random(n), ops.random(n), ops.random(n)))
    return Demand(seed, days, walk_ss.spawn(world.horizon))


def draw_walk_ins(world: World, demand: Demand, day: int, cells: tuple[np.ndarray, np.ndarray],
                  slots: int) -> np.ndarray:
    """(slots, cells) walk-in units per intraday slot at the ranged (store, SKU) cells."""
    rng = np.random.default_rng(demand.walk_in_seeds[day])
    lam = world.walk_in_rate(day)[cells]
    k = world.dispersion
    # Poisson-gamma: the negative binomial of the demo's history, M5's dispersion.
    total = rng.poisson(lam * rng.gamma(k, 1.0 / k, lam.shape))
    out = np.zeros((slots, len(lam)), np.int64)
    left = total
    for s in range(slots - 1):
        out[s] = rng.binomial(left, 1.0 / (slots - s))
        left = left - out[s]
    out[slots - 1] = left
    return out
