"""The clock: days with intraday order times, over one policy and one demand stream.

Online orders go through `allocation.service.allocate` on a `MemoryLedger` (the service's
own decision and commit code). Within a day: replenishment and transfers arrive, stores
and DCs review stock, then orders and walk-in slots interleave by time, and at the end of
the day parcels ship and pickups are collected or expire.

Stock accounting (checked by the conservation test): units enter only as vendor receipts
and leave only as shipped parcels, walk-in sales and collected pickups. Units moving
between nodes (DC -> store replenishment, transfers to a pickup store) are `in_transit`;
reserved-but-not-shipped and held-for-pickup units stay in the node's on_hand.

The MemoryLedger has no operations for walk-in sales, holds or moves between nodes yet,
so `_Stock` below changes its arrays directly; it is the one place to switch when the
ledger grows them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from allocation.costs import OpportunityCosts
from allocation.decision import Decision
from allocation.ledger import Excluding, MemoryLedger
from allocation.network import Order, OrderLine
from allocation.policies import Policy, get_policy
from allocation.service import allocate, reserve_items
from simulations.demand import Demand, draw_walk_ins
from simulations.records import (
    DayRecord,
    OrderRecord,
    ParcelRecord,
    PickupRecord,
    ReplenishmentRecord,
    WalkInRecord,
)
from simulations.world import World

__all__ = ["Plugin", "Run", "run_policy"]

Progress = Callable[[int, int], None]


class Plugin:
    """Extension points of a run; every hook does nothing by default."""

    def on_start(self, run: Run) -> None:
        """Called once before the first day."""

    def on_day_start(self, run: Run, day: int) -> None:
        """Called after arrivals and reviews, before the day's orders."""

    def opportunity(self, run: Run, order: Order) -> OpportunityCosts | None:
        """Stock prices for this order's decision (None: no opinion)."""
        return None

    def on_decision(self, run: Run, order: Order, decision: Decision) -> None:
        """Called after every committed decision (re-routes included)."""

    def on_day_end(self, run: Run, day: int) -> None:
        """Called after the day's shipments, pickups and records."""




