"""Change feed (issue 18): latency from a change to its webhook, and what the outbox costs.

    OMNI_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
      .venv/bin/pytest -s tests/benchmarks/test_bench_outbox.py --benchmark-only

1. Latency: POS receipts at 300 changes/s (open loop, 30 POSTs/s of 10 feed events at
   distinct positions; one feed event = one position change) against the demo network; a
   receiver on loopback subscribed to availability.changed. Latency = receipt time - the
   event's `time` (the clock read by the trigger inside the changing transaction, so it
   includes the commit). The service's own relay delivers (one per worker; PostgreSQL: two).
2. Cost: allocations at 300/s with the outbox on (triggers, sequencer and a webhook
   subscriber of every event) and off (`omni outbox off`: no triggers), runs interleaved
   on/off (REPEATS each, network restocked and the relay caught up before each clock),
   pooled client p99 and the server's own p99.

Reported, not asserted (the generator, the server, the relay, the receiver and the
database share two cores); only completeness is asserted (every change delivered).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from data import outbox
from data.db import Database
from tests.api.webhook_receiver import receiver
from tests.benchmarks.loadgen import LoadResult, ServerLog, open_loop, pooled, running_server
from tests.benchmarks.test_bench_allocation_api import order_maker
from tests.benchmarks.test_bench_service_load import (  # noqa: F401  (a fixture)
    SKUS,
    Restock,
    _seed,
    _tx_zips,
    demo_sqlite_url,
)

RATE = 300
SECONDS = 8
REPEATS = 3
ENV = {"OMNI_AUTH_REQUIRED": "false", "OMNI_RELAY": "true", "OMNI_RELAY_POLL_SECONDS": "0.02"}


def _positions(url: str) -> list[tuple[str, str]]:
    db = Database.from_url(url)
    try:
        return [(n, k) for n, k in db.read_rows(
            "SELECT n.code, k.code FROM stock_positions p JOIN nodes n ON n.id = p.node_id "
            "JOIN skus k ON k.id = p.sku_id ORDER BY n.code, k.code LIMIT 5000")]
    finally:
        db.dispose()


BATCH = 10  # feed events per POST, as a store system sends them (the rate counts changes)


def receipt_maker(pairs: list[tuple[str, str]], tag: str, seed: int):  # type: ignore[no-untyped-def]
    """Batches of BATCH POS receipts of one unit at distinct random positions (each event
    one change)."""
    rng = np.random.default_rng(seed)

    def make(i: int) -> tuple[str, str, Any]:
        picks = rng.choice(len(pairs), size=BATCH, replace=False)
        return "POST", "/v1/inventory/events", {"events": [
            {"event_id": f"{tag}-{i}-{j}", "kind": "receipt", "node": pairs[k][0],
             "sku": pairs[k][1], "qty": 1} for j, k in enumerate(picks)]}
    return make


def caught_up(base: str, sub_id: int, seconds: float = 120) -> None:
    """Wait until the subscription's cursor stands at the head."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        st = httpx.get(f"{base}/v1/events/status").json()
        sub = httpx.get(f"{base}/v1/webhooks/{sub_id}").json()
        if not st["pending"] and sub["delivery"]["cursor"] == st["head"]:
            return
        time.sleep(0.1)
    raise AssertionError("the relay did not catch up")


def _when(ts: str) -> float:
    return dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def latency(url: str, workers: int, label: str) -> list[str]:
    """Change-to-webhook latency at RATE changes/s; report lines."""
    pairs = _positions(url)
    with receiver() as (hook, rec), running_server(url, workers, env=ENV) as base:
        sub = httpx.post(f"{base}/v1/webhooks", json={
            "url": hook, "event_types": ["availability.changed"]}).json()
        open_loop(base, 5, 2, receipt_maker(pairs, f"{label}-warm", 0))
        caught_up(base, sub["id"])
        with rec.lock:
            rec.items.clear()
        load = open_loop(base, RATE / BATCH, SECONDS, receipt_maker(pairs, f"{label}-run", 1))
        caught_up(base, sub["id"])
        with rec.lock:
            items = list(rec.items)
    lat = np.array([1000 * (t - _when(json.loads(body)["time"])) for _, body, t in items])
    assert len(items) >= BATCH * load.ok  # every accepted receipt delivered (at least once)
    return [f"{label}: {BATCH * load.ok} receipts at {BATCH * load.achieved_rps:.0f}/s "
            f"({BATCH} per POST) -> {len(items)} "
            f"webhooks; change-to-receipt p50 {np.percentile(lat, 50):.1f} ms, p99 "
            f"{np.percentile(lat, 99):.1f} ms, max {lat.max():.1f} ms; receipt POST p99 "
            f"{load.p99_ms:.1f} ms"]


def cost(url: str, workers: int, label: str) -> list[str]:
    """Allocation latency with the outbox on versus off, interleaved; report lines."""
    zips = _tx_zips()
    log_path = tempfile.mktemp(suffix=".log")
    log = ServerLog(log_path)
    db = Database.from_url(url)
    runs: dict[str, list[LoadResult]] = {"on": [], "off": []}
    try:
        with receiver() as (hook, _rec), running_server(url, workers, env=ENV,
                                                         log_path=log_path) as base:
            sub = httpx.post(f"{base}/v1/webhooks", json={"url": hook}).json()
            open_loop(base, 50, 4, order_maker(0, SKUS, zips, f"{label}-warm"))
            log.times_ms("")
            restock = Restock(url)
            for k in range(REPEATS):
                for mode in ("on", "off"):
                    restock()
                    if mode == "on":
                        outbox.enable(db)
                        caught_up(base, sub["id"])  # the snapshot is delivered off the clock
                    else:
                        outbox.disable(db)
                    time.sleep(0.5)
                    runs[mode].append(log.annotate(open_loop(base, RATE, SECONDS, order_maker(
                        10 * k + (mode == "on"), SKUS, zips, f"{label}-{mode}-{k}")),
                        "/v1/allocations"))
            outbox.enable(db)
    finally:
        db.dispose()
        Path(log_path).unlink(missing_ok=True)
    out = []
    for mode in ("off", "on"):
        r = pooled(runs[mode])
        out.append(f"{label} allocations {RATE}/s outbox {mode}: {r.row()}")
    on, off = pooled(runs["on"]), pooled(runs["off"])
    out.append(f"{label}: p99 on/off = {on.p99_ms / off.p99_ms:.2f}, server p99 on/off = "
               f"{on.server_p99_ms / off.server_p99_ms:.2f}")
    return out


def _report(benchmark: Any, lines: list[str]) -> None:
    for i, line in enumerate(lines):
        print(line)
        benchmark.extra_info[str(i)] = line


def test_outbox_sqlite_one_worker(benchmark: Any, demo_sqlite_url: str) -> None:  # noqa: F811
    """SQLite, one worker: latency, then the outbox's cost."""
    lines: list[str] = []
    benchmark.pedantic(lambda: lines.extend(
        latency(demo_sqlite_url, 1, "sqlite") + cost(demo_sqlite_url, 1, "sqlite")),
        rounds=1, iterations=1)
    _report(benchmark, lines)


@pytest.mark.postgres
def test_outbox_postgres_two_workers(benchmark: Any, pg_db: Database) -> None:
    """PostgreSQL, two workers (two relays): latency, then the outbox's cost."""
    _seed(pg_db)
    lines: list[str] = []
    benchmark.pedantic(lambda: lines.extend(
        latency(pg_db.url, 2, "postgres") + cost(pg_db.url, 2, "postgres")),
        rounds=1, iterations=1)
    _report(benchmark, lines)
