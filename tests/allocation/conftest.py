"""Tiny named fixtures: a three-node network and a two-line order near New Jersey."""

from __future__ import annotations

import numpy as np
import pytest

from allocation.costs import CostModel, DistanceRates, PickCosts, TransferRates
from allocation.network import UNLIMITED, Network, Order, OrderLine


@pytest.fixture
def meridian_network() -> Network:
    """DC-A one degree north of the customer, DC-B three degrees north, a store in between."""
    return Network(
        codes=("DC-A", "DC-B", "ST-1"), is_store=[False, False, True],
        lat=[41.0, 43.0, 42.0], lon=[-75.0, -75.0, -75.0],
        ship_from_store=[False, False, True], click_and_collect=[False, False, True],
        pick_capacity=[UNLIMITED, UNLIMITED, 2], zip3=[-1, -1, -1])


@pytest.fixture
def literature_costs() -> CostModel:
    """Jasin & Sinha constants, no pick cost, replay-style pricing."""
    return CostModel(shipping=DistanceRates(), pick=PickCosts(0.0, 0.0),
                     transfer=TransferRates(enabled=False), unfilled_per_unit=0.0,
                     pickup_priced_as_shipping=True)


@pytest.fixture
def two_line_order() -> Order:
    """2 x SKU-X and 1 x SKU-Y to (40, -75)."""
    return Order("o-1", (OrderLine("SKU-X", 2), OrderLine("SKU-Y", 1)), lat=40.0, lon=-75.0)


@pytest.fixture
def two_line_atp() -> np.ndarray:
    """DC-A holds only X; DC-B holds both; the store holds nothing."""
    return np.array([[2, 0], [5, 5], [0, 0]])
