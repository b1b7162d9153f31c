"""What a product page or a store locator reads: network ATP and per-node stock rows.

One function for both ways in (the FastAPI route and the hot path of `api/hot_paths.py`):
two statements on one pooled connection, node attributes from the allocation network
cache, no ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from allocation.errors import UnknownReference
from allocation.geo import haversine_miles
from data import availability
from data.availability import SkuIds
from data.db import Database, RawCursor


def stock_view(db: Database, skus: SkuIds, ctx: Any, codes: Sequence[str], *,
               node: str | None = None, near: tuple[float, float] | None = None,
               radius_miles: float | None = None, rows: bool | None = None) -> dict[str, Any]:
    """{"network": ATP per SKU, "nodes": rows} for the SKUs; rows at every active node
    (`rows`), at one node, or at nodes within `radius_miles` of `near` (nearest first);
    `rows` None: rows when a node or a place is given.

    `ctx` is the allocation context (fulfilment.allocations.AllocationContext): its
    network gives node kinds, flags and places without a query.
    """
    return db.read(lambda cur: _view(cur, db, skus, ctx, list(codes), node, near,
                                     radius_miles, rows if rows is not None
                                     else node is not None or near is not None))


def _view(cur: RawCursor, db: Database, skus: SkuIds, ctx: Any, codes: list[str],
          node: str | None, near: tuple[float, float] | None, radius: float | None,
          want: bool) -> dict[str, Any]:
    network = availability.network_atp_fast(db, skus, codes, cur)
    out: list[dict[str, Any]] = []
    if not want:
        return {"network": network, "nodes": out}
    net, _, node_ids, at = ctx.state()
    node_id = None
    if node is not None:
        i = net.index.get(node)
        if i is None:
            if not cur.execute("SELECT 1 FROM nodes WHERE code = ?", [node]).fetchall():
                raise UnknownReference(f"unknown node: {node}", nodes=[node])
            return {"network": network, "nodes": out}  # inactive: it offers nothing
        node_id = int(node_ids[i])
    ids = skus.get(codes)
    code_of = {v: k for k, v in ids.items()}
    found = [(at[n], s, oh, r, ss) for n, s, oh, r, ss in
             availability.positions_fast(db, list(ids.values()), node_id, cur) if n in at]
    dist = None
    if near is not None and found:
        k = np.fromiter((f[0] for f in found), np.int64, len(found))
        dist = haversine_miles(near[0], near[1], net.lat[k], net.lon[k])
    for j, (i, s, on_hand, reserved, safety) in enumerate(found):
        d = None if dist is None else float(dist[j])
        if d is not None and radius is not None and d > radius:
            continue
        store = bool(net.is_store[i])
        out.append({
            "node": net.codes[i], "kind": "store" if store else "dc", "sku": code_of[s],
            "on_hand": on_hand, "reserved": reserved, "safety_stock": safety,
            "atp": max(on_hand - reserved - safety, 0),
            "shelf": max(on_hand - reserved, 0) if store else 0,
            "ships": (not store) or bool(net.ship_from_store[i]),
            "pickup": store and bool(net.click_and_collect[i]), "distance_miles": d})
    out.sort(key=(lambda r: (r["distance_miles"], r["node"], r["sku"])) if near
             else (lambda r: (r["node"], r["sku"])))
    return {"network": network, "nodes": out}
