"""The service's cached network: reloaded after its TTL, the same object while unchanged."""

from __future__ import annotations

from sqlalchemy import update

from data.db import Database
from data.models import Node
from fulfilment.allocations import AllocationContext
from tests.factories import seed_tiny


def test_an_unchanged_network_keeps_its_object_and_a_change_is_seen(database: Database) -> None:
    seed_tiny(database, {("ST-0001", "SKU-A"): 10})
    ctx = AllocationContext(database, ttl_seconds=0.0, group_commit=False)
    first, _ = ctx.network()
    again, _ = ctx.network()  # reloaded (ttl 0) but equal: decide()'s caches stay warm
    assert again is first
    with database.transaction() as s:
        s.execute(update(Node).where(Node.code == "ST-0001").values(pick_capacity_per_day=7))
    changed, _ = ctx.network()
    assert changed is not first
    net, cap, ids, rows = ctx.state()
    assert net is changed and int(cap[changed.index["ST-0001"]]) == 7
    assert all(rows[int(i)] == k for k, i in enumerate(ids))
