"""Tiny named networks for tests."""

from __future__ import annotations

from data import ledger
from data.db import Database
from data.models import Node, NodeKind, Sku

TINY_NODES = [
    dict(code="DC-DAL", name="Dallas DC", kind=NodeKind.dc, zip="75201", lat=32.7767,
         lon=-96.7970, pick_cost_per_unit=0.45),
    dict(code="ST-0001", name="Walmart #1 Rogers", kind=NodeKind.store, zip="72756",
         lat=36.342235, lon=-94.07141, ship_from_store=True, click_and_collect=True,
         pick_capacity_per_day=100, pick_cost_per_unit=1.6),
    dict(code="ST-0002", name="Walmart #2 Harrison", kind=NodeKind.store, zip="72601",
         lat=36.236984, lon=-93.09345, ship_from_store=False, click_and_collect=True,
         pick_capacity_per_day=60, pick_cost_per_unit=1.6),
]
TINY_SKUS = [
    dict(code="SKU-A", name="Paper towels 6-pack", category="household", weight_lb=3.0,
         unit_price=9.99, unit_cost=6.5),
    dict(code="SKU-B", name="USB-C cable", category="electronics", weight_lb=0.2,
         unit_price=12.99, unit_cost=4.0),
]


def seed_tiny(db: Database, stock: dict[tuple[str, str], int] | None = None) -> None:
    """Three nodes, two SKUs and optional opening stock received through the ledger."""
    with db.transaction() as s:
        s.add_all([Node(**n) for n in TINY_NODES])
        s.add_all([Sku(**k) for k in TINY_SKUS])
    if stock:
        with db.transaction() as s:
            keys = ledger.resolve(s, stock)
            for pair, qty in stock.items():
                ledger.receive(s, keys[pair], qty, reference="opening")
