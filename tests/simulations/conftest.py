"""A tiny scenario shared by the simulation tests (seconds, not minutes)."""

from __future__ import annotations

import pytest

from simulations.scenario import Scenario, parse_scenario

TINY = {
    "name": "tiny", "horizon_days": 6, "policies": ["nearest", "optimal"],
    "network": {"stores": 5, "skus": 40, "seed": 3},
    "demand": {"orders_per_day": 60, "pickup_share": 0.3},
    "replenishment": {"review_days": 2, "vendor_lead_days": 1, "dc_lead_days": 1},
    "stores": {"rejection_probability": 0.2, "no_show_probability": 0.3,
               "pickup_hold_days": 1, "pick_capacity_scale": 0.5},
    "bound": {"max_iterations": 50},
    "what_if": [{"kind": "dc_closed", "dc": 0, "from_day": 2, "to_day": 4},
                {"kind": "demand_surge", "category": "grocery", "percent": 50},
                {"kind": "safety_stock", "factor": 2.0}],
}


@pytest.fixture(scope="session")
def tiny() -> Scenario:
    """Six days, five stores, 40 SKUs; rejections, no-shows, an outage, a surge."""
    return parse_scenario(TINY)
