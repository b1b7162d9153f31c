"""Two uvicorn workers on one PostgreSQL ledger under concurrent load: nothing oversold."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import func, select

from data import ledger
from data.db import Database
from data.models import Reservation, ReservationStatus, StockPosition
from tests.benchmarks.loadgen import running_server
from tests.data.test_ledger_properties import check_invariants
from tests.factories import seed_tiny

STOCK = {("ST-0001", "SKU-B"): 7, ("DC-DAL", "SKU-B"): 9, ("ST-0002", "SKU-B"): 5}
BUYERS = 120


async def _buy(base: str) -> list[int]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        async def one(i: int) -> int:
            r = await client.post("/v1/allocations", json={
                "order_id": f"mw-{i}", "zip": "72756", "lines": [{"sku": "SKU-B", "qty": 1}]})
            return r.status_code
        return await asyncio.gather(*(one(i) for i in range(BUYERS)))


@pytest.mark.postgres
def test_two_workers_never_oversell(pg_db: Database) -> None:
    seed_tiny(pg_db, STOCK)
    with running_server(pg_db.url, workers=2, env={"OMNI_AUTH_REQUIRED": "false",
                                                   "OMNI_SWEEP_INTERVAL_SECONDS": "0"}) as base:
        codes = asyncio.run(_buy(base))
    assert set(codes) == {200}, codes
    with pg_db.session() as s:
        reserved = s.scalar(select(func.sum(Reservation.qty)).where(
            Reservation.status == ReservationStatus.open))
        over = s.scalar(select(func.count()).select_from(StockPosition).where(
            StockPosition.reserved > StockPosition.on_hand - StockPosition.safety_stock))
        keys = ledger.resolve(s, list(STOCK))
        left = sum(ledger.position(s, k).on_hand - ledger.position(s, k).reserved
                   for k in keys.values())
    # ST-0002 does not ship from store: only the other 16 units can go to homes.
    assert reserved == 16 and over == 0 and left == 5
    check_invariants(pg_db)