class Run:
    """The state of one (scenario, seed, policy) simulation and the records it emits."""

    def __init__(self, world: World, demand: Demand, policy: str | Policy,
                 plugins: Sequence[Plugin] = ()) -> None:
        self.world, self.demand = world, demand
        self.policy = get_policy(policy) if isinstance(policy, str) else policy
        self.plugins = list(plugins)
        w = world
        self.ledger = MemoryLedger(w.network.codes, w.sku_codes, w.on_hand0, w.safety,
                                   pick_capacity=w.pick_cap[0])
        shape = w.on_hand0.shape
        self.held = np.zeros(shape, np.int64)  # at a pickup store, waiting for the customer
        self.in_transit = np.zeros(shape, np.int64)  # by destination
        self.on_order = np.zeros(shape, np.int64)  # vendor and DC orders not yet arrived
        self.online_taken = np.zeros(shape, np.int64)  # store units online took since receipt
        self.blamed = np.zeros(shape, np.int64)  # of those, already blamed for a lost sale
        self.picked = np.zeros(shape[0], np.int64)
        self.moved_in = np.zeros(shape, np.int64)  # replenishment received, by node
        self.moved_out = np.zeros(shape, np.int64)  # replenishment a DC sent to its stores
        self.on_hand_days: list[int] = []  # network stock at each day's end (for turns)
        # Per-SKU flows across the network's boundary (the conservation test's terms).
        self.flows = {k: np.zeros(shape[1], np.int64)
                      for k in ("receipts", "shipped", "sold", "collected")}
        self.starts: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        self.ends: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
        self.cells = np.nonzero(w.ranged)
        self.orders: list[OrderRecord] = []
        self.parcels: list[ParcelRecord] = []
        self.walk_ins: list[WalkInRecord] = []
        self.pickups: list[PickupRecord] = []
        self.replenishments: list[ReplenishmentRecord] = []
        self.days: list[DayRecord] = []
        self.decide_seconds = 0.0
        self._weights = w.sku_weight
        self._cutoff = np.where(w.is_store, w.cost.timing.cutoff_hour_store,
                                w.cost.timing.cutoff_hour_dc)

    # ------------------------------------------------------------------ stock moves

    def _shelf(self, rows: Any, cols: Any) -> np.ndarray:
        """Units a walk-in shopper (or a replenishment picker) can take."""
        led = self.ledger
        return led.on_hand[rows, cols] - led.reserved[rows, cols] - self.held[rows, cols]

    def _hold(self, node: int, cols: np.ndarray, qty: np.ndarray, sign: int) -> None:
        """Hold (sign +1) or un-hold units for a pickup; held units are not ATP."""
        self.held[node, cols] += sign * qty
        self.ledger.safety[node, cols] += sign * qty

    def _receive(self, node: int, cols: np.ndarray, qty: np.ndarray) -> None:
        self.ledger.on_hand[node, cols] += qty
        self.on_order[node, cols] -= qty
        self.moved_in[node, cols] += qty
        if self.world.is_store[node]:
            self.online_taken[node, cols] = 0
            self.blamed[node, cols] = 0

    # ------------------------------------------------------------------ the clock

    def run(self, progress: Callable[[int], None] | None = None) -> Run:
        """Simulate every day of the horizon."""
        for p in self.plugins:
            p.on_start(self)
        for day in range(self.world.horizon):
            self.step(day)
            if progress is not None:
                progress(day + 1)
        return self

    def step(self, day: int) -> None:
        """One day: arrivals, reviews, orders and walk-ins by time, shipments, records."""
        w = self.world
        self.ledger.pick_left[:] = w.pick_cap[day]
        self.picked[:] = 0
        for ev in self.starts.pop(day, []):
            self._arrive(day, *ev)
        if day % w.scenario.replenishment.review_days == 0:
            self._review(day)
        for ev in self.starts.pop(day, []):  # zero lead times arrive the same day
            self._arrive(day, *ev)
        for p in self.plugins:
            p.on_day_start(self, day)
        orders = self.demand.days[day]
        slots = w.scenario.demand.walk_in_slots
        walk = draw_walk_ins(w, self.demand, day, self.cells, slots)
        slot_hours = 9.0 + 12.0 * (np.arange(slots) + 0.5) / slots  # stores open 9 to 21
        lost = np.zeros(len(self.cells[0]), np.int64)
        blamed = np.zeros_like(lost)
        sold = np.zeros_like(lost)
        k = 0
        for s, h in enumerate(slot_hours):
            while k < len(orders.hour) and orders.hour[k] < h:
                self._order(day, orders, k)
                k += 1
            self._walk_in_slot(walk[s], sold, lost, blamed)
        while k < len(orders.hour):
            self._order(day, orders, k)
            k += 1
        for ev in self.ends.pop(day, []):
            self._end_event(day, *ev)
        self._day_records(day, walk.sum(axis=0), sold, lost, blamed)
        for p in self.plugins:
            p.on_day_end(self, day)

    # ------------------------------------------------------------------ walk-ins

    def _walk_in_slot(self, want: np.ndarray, sold: np.ndarray, lost: np.ndarray,
                      blamed: np.ndarray) -> None:
        r, c = self.cells
        take = np.minimum(want, np.maximum(self._shelf(r, c), 0))
        self.ledger.on_hand[r, c] -= take
        miss = want - take
        # A lost sale is blamed on online picks from that shelf since its last receipt.
        blame = np.minimum(miss, self.online_taken[r, c] - self.blamed[r, c])
        self.blamed[r, c] += blame
        sold += take
        lost += miss
        blamed += blame
        self.flows["sold"] += np.bincount(c, weights=take, minlength=len(self.flows["sold"])
                                          ).astype(np.int64)

    # ------------------------------------------------------------------ replenishment

    def _review(self, day: int) -> None:
        """Order up to S: stores from their DC (what it can spare), DCs from the vendor."""
        w, led = self.world, self.ledger
        rep = w.scenario.replenishment
        position = led.on_hand + self.on_order - led.reserved - self.held
        need = np.maximum(w.order_up_to - position, 0)
        need[~w.ranged & w.is_store[:, None]] = 0
        codes = w.network.codes
        for dc in w.dcs:
            stores = np.flatnonzero(w.supplier[day] == dc)
            if not len(stores):
                continue
            spare = np.maximum(self._shelf(dc, slice(None)), 0)
            want = need[stores]
            # Stores in node order share what the DC can spare, SKU by SKU.
            before = np.cumsum(want, axis=0) - want
            give = np.clip(spare[None, :] - before, 0, want)
            for k, store in enumerate(stores):
                cols = np.flatnonzero(give[k])
                if not len(cols):
                    continue
                q = give[k, cols]
                led.on_hand[dc, cols] -= q
                self.moved_out[dc, cols] += q
                self.in_transit[store, cols] += q
                self.on_order[store, cols] += q
                arrive = day + rep.dc_lead_days
                self.starts[arrive].append(("replenish", int(store), cols, q, int(dc)))
                self.replenishments.append(ReplenishmentRecord(
                    self.policy.name, self.demand.seed, day, arrive, codes[dc], codes[store],
                    len(cols), int(q.sum())))
        for dc in w.dcs:
            if not w.dc_open[day, dc]:
                continue
            position = led.on_hand[dc] + self.on_order[dc] - led.reserved[dc] - self.held[dc]
            cols = np.flatnonzero(w.order_up_to[dc] > position)
            if not len(cols):
                continue
            q = (w.order_up_to[dc] - position)[cols]
            self.on_order[dc, cols] += q
            arrive = day + rep.vendor_lead_days
            self.starts[arrive].append(("replenish", int(dc), cols, q, -1))
            self.replenishments.append(ReplenishmentRecord(
                self.policy.name, self.demand.seed, day, arrive, "vendor", codes[dc], len(cols),
                int(q.sum())))

    def _arrive(self, day: int, kind: str, node: int, cols: np.ndarray, qty: np.ndarray,
                source: int) -> None:
        if kind == "replenish":
            if source < 0:
                np.add.at(self.flows["receipts"], cols, qty)
            else:
                self.in_transit[node, cols] -= qty
            self._receive(node, cols, qty)
        else:  # a transfer for a pickup: on the pickup store's shelf, held for the customer
            self.in_transit[node, cols] -= qty
            self.ledger.on_hand[node, cols] += qty
            self._hold(node, cols, qty, +1)

    # ------------------------------------------------------------------ online orders

    def _order(self, day: int, orders: Any, k: int) -> None:
        w = self.world
        loc = int(orders.location[k])
        hour = float(orders.hour[k])
        pickup = bool(orders.pickup[k])
        placed = dt.datetime.combine(w.start + dt.timedelta(days=day), dt.time()) \
            + dt.timedelta(hours=hour)
        oid = f"s{self.demand.seed}-d{day}-{k}"
        order = Order(oid, tuple(OrderLine(w.sku_codes[j], 1) for j in orders.skus[k]),
                      lat=float(w.loc_lat[loc]), lon=float(w.loc_lon[loc]),
                      method="pickup" if pickup else "ship",
                      pickup_node=w.network.codes[int(w.loc_pickup[loc])] if pickup else None,
                      zip3=int(w.loc_zip3[loc]), placed_at=placed)
        ops = w.scenario.stores
        u_reject = orders.u_reject[k]
        n_draw = 0
        excluded: list[int] = []
        accepted: list[tuple[int, Any, list[tuple[int, int, int]]]] = []
        promise: dt.date | None = None
        unfilled, unfilled_cost, reroutes = 0, 0.0, 0
        current: Order | None = order
        while current is not None:
            ledger = self.ledger if not excluded else Excluding(self.ledger, excluded)
            opp = next((o for p in self.plugins if (o := p.opportunity(self, current))
                        is not None), None)
            dec = allocate(current, w.network, ledger, self.policy, cost=w.cost,
                           zone_matrix=w.zone_matrix, sku_weights=self._weights,
                           opportunity=opp, now=placed, explain=False)
            for p in self.plugins:
                p.on_decision(self, current, dec)
            if promise is None:
                promise = dec.promise_date
            unfilled += dec.unfilled_units
            unfilled_cost += dec.cost.unfilled
            by_node: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
            for item, rid in zip(reserve_items(dec), dec.reservations, strict=True):
                by_node[item.node].append((w.sku_index[item.sku], item.qty, rid))
            rejected: list[tuple[int, int]] = []
            for parcel in dec.parcels:
                n = w.network.index[parcel.node]
                items = by_node[parcel.node]
                reject = False
                if w.is_store[n] and ops.rejection_probability > 0:
                    reject = u_reject[n_draw % len(u_reject)] < ops.rejection_probability
                    n_draw += 1
                self.parcels.append(ParcelRecord(
                    self.policy.name, self.demand.seed, oid, day, parcel.node, parcel.method,
                    parcel.units, parcel.cost.total, bool(reject)))
                if reject:
                    self.ledger.release([rid for _, _, rid in items])
                    rejected += [(j, q) for j, q, _ in items]
                    excluded.append(n)
                else:
                    accepted.append((n, parcel, items))
            current = None
            if rejected:
                if reroutes < ops.max_reroutes:
                    reroutes += 1
                    lines = tuple(OrderLine(w.sku_codes[j], q) for j, q in rejected)
                    current = Order(f"{oid}-r{reroutes}", lines, order.lat, order.lon,
                                    order.method, order.pickup_node, order.zip3,
                                    placed_at=placed)
                else:
                    lost = sum(q for _, q in rejected)
                    unfilled += lost
                    unfilled_cost += lost * w.cost.unfilled_per_unit
        self._fulfil(day, hour, oid, orders, k, order, accepted, promise, unfilled,
                     unfilled_cost, reroutes, loc)

    def _fulfil(self, day: int, hour: float, oid: str, orders: Any, k: int, order: Order,
                accepted: list[tuple[int, Any, list[tuple[int, int, int]]]],
                promise: dt.date | None, unfilled: int, unfilled_cost: float, reroutes: int,
                loc: int) -> None:
        """Schedule shipments, transfers and pickups of the accepted parcels; record."""
        w = self.world
        start = w.start
        ops = w.scenario.stores
        late = 1 if orders.u_late[k] < ops.late_probability else 0
        delivered = -1
        ship_cost = pick_cost = 0.0
        pickups: list[tuple[int, str, list[tuple[int, int, int]], int]] = []
        for n, parcel, items in accepted:
            units = sum(q for _, q, _ in items)
            self.picked[n] += units
            ship_cost += parcel.cost.parcels + parcel.cost.shipping
            pick_cost += parcel.cost.pick
            ready = (parcel.promise_date - start).days if parcel.promise_date else day
            ship_day = day + int(hour >= self._cutoff[n])
            rids = [rid for _, _, rid in items]
            cols = np.array([j for j, _, _ in items], np.int64)
            qty = np.array([q for _, q, _ in items], np.int64)
            if parcel.method in ("ship_from_store", "pickup_via_transfer") and w.is_store[n]:
                self.online_taken[n, cols] += qty
            if parcel.method.startswith("ship_"):
                self.ends[ship_day].append(("ship", n, rids, units, -1, cols, qty))
                delivered = max(delivered, ready + late)
            elif parcel.method == "pickup_via_transfer":
                store = w.network.index[str(order.pickup_node)]
                arrive = max(ready, ship_day + 1)
                self.ends[ship_day].append(("ship", n, rids, units, store, cols, qty))
                self.starts[arrive].append(("transfer", store, cols, qty, n))
                pickups.append((arrive, "transfer", items, store))
                delivered = max(delivered, arrive)
            else:  # pickup from the store's own shelf: stays reserved until collected
                pickups.append((ready, "shelf", items, n))
                delivered = max(delivered, ready)
        if pickups:
            ready_all = max(p[0] for p in pickups)
            no_show = orders.u_no_show[k] < ops.no_show_probability
            hold = ops.pickup_hold_days
            when = ready_all + hold if no_show or hold == 0 else \
                ready_all + int(orders.u_delay[k] * hold)
            outcome = "expired" if no_show or hold == 0 else "collected"
            for _, how, items, store in pickups:
                self.ends[when].append(("pickup", store, items, how, outcome, oid, ready_all))
        filled = sum(q for _, _, items in accepted for _, q, _ in items)
        promise_day = (promise - start).days if promise is not None else -1
        on_time = filled > 0 and promise_day >= 0 and delivered <= promise_day
        self.orders.append(OrderRecord(
            self.policy.name, self.demand.seed, oid, day, hour, order.method, loc,
            len(order.lines), filled, unfilled, len(accepted), reroutes, ship_cost, pick_cost,
            unfilled_cost, ship_cost + pick_cost + unfilled_cost, promise_day,
            delivered if filled else -1, bool(on_time)))

    def _end_event(self, day: int, kind: str, *args: Any) -> None:
        led = self.ledger
        if kind == "ship":
            _node, rids, _units, dest, cols, qty = args
            led.consume(rids)
            if dest < 0:
                np.add.at(self.flows["shipped"], cols, qty)
            else:
                self.in_transit[dest, cols] += qty
            return
        store, items, how, outcome, oid, ready = args
        cols = np.array([j for j, _, _ in items], np.int64)
        qty = np.array([q for _, q, _ in items], np.int64)
        rids = [rid for _, _, rid in items]
        if how == "shelf":
            if outcome == "collected":
                led.consume(rids)
            else:
                led.release(rids)
        else:
            self._hold(store, cols, qty, -1)
            if outcome == "collected":
                led.on_hand[store, cols] -= qty
        if outcome == "collected":
            np.add.at(self.flows["collected"], cols, qty)
        self.pickups.append(PickupRecord(self.policy.name, self.demand.seed, oid,
                                         self.world.network.codes[store], ready, day,
                                         int(qty.sum()), outcome))

    # ------------------------------------------------------------------ records

    def _day_records(self, day: int, demand: np.ndarray, sold: np.ndarray, lost: np.ndarray,
                     blamed: np.ndarray) -> None:
        w, led = self.world, self.ledger
        r, c = self.cells
        n = len(w.network)
        per = [np.bincount(r, weights=x, minlength=n).astype(np.int64)
               for x in (demand, sold, lost, blamed)]
        empty = np.bincount(r, weights=(self._shelf(r, c) <= 0), minlength=n).astype(np.int64)
        on_hand = led.on_hand.sum(axis=1)
        self.on_hand_days.append(int(on_hand.sum()))
        pol, seed, codes = self.policy.name, self.demand.seed, w.network.codes
        cap = w.pick_cap[day]
        for i in range(n):
            store = bool(w.is_store[i])
            if store:
                self.walk_ins.append(WalkInRecord(pol, seed, day, codes[i], int(per[0][i]),
                                                  int(per[1][i]), int(per[2][i]),
                                                  int(per[3][i])))
            self.days.append(DayRecord(
                pol, seed, day, codes[i], "store" if store else "dc", int(on_hand[i]),
                int(self.picked[i]), int(cap[i]) if store or cap[i] == 0 else -1,
                int(empty[i]) if store else 0))

    def stock_balance(self) -> dict[str, np.ndarray]:
        """Per-SKU totals: initial and final stock (on hand + in transit) and the flows."""
        w, led = self.world, self.ledger
        return {"initial": w.on_hand0.sum(axis=0),
                "final": led.on_hand.sum(axis=0) + self.in_transit.sum(axis=0),
                **{k: v.copy() for k, v in self.flows.items()}}


def run_policy(world: World, demand: Demand, policy: str | Policy,
               plugins: Sequence[Plugin] = (),
               progress: Callable[[int], None] | None = None) -> Run:
    """Simulate one policy over a demand stream; the Run holds the records and totals."""
    return Run(world, demand, policy, plugins).run(progress)
