"""Sourcing an order through the allocation core and committing it in one transaction."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from anyio import to_thread

from allocation.costs import CostModel
from allocation.decision import Decision
from allocation.errors import InsufficientStock, OrderExists, UnknownReference
from allocation.ledger import OrderHold
from allocation.network import UNLIMITED, Network, Order, OrderLine, unique_skus
from allocation.service import allocate, decide, reserve_items
from data.availability import SkuIds
from data.db import Database
from data.group_commit import BatchCommitter
from data.idempotency import request_hash
from data.models import OrderStatus, utcnow
from data.order_writer import (
    DuplicateOrder,
    Hold,
    OrderJob,
    OrderRecord,
    Replayed,
    Written,
    stored_response,
    write_orders,
)
from data.stock_ledger import SnapshotLedger, node_records


class AllocationRequest(Protocol):
    """What an allocation request carries (the API's AllocationIn is one)."""

    order_id: str
    method: str
    zip: str | None
    lat: float | None
    lon: float | None
    pickup_store: str | None
    lines: Sequence[Any]  # each with .sku and .qty
    constraints: Any  # .single_parcel, .max_parcels, .deliver_by
    policy: str
    dry_run: bool
    idempotency_key: str | None

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """The request as JSON-able data (hashed for its idempotency key)."""
        ...


SCOPE = "allocations"
# Each lost race means another order got the units, so retries end once the snapshot shows
# what is left; a flash sale of many buyers for the last units needs more than a few.
RACE_ATTEMPTS = 8


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
        # One writer thread per process writes the waiting orders together (one
        # transaction, a dozen statements per batch: data.order_writer).
        self.writer: BatchCommitter[OrderJob] | None = (
            BatchCommitter(db, write_orders, name="order-writer") if group_commit else None)
        self.pricing: Any = None  # fulfilment.pricing.ServicePricing when enabled

    def opportunity(self, policy: str) -> Any:
        """Stock prices for a `policy` request (forecast_aware only; never waits for a solve)."""
        from fulfilment.pricing import prices_for

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


def _to_order(req: AllocationRequest, network: Network) -> Order:
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


def _status(decision: Decision, req: AllocationRequest) -> tuple[OrderStatus, list[str]]:
    unfilled = decision.unfilled_units
    total = sum(x.qty for x in req.lines)
    status = (OrderStatus.allocated if unfilled == 0 else OrderStatus.open
              if unfilled == total else OrderStatus.partially_allocated)
    states = ["allocated" if ld.unfilled == 0 else "unfilled" if not ld.allocations
              else "partially_allocated" for ld in decision.lines]
    return status, states


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What every decision attempt of one request shares: the network of one reload."""

    network: Network
    capacity: np.ndarray
    node_ids: np.ndarray
    node_rows: dict[int, int]
    order: Order
    sku_ids: dict[str, int]
    pickup_id: int | None
    idempotency: tuple[str, str, str] | None


def _prepare(ctx: AllocationContext, req: AllocationRequest, header_key: str | None) -> _Prepared:
    network, capacity, node_ids, node_rows = ctx.state()
    order = _to_order(req, network)
    sku_ids = ctx.skus.get([x.sku for x in req.lines])
    pickup_id = (int(node_ids[network.index[req.pickup_store]]) if req.pickup_store else None)
    key = header_key or req.idempotency_key
    idem = None if key is None else (key, SCOPE, request_hash(
        req.model_dump(mode="json", exclude={"idempotency_key"})))
    return _Prepared(network, capacity, node_ids, node_rows, order, sku_ids, pickup_id, idem)


def _stored_answer(ctx: AllocationContext, p: _Prepared) -> dict[str, Any] | None:
    """The answer stored under the request's idempotency key (a repeat), if any."""
    if p.idempotency is None:
        return None
    key, scope, digest = p.idempotency
    stored = ctx.db.read(lambda c: stored_response(c, key, scope, digest))
    return None if stored is None else {**stored, "replayed": True}


class ServiceLedger:
    """The allocation core's ledger for one request: ATP and pick load from a snapshot
    (no lock held), commits through the batch writer (`data.order_writer`), which holds
    the stock and records the order, its lines and its answer in one transaction."""

    def __init__(self, ctx: AllocationContext, p: _Prepared, req: AllocationRequest) -> None:
        self.ctx, self.p, self.req = ctx, p, req
        self.node_codes = p.network.codes
        self._snapshot = SnapshotLedger(ctx.db, p.network.codes, p.node_ids, ctx.skus,
                                        p.capacity, node_rows=p.node_rows)
        self.outcome: Written | Replayed | None = None

    def atp(self, skus: Sequence[str]) -> np.ndarray:
        """ATP of the SKUs at every node, from a fresh snapshot."""
        return self._snapshot.atp(skus)

    def capacity_left(self) -> np.ndarray | None:
        """Pick capacity left, of the same snapshot."""
        return self._snapshot.capacity_left()

    def job(self, hold: OrderHold) -> OrderJob:
        """The batch writer's job for a decided order."""
        p, req, decision = self.p, self.req, hold.decision
        status, states = _status(decision, req)
        rec = OrderRecord(
            external_id=req.order_id, method=req.method, pickup_node_id=p.pickup_id,
            ship_zip=req.zip, ship_lat=p.order.lat, ship_lon=p.order.lon, status=status,
            lines=[(k + 1, p.sku_ids[x.sku], x.qty, st)
                   for k, (x, st) in enumerate(zip(req.lines, states, strict=True))],
            holds=_holds(decision, p.network, p.node_ids, p.sku_ids))

        def decided(res_ids: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
            out = replace(decision, reservations=tuple(res_ids)).to_dict()
            return out, {"order_id": req.order_id, "status": status.value, "dry_run": False,
                         "decision": out}

        return OrderJob(rec, decided, p.idempotency)

    def commit(self, hold: OrderHold) -> list[int]:
        """Write the order with its holds (InsufficientStock: nothing written, decide again)."""
        out = _write_now(self.ctx, self.job(hold))
        self.outcome = out
        return out.reservation_ids if isinstance(out, Written) else []

    def decide_hold(self, attempt: int) -> OrderHold:
        """One decision on a fresh snapshot, as allocation.service.allocate makes it."""
        p, ctx, req = self.p, self.ctx, self.req
        skus, _, _ = unique_skus(p.order.lines)
        atp = self.atp(skus)
        decision, _ = decide(p.order, p.network, atp, req.policy, cost=ctx.cost,
                             capacity=self.capacity_left(), zone_matrix=ctx.zones(),
                             opportunity=ctx.opportunity(req.policy), now=utcnow())
        decision = replace(decision, attempts=attempt)
        return OrderHold(p.order, decision, tuple(reserve_items(decision)))


def _answer(ctx: AllocationContext, out: Written | Replayed) -> dict[str, Any]:
    if isinstance(out, Replayed):
        return {**out.response, "replayed": True}
    if ctx.pricing is not None:
        ctx.pricing.order_seen()  # a due price refresh starts on its own thread
    return {**out.response, "replayed": False}


def _exists(req: AllocationRequest) -> OrderExists:
    return OrderExists(f"order {req.order_id!r} was allocated already; cancel or use a new id")


def _write_now(ctx: AllocationContext, job: OrderJob) -> Written | Replayed:
    """Write one order: through the batch writer, or in a transaction of its own."""
    if ctx.writer is not None:
        return ctx.writer.submit(job).result()
    (out,) = ctx.db.run_raw(lambda cur: write_orders(cur, [job]), what="allocation")
    if isinstance(out, BaseException):
        raise out
    return out


def _allocate(ctx: AllocationContext, req: AllocationRequest,
              header_key: str | None) -> dict[str, Any]:
    """Decide on a snapshot, write; decide again only when the order lost its race."""
    p = _prepare(ctx, req, header_key)
    stored = _stored_answer(ctx, p)
    if stored is not None:
        return stored
    led = ServiceLedger(ctx, p, req)
    try:
        allocate(p.order, p.network, led, req.policy, cost=ctx.cost, zone_matrix=ctx.zones(),
                 opportunity=ctx.opportunity(req.policy), now=utcnow(),
                 max_attempts=RACE_ATTEMPTS)
    except DuplicateOrder:
        raise _exists(req) from None
    assert led.outcome is not None
    return _answer(ctx, led.outcome)


async def allocate_async(ctx: AllocationContext, req: AllocationRequest,
                         header_key: str | None = None) -> dict[str, Any]:
    """`allocate_order` for the event loop: on SQLite the snapshot read and the decision run
    on the loop and the write is awaited (no thread-pool hop); elsewhere the thread pool."""
    if req.dry_run or ctx.writer is None or not ctx.db.sqlite:
        return await to_thread.run_sync(allocate_order, ctx.db, ctx, req, header_key)
    p = _prepare(ctx, req, header_key)
    stored = _stored_answer(ctx, p)
    if stored is not None:
        return stored
    led = ServiceLedger(ctx, p, req)
    last: InsufficientStock | None = None
    # allocate()'s loop, with the write awaited instead of waited for.
    for attempt in range(1, RACE_ATTEMPTS + 1):
        try:
            out = await asyncio.wrap_future(ctx.writer.submit(led.job(led.decide_hold(attempt))))
            return _answer(ctx, out)
        except InsufficientStock as exc:
            last = exc
        except DuplicateOrder:
            raise _exists(req) from None
    assert last is not None
    raise last


def _quote(db: Database, ctx: AllocationContext, req: AllocationRequest) -> dict[str, Any]:
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


def allocate_order(db: Database, ctx: AllocationContext, req: AllocationRequest,
                   header_key: str | None = None) -> dict[str, Any]:
    """Quote (dry run) or source, reserve and record an order; idempotent by key.

    The decision runs on a read snapshot, outside any lock; the batch writer then holds the
    stock with guarded updates and writes the order with the others waiting (one
    transaction). An order that lost its race is decided again on fresh stock.
    """
    if req.dry_run:
        return _quote(db, ctx, req)
    return _allocate(ctx, req, header_key)
