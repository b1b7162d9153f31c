"""Benchmark: backlog re-optimisation of 10,000 unpicked orders on a 100-node network.

Run: .venv/bin/pytest tests/benchmarks/test_bench_reoptimize.py --benchmark-only -s
"""

from __future__ import annotations

from typing import Any

from allocation.backlog_synth import BacklogParams, synth_backlog
from allocation.reoptimize import ReoptParams, apply_moves_memory, reoptimize


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
