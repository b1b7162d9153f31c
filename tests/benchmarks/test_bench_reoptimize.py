"""Benchmark: backlog re-optimisation of 10,000 unpicked orders on a 100-node network.

Run: .venv/bin/pytest tests/benchmarks/test_bench_reoptimize.py --benchmark-only -s
"""

from __future__ import annotations

import time
from typing import Any

from allocation.reoptimize import ReoptParams, apply_moves_memory, reoptimize
from simulations.bench.backlog import BacklogParams, synth_backlog


def test_reoptimize_10k_backlog(benchmark: Any) -> None:
    """Plan time, moves and saving of one pass; every move then applies to the ledger."""
    b = synth_backlog(BacklogParams(seed=11, orders=10_000, nodes=100))
    free = b.ledger.atp_all()
    params = ReoptParams(threshold=0.5, time_limit=120)
    report = benchmark.pedantic(reoptimize, args=(b.network, b.sku_codes, free, b.orders,
                                                  b.cost), kwargs={"params": params},
                                rounds=1, iterations=1)
    applied = apply_moves_memory(b.ledger, report.moves, b.reservations)
    before = sum(m.cost_before for m in report.moves)
    benchmark.extra_info.update(report.summary(), applied=applied)
    print(f"\nreoptimize: {report.orders} orders in {report.seconds:.2f} s, "
          f"{len(report.moves)} moves, saving {report.saving:.2f} "
          f"({100 * report.saving / max(before, 1e-9):.1f}% of the moved orders' cost)")
    assert applied == len(report.moves) and report.saving > 0 and not report.timed_out


def _write_backlog(db: Any, b: Any, picked_every: int) -> set[int]:
    """Nodes, SKUs, stock and the sourced orders into the database; ids of lines marked picked."""
    from data import ledger
    from data.models import Node, NodeKind, Order, OrderLine, Sku

    net = b.network
    with db.transaction() as s:
        s.add_all([Node(code=c, name=c, kind=NodeKind.store if st else NodeKind.dc,
                        zip="00000", lat=float(la), lon=float(lo),
                        ship_from_store=bool(sfs), click_and_collect=bool(st))
                   for c, st, la, lo, sfs in zip(net.codes, net.is_store, net.lat, net.lon,
                                                 net.ship_from_store, strict=True)])
        s.add_all([Sku(code=k, name=k, category="bench", weight_lb=1.0, unit_price=10.0,
                       unit_cost=6.0) for k in b.sku_codes])
    on_hand = b.ledger.on_hand  # includes the DC receipts that arrived after sourcing
    with db.transaction() as s:
        keys = ledger.resolve(s, [(net.codes[i], b.sku_codes[j])
                                  for i, j in zip(*on_hand.nonzero(), strict=True)])
        for (n, k), key in keys.items():
            ledger.receive(s, key, int(on_hand[net.index[n], b.sku_codes.index(k)]))
    picked: set[int] = set()
    node_id: dict[str, int] = {}
    for start in range(0, len(b.orders), 1000):
        with db.transaction() as s:
            if not node_id:
                from sqlalchemy import select
                node_id = dict(s.execute(select(Node.code, Node.id)).all())
            sku_id = {k.sku: k.sku_id for k in ledger.resolve(
                s, [(net.codes[0], c) for c in b.sku_codes]).values()}
            for k, bo in enumerate(b.orders[start:start + 1000], start):
                o = bo.order
                row = Order(external_id=o.id, method=o.method, ship_lat=o.lat, ship_lon=o.lon,
                            pickup_node_id=node_id.get(o.pickup_node or ""))
                s.add(row)
                s.flush()
                pick = k % picked_every == 0
                lines = [OrderLine(order_id=row.id, line_no=n + 1, sku_id=sku_id[ln.sku],
                                   qty=ln.qty, state="picked" if pick else "allocated")
                         for n, ln in enumerate(o.lines)]
                s.add_all(lines)
                s.flush()
                items, refs = [], []
                for ln, h, lrow in zip(o.lines, bo.held, lines, strict=True):
                    pair = ledger.resolve(s, [(n, ln.sku) for n, _ in h])
                    for n, q in h:
                        items.append((pair[(n, ln.sku)], q))
                        refs.append(lrow.id)
                ledger.reserve_many(s, items, reference=o.id, order_line_ids=refs)
                if pick:
                    picked.update(lrow.id for lrow in lines)
                if sum(sum(q for _, q in h) for h in bo.held) < sum(ln.qty for ln in o.lines):
                    for lrow, h in zip(lines, bo.held, strict=True):
                        if sum(q for _, q in h) < lrow.qty and lrow.state == "allocated":
                            lrow.state = "partially_allocated"
    return picked


def test_reoptimize_10k_backlog_on_the_database(benchmark: Any, sqlite_db: Any) -> None:
    """10,000 orders (every 20th picked) on 100 nodes in SQLite: plan, apply, invariants."""
    from sqlalchemy import select

    from data.models import Reservation, ReservationStatus
    from fulfilment.allocations import AllocationContext
    from fulfilment.reoptimize import reoptimize_backlog
    from tests.data.test_ledger_properties import check_invariants

    b = synth_backlog(BacklogParams(seed=11, orders=10_000, nodes=100))
    t0 = time.perf_counter()
    picked = _write_backlog(sqlite_db, b, picked_every=20)
    seed_s = time.perf_counter() - t0

    def held_picked() -> list[tuple[int, int, int, int]]:
        with sqlite_db.read_session() as s:
            return sorted(s.execute(
                select(Reservation.order_line_id, Reservation.node_id, Reservation.qty,
                       Reservation.id)
                .where(Reservation.order_line_id.in_(sorted(picked)),
                       Reservation.status == ReservationStatus.open)).all())

    before = held_picked()
    ctx = AllocationContext(sqlite_db)
    report, done = benchmark.pedantic(
        reoptimize_backlog, args=(sqlite_db, ctx, ReoptParams(threshold=0.5, time_limit=120)),
        rounds=1, iterations=1)
    total_s = benchmark.stats.stats.max
    check_invariants(sqlite_db)
    assert held_picked() == before  # no picked line moved
    benchmark.extra_info.update(report.summary(), applied=done.applied, skipped=done.skipped,
                                seed_seconds=seed_s, total_seconds=total_s)
    print(f"\nreoptimize on SQLite: seeded in {seed_s:.1f} s; backlog {report.orders} orders "
          f"planned in {report.seconds:.2f} s, {len(report.moves)} moves, {done.applied} "
          f"applied, {done.skipped} skipped, saving {done.saving:.2f}; plan + apply "
          f"{total_s:.2f} s")
    assert done.applied == len(report.moves) > 0 and done.saving == report.saving
