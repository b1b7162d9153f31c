"""Tiny seeded builders of networks, orders and cost models for allocation tests."""

from __future__ import annotations

import numpy as np

from allocation.costs import CostModel, DistanceRates, PickCosts, RateCard, TransferRates
from allocation.network import UNLIMITED, Network, Order, OrderLine


def tiny_zone_matrix() -> np.ndarray:
    """A (1000, 1000) chart where ZIP3 a -> b is zone 1 + |a - b| % 8 for ZIP3 < 20, else 0."""
    zm = np.zeros((1000, 1000), np.uint8)
    a = np.arange(20)
    zm[:20, :20] = 1 + np.abs(a[:, None] - a[None, :]) % 8
    return zm


def random_network(rng: np.random.Generator, n_nodes: int) -> Network:
    """DCs and stores around the continental US with random flags and capacities."""
    is_store = rng.random(n_nodes) < 0.5
    cap = np.where(rng.random(n_nodes) < 0.4, rng.integers(0, 6, n_nodes), UNLIMITED)
    return Network(
        codes=tuple(f"N{k}" for k in range(n_nodes)), is_store=is_store,
        lat=rng.uniform(26, 48, n_nodes), lon=rng.uniform(-122, -70, n_nodes),
        ship_from_store=is_store & (rng.random(n_nodes) < 0.7),
        click_and_collect=is_store, pick_capacity=cap,
        zip3=rng.integers(0, 20, n_nodes),
    )


def random_order(rng: np.random.Generator, network: Network, n_lines: int, k: int) -> Order:
    """Ship or pickup order with up to n_lines distinct SKUs of 1..3 units and random rules."""
    stores = [c for c, s in zip(network.codes, network.is_store, strict=True) if s]
    pickup = bool(stores) and rng.random() < 0.3
    skus = rng.choice(10, size=n_lines, replace=False)
    return Order(
        id=f"o{k}", lines=tuple(OrderLine(f"S{s}", int(rng.integers(1, 4))) for s in skus),
        lat=float(rng.uniform(26, 48)), lon=float(rng.uniform(-122, -70)),
        method="pickup" if pickup else "ship",
        pickup_node=str(rng.choice(stores)) if pickup else None,
        zip3=int(rng.integers(0, 25)),
        max_parcels=int(rng.integers(1, 3)) if rng.random() < 0.2 else None,
        single_parcel=bool(rng.random() < 0.1),
    )


def random_cost_model(rng: np.random.Generator) -> CostModel:
    """Either shipping model, random pick costs, transfers on."""
    shipping = DistanceRates() if rng.random() < 0.5 else RateCard()
    return CostModel(shipping=shipping,
                     pick=PickCosts(dc=float(rng.uniform(0, 1)), store=float(rng.uniform(0, 2))),
                     transfer=TransferRates(enabled=True),
                     unfilled_per_unit=float(rng.uniform(0, 10)))
