"""Sourcing an order through the allocation core and committing it in one transaction."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import numpy as np

from allocation.costs import CostModel
from allocation.decision import Decision
from allocation.ledger import ReserveItem
from allocation.network import UNLIMITED, Network, Order, OrderLine
from allocation.service import allocate, decide
from api.allocations.schemas import AllocationIn
from data.availability import SkuIds
from data.db import Database, RawCursor
from data.errors import DomainError, UnknownReference
from data.group_commit import GroupCommitter, in_savepoint
from data.idempotency import lock_key, request_hash
from data.models import OrderStatus, utcnow
from data.order_writer import DuplicateOrder, Hold, OrderRecord, stored_response, write_order
from data.stock_ledger import SnapshotLedger, node_records

SCOPE = "allocations"
# Each lost race means another order got the units, so retries end once the snapshot shows
# what is left; a flash sale of many buyers for the last units needs more than a few.
RACE_ATTEMPTS = 8


class OrderExists(DomainError):
    """The order id was allocated before (without the same idempotency key)."""

    status = 409
    title = "Order already allocated"
    type_ = "/problems/order-exists"


class AllocationContext:
    """What every allocation needs and rarely changes: the network, zones, the cost model."""

    def __init__(self, db: Database, ttl_seconds: float = 30.0,
                 group_commit: bool = True) -> None:
        self.db = db
        self.ttl = ttl_seconds
        self.cost = CostModel()
        self._lock = threading.RLock()
        self._loaded = 0.0
        self._network: Network | None = None
        self._capacity: np.ndarray | None = None
        self._zones: np.ndarray | None = None
        self._node_ids: np.ndarray | None = None
        self._node_rows: dict[int, int] = {}
        self._recs: list[dict[str, Any]] | None = None
        self.skus = SkuIds(db)
        # SQLite: one writer thread commits the waiting orders together (data.group_commit).
        self.committer = GroupCommitter(db) if db.sqlite and group_commit else None
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
                if recs == self._recs and self._network is not None:
                    # Unchanged: keep the network object, whose decide() caches (distances,
                    # zones, prices per customer location) stay warm; a new one starts cold
                    # and its first orders stalled the writer by a few hundred ms.
                    self._loaded = time.monotonic()
                    return self._network, self._capacity  # type: ignore[return-value]
                self._recs = recs
                self._network = Network.from_records(recs)
                self._capacity = np.array(
                    [UNLIMITED if r["pick_capacity"] is None else r["pick_capacity"]
                     for r in recs], dtype=np.int64)
                self._node_ids = np.array([r["db_id"] for r in recs], dtype=np.int64)
                self._node_rows = {int(r["db_id"]): k for k, r in enumerate(recs)}
                self._loaded = time.monotonic()
            assert self._capacity is not None
            return self._network, self._capacity

    def node_ids(self) -> np.ndarray:
        """Database ids of the network's nodes, in its order."""
        self.network()
        assert self._node_ids is not None
        return self._node_ids

    def node_rows(self) -> dict[int, int]:
        """Database node id -> the node's row in the network (built once per reload)."""
        return self.state()[3]

    def state(self) -> tuple[Network, np.ndarray, np.ndarray, dict[int, int]]:
        """Network, daily capacity, node ids and id -> row, all of one reload."""
        with self._lock:
            self.network()  # the lock is re-entrant
            assert self._network is not None and self._capacity is not None
            assert self._node_ids is not None
            return self._network, self._capacity, self._node_ids, self._node_rows


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


def _holds(decision: Decision, network: Network, node_ids: np.ndarray,
           sku_ids: dict[str, int]) -> list[Hold]:
    """One hold (reservation) per line and node the decision takes units from."""
    return [Hold(line_no=ld.line + 1, node_id=int(node_ids[network.index[a.node]]), node=a.node,
                 sku_id=sku_ids[ld.sku], sku=ld.sku, qty=a.qty, method=a.method)
            for ld in decision.lines for a in ld.allocations]


def _status(decision: Decision, req: AllocationIn) -> tuple[OrderStatus, list[str]]:
    unfilled = decision.unfilled_units
    total = sum(x.qty for x in req.lines)
    status = (OrderStatus.allocated if unfilled == 0 else OrderStatus.open
              if unfilled == total else OrderStatus.partially_allocated)
    states = ["allocated" if ld.unfilled == 0 else "unfilled" if not ld.allocations
              else "partially_allocated" for ld in decision.lines]
    return status, states


