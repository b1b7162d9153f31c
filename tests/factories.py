"""Tiny named networks for tests."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from data import ledger
from data.db import Database
from data.demo import DemoNetwork
from data.ledger import write_demand_rates
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


def synthetic_demand_rates(db: Database, net: DemoNetwork, sigma: float, seed: int) -> int:
    """Write a daily demand rate for every store position of a demo network written to
    `db`: its expected sales x a lognormal forecast error of `sigma` (seeded)."""
    nodes, skus = net.nodes.set_index("id"), net.skus.set_index("id")
    stock = net.stock[net.stock["node_id"].map(nodes["kind"]).to_numpy() == "store"]
    mu = (nodes["demand_scale"].reindex(stock["node_id"]).to_numpy(float)
          * skus["daily_rate"].reindex(stock["sku_id"]).to_numpy(float))
    rate = mu * np.random.default_rng(seed).lognormal(-sigma**2 / 2, sigma, len(mu))
    # Database ids by code (the demo's local ids are not promised to survive the insert).
    with db.read_session() as s:
        node_ids = dict(s.execute(select(Node.code, Node.id)).all())
        sku_ids = dict(s.execute(select(Sku.code, Sku.id)).all())
    node_db = nodes["code"].map(node_ids).reindex(stock["node_id"]).to_numpy(np.int64)
    sku_db = skus["code"].map(sku_ids).reindex(stock["sku_id"]).to_numpy(np.int64)
    with db.transaction() as s:
        return write_demand_rates(s, node_db, sku_db, rate)
