"""Sourcing an order through the allocation core and committing it in one transaction."""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from allocation.costs import CostModel
from allocation.network import UNLIMITED, Network, Order, OrderLine
from allocation.service import allocate, decide, reserve_items
from api.allocations.schemas import AllocationIn
from data import ledger
from data.availability import sku_ids
from data.db import Database
from data.errors import DomainError, UnknownReference
from data.idempotency import run_once
from data.models import Node, OrderStatus, Reservation, utcnow
from data.models import Order as OrderRow
from data.models import OrderLine as OrderLineRow
from data.stock_ledger import DbLedger, node_records


class OrderExists(DomainError):
    """The order id was allocated before (without the same idempotency key)."""

    status = 409
    title = "Order already allocated"
    type_ = "/problems/order-exists"


class AllocationContext:
    """What every allocation needs and rarely changes: the network, zones, the cost model."""

    def __init__(self, db: Database, ttl_seconds: float = 30.0) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self.cost = CostModel()
        self._lock = threading.Lock()
        self._loaded = 0.0
        self._network: Network | None = None
        self._capacity: np.ndarray | None = None
        self._zones: np.ndarray | None = None
        self.pricing: Any = None  # api.allocations.pricing.ServicePricing when enabled

    def opportunity(self, policy: str) -> Any:
        """Stock prices for a `policy` request (forecast_aware only; never waits for a solve)."""
        from api.allocations.pricing import prices_for

        return prices_for(self.pricing, policy)

    def zones(self) -> np.ndarray:
        """The USPS zone matrix (loaded once)."""
        if self._zones is None:
            from data.reference import load_zone_matrix

            self._zones = load_zone_matrix()
        return self._zones

    def network(self) -> tuple[Network, np.ndarray]:
        """The active nodes as an allocation network, reloaded after `ttl` seconds."""
        with self._lock:
            if self._network is None or time.monotonic() - self._loaded > self.ttl:
                with self.db.read_session() as s:
                    recs = node_records(s)
                if not recs:
                    raise UnknownReference("the network has no nodes: run `omni demo build`")
                self._network = Network.from_records(recs)
                self._capacity = np.array(
                    [UNLIMITED if r["pick_capacity"] is None else r["pick_capacity"]
                     for r in recs], dtype=np.int64)
                self._loaded = time.monotonic()
            assert self._capacity is not None
            return self._network, self._capacity


def _to_order(req: AllocationIn, network: Network) -> Order:
    lat, lon = req.lat, req.lon
    if req.method == "pickup":
        i = network.index.get(req.pickup_store or "")
        if i is None or not network.click_and_collect[i]:
            raise UnknownReference(
                f"pickup_store {req.pickup_store!r} is not a click-and-collect store")
        lat, lon = (float(network.lat[i]), float(network.lon[i])) if lat is None else (lat, lon)
    if lat is None and req.zip is not None:
        from data.reference import zip_location

        lat, lon = zip_location(req.zip)
    zip3 = int(req.zip[:3]) if req.zip else None
    c = req.constraints
    return Order(id=req.order_id, lines=tuple(OrderLine(x.sku, x.qty) for x in req.lines),
                 lat=float(lat), lon=float(lon), method=req.method,
                 pickup_node=req.pickup_store, zip3=zip3, single_parcel=c.single_parcel,
                 max_parcels=c.max_parcels, deliver_by=c.deliver_by)


def _check_skus(s: Session, req: AllocationIn) -> dict[str, int]:
    return sku_ids(s, list(dict.fromkeys(x.sku for x in req.lines)))


def _commit(s: Session, ctx: AllocationContext, req: AllocationIn) -> dict[str, Any]:
    network, capacity = ctx.network()
    order = _to_order(req, network)
    sku_ids = _check_skus(s, req)
    if s.scalar(select(OrderRow.id).where(OrderRow.external_id == req.order_id)) is not None:
        raise OrderExists(f"order {req.order_id!r} was allocated already; cancel or use a new id")
    pickup_id = (s.scalar(select(Node.id).where(Node.code == req.pickup_store))
                 if req.pickup_store else None)
    row = OrderRow(external_id=req.order_id, method=req.method, pickup_node_id=pickup_id,
                   ship_zip=req.zip, ship_lat=order.lat, ship_lon=order.lon)
    s.add(row)
    s.flush()
    lines = [OrderLineRow(order_id=row.id, line_no=k + 1, sku_id=sku_ids[x.sku], qty=x.qty)
             for k, x in enumerate(req.lines)]
    s.add_all(lines)
    s.flush()
    led = DbLedger(ctx.db, network.codes, session=s, daily_capacity=capacity)
    decision = allocate(order, network, led, req.policy, cost=ctx.cost, zone_matrix=ctx.zones(),
                        opportunity=ctx.opportunity(req.policy), now=utcnow())
    if ctx.pricing is not None:
        ctx.pricing.order_seen()  # a due price refresh starts on its own thread
    # Record the method of each reservation: store tasks and pickups are read from it.
    method_of = {(a.node, ld.sku): a.method for ld in decision.lines for a in ld.allocations}
    for rid, it in zip(decision.reservations, reserve_items(decision), strict=True):
        s.execute(update(Reservation).where(Reservation.id == rid)
                  .values(method=method_of[(it.node, it.sku)])
                  .execution_options(synchronize_session=False))
    # Share each (node, SKU) reservation among the lines it serves: one reservation per
    # line and node, so every line can be shipped, cancelled or re-routed on its own.
    parts: dict[tuple[str, str], list[tuple[int | None, int]]] = {}
    for ln, ld in zip(lines, decision.lines, strict=True):
        for a in ld.allocations:
            parts.setdefault((a.node, ld.sku), []).append((ln.id, a.qty))
    for rid, it in zip(decision.reservations, reserve_items(decision), strict=True):
        ledger.split_reservation(s, rid, parts[(it.node, it.sku)])
    out = decision.to_dict()
    unfilled = decision.unfilled_units
    total = sum(x.qty for x in req.lines)
    row.status = (OrderStatus.allocated if unfilled == 0 else OrderStatus.open
                  if unfilled == total else OrderStatus.partially_allocated)
    for ln, ld in zip(lines, decision.lines, strict=True):
        ln.state = "allocated" if ld.unfilled == 0 else "unfilled" if not ld.allocations \
            else "partially_allocated"
    row.decision = out
    from api.orders.service import record_allocated

    record_allocated(s, row, lines)
    return {"order_id": req.order_id, "status": row.status.value, "dry_run": False,
            "decision": out}


def allocate_order(db: Database, ctx: AllocationContext, req: AllocationIn,
                   header_key: str | None = None) -> dict[str, Any]:
    """Quote (dry run) or source, reserve and record an order; idempotent by key."""
    if req.dry_run:
        network, capacity = ctx.network()
        order = _to_order(req, network)
        with db.read_session() as s:
            _check_skus(s, req)
        led = DbLedger(db, network.codes, daily_capacity=capacity)
        skus = list(dict.fromkeys(x.sku for x in req.lines))
        decision, _ = decide(order, network, led.atp(skus), req.policy, cost=ctx.cost,
                             capacity=led.capacity_left(), zone_matrix=ctx.zones(),
                             opportunity=ctx.opportunity(req.policy), now=utcnow())
        return {"order_id": req.order_id, "status": "quoted", "dry_run": True,
                "decision": decision.to_dict()}
    key = header_key or req.idempotency_key
    payload = req.model_dump(mode="json", exclude={"idempotency_key"})
    result, replayed = run_once(db, key, "allocations", payload, lambda s: _commit(s, ctx, req))
    return {**result, "replayed": replayed}