class _Replayed(Exception):
    """Another request with the same idempotency key committed first: its answer."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("replayed")
        self.result = result


def _commit(ctx: AllocationContext, req: AllocationIn, key: str | None,
            digest: str | None, cur: RawCursor | None) -> dict[str, Any]:
    """Decide, then hold the stock and write the order in one transaction.

    With `cur` (SQLite: a job on the writer thread, inside its transaction) the decision
    reads the stock through that transaction, so it sees the orders committed just before
    it in the same group. Without (PostgreSQL) it decides on a read snapshot, outside any
    lock; a hold that lost its race rolls back and the allocation core decides again on
    fresh stock.
    """
    network, capacity, node_ids, node_rows = ctx.state()
    order = _to_order(req, network)
    sku_ids = ctx.skus.get([x.sku for x in req.lines])
    pickup_id = (int(node_ids[network.index[req.pickup_store]]) if req.pickup_store else None)
    snapshot = SnapshotLedger(ctx.db, network.codes, node_ids, ctx.skus, capacity, cursor=cur,
                              node_rows=node_rows)
    result: dict[str, Any] = {}

    def commit(decision: Decision, _items: list[ReserveItem]) -> list[int]:
        status, states = _status(decision, req)
        rec = OrderRecord(
            external_id=req.order_id, method=req.method, pickup_node_id=pickup_id,
            ship_zip=req.zip, ship_lat=order.lat, ship_lon=order.lon, status=status,
            lines=[(k + 1, sku_ids[x.sku], x.qty, st)
                   for k, (x, st) in enumerate(zip(req.lines, states, strict=True))],
            holds=_holds(decision, network, node_ids, sku_ids))

        def decided(res_ids: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
            out = replace(decision, reservations=tuple(res_ids)).to_dict()
            result.update({"order_id": req.order_id, "status": status.value,
                           "dry_run": False, "decision": out})
            return out, result

        def job(c: RawCursor) -> list[int]:
            if key is not None and digest is not None:
                lock_key(c, key)  # a concurrent retry waits here, then replays this answer
                stored = stored_response(c, key, SCOPE, digest)
                if stored is not None:
                    raise _Replayed(stored)
            try:
                return write_order(c, rec, decided,
                                   None if key is None else (key, SCOPE, str(digest)))[1]
            except DuplicateOrder:
                raise OrderExists(f"order {req.order_id!r} was allocated already; cancel or "
                                  "use a new id") from None

        if cur is None:
            return ctx.db.run_raw(job, what="allocation")
        return in_savepoint(cur, job)  # a refused attempt leaves nothing in the group

    allocate(order, network, snapshot, req.policy, cost=ctx.cost, zone_matrix=ctx.zones(),
             opportunity=ctx.opportunity(req.policy), now=utcnow(), reserve=commit,
             max_attempts=RACE_ATTEMPTS)
    if ctx.pricing is not None:
        ctx.pricing.order_seen()  # a due price refresh starts on its own thread
    return result


def _quote(db: Database, ctx: AllocationContext, req: AllocationIn) -> dict[str, Any]:
    network, capacity, node_ids, node_rows = ctx.state()
    order = _to_order(req, network)
    ctx.skus.get([x.sku for x in req.lines])
    led = SnapshotLedger(db, network.codes, node_ids, ctx.skus, capacity, node_rows=node_rows)
    skus = list(dict.fromkeys(x.sku for x in req.lines))
    decision, _ = decide(order, network, led.atp(skus), req.policy, cost=ctx.cost,
                         capacity=led.capacity_left(), zone_matrix=ctx.zones(),
                         opportunity=ctx.opportunity(req.policy), now=utcnow())
    return {"order_id": req.order_id, "status": "quoted", "dry_run": True, "replayed": False,
            "decision": decision.to_dict()}


def _allocate(ctx: AllocationContext, req: AllocationIn, header_key: str | None,
              cur: RawCursor | None) -> dict[str, Any]:
    db = ctx.db
    key = header_key or req.idempotency_key
    if key is None:
        return {**_commit(ctx, req, None, None, cur), "replayed": False}
    digest = request_hash(req.model_dump(mode="json", exclude={"idempotency_key"}))
    if cur is not None:
        stored = stored_response(cur, key, SCOPE, digest)
    else:
        with db.raw_read() as c:
            stored = stored_response(c, key, SCOPE, digest)
    if stored is not None:
        return {**stored, "replayed": True}
    try:
        return {**_commit(ctx, req, key, digest, cur), "replayed": False}
    except _Replayed as done:
        return {**done.result, "replayed": True}
    except db.integrity_errors:  # the same key committed by another worker a moment ago
        if cur is not None:
            raise
        with db.raw_read() as c:
            stored = stored_response(c, key, SCOPE, digest)
        if stored is None:
            raise
        return {**stored, "replayed": True}


def submit_allocation(ctx: AllocationContext, req: AllocationIn,
                      header_key: str | None = None) -> Future[dict[str, Any]] | None:
    """On SQLite, the allocation as a job of the writer thread; None: call allocate_order."""
    if req.dry_run or ctx.committer is None:
        return None
    return ctx.committer.submit(lambda cur: _allocate(ctx, req, header_key, cur))


def allocate_order(db: Database, ctx: AllocationContext, req: AllocationIn,
                   header_key: str | None = None) -> dict[str, Any]:
    """Quote (dry run) or source, reserve and record an order; idempotent by key.

    On SQLite the whole allocation (read, decide, write) runs on the writer thread, as one
    savepoint of the group transaction: one writer, no lost races inside the process.
    """
    if req.dry_run:
        return _quote(db, ctx, req)
    job = submit_allocation(ctx, req, header_key)
    if job is not None:
        return job.result()
    return _allocate(ctx, req, header_key, None)
