"""Batch commit: every job's outcome reaches its caller; a refused job leaves no trace."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import func, select

from data.db import Database, RawCursor
from data.group_commit import BatchCommitter
from data.models import Node
from tests.factories import seed_tiny


def _count(db: Database) -> int:
    with db.read_session() as s:
        return int(s.scalar(select(func.count()).select_from(Node)) or 0)


def _add_nodes(cur: RawCursor, codes: list[str]) -> list[Any]:
    """Insert the codes that do not end in '!' (one statement); refuse the others."""
    good = [c for c in codes if not c.endswith("!")]
    for c in good:
        cur.execute("INSERT INTO nodes (code, name, kind, address, city, state, zip, lat, lon, "
                    "ship_from_store, click_and_collect, pick_cost_per_unit, active) "
                    "VALUES (?, ?, 'store', '', '', 'TX', '75201', 32.0, -96.0, ?, ?, 1.0, ?)",
                    [c, c, False, False, True])
    return [ValueError(f"{c} refused") if c.endswith("!") else c for c in codes]


def test_jobs_commit_together_and_a_refused_job_gets_its_own_error(database: Database) -> None:
    db = database
    seed_tiny(db)
    bc: BatchCommitter[str] = BatchCommitter(db, _add_nodes)
    start = threading.Barrier(24)
    results: dict[int, object] = {}

    def worker(i: int) -> None:
        start.wait()
        code = f"ST-G{i:03d}" + ("!" if i % 5 == 0 else "")
        try:
            results[i] = bc.submit(code).result()
        except ValueError as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bc.stop()
    failed = [i for i in range(24) if i % 5 == 0]
    assert all(isinstance(results[i], ValueError) for i in failed)
    assert all(results[i] == f"ST-G{i:03d}" for i in range(24) if i not in failed)
    assert _count(db) == 3 + 24 - len(failed)  # the tiny network's 3 nodes + the good jobs
    assert bc.jobs_done == 24 and 1 <= bc.batches <= 24


def test_a_failed_batch_transaction_fails_every_job_and_writes_nothing(
        database: Database) -> None:
    db = database
    seed_tiny(db)
    bc: BatchCommitter[str] = BatchCommitter(db, _add_nodes, max_batch=8)
    assert bc.submit("ST-X").result() == "ST-X"
    # A duplicate code breaks the unique index: the batch's transaction rolls back.
    with pytest.raises(db.integrity_errors):
        bc.submit("ST-X").result()
    assert bc.submit("ST-Y").result() == "ST-Y"
    bc.stop()
    assert _count(db) == 5


def test_a_deadlocked_batch_runs_again(sqlite_db: Database) -> None:
    calls: list[int] = []

    class Deadlock(Exception):
        sqlstate = "40P01"

    def write(cur: RawCursor, jobs: list[int]) -> list[Any]:
        calls.append(len(jobs))
        if len(calls) == 1:
            raise Deadlock("deadlock detected")
        return [j * 2 for j in jobs]

    bc: BatchCommitter[int] = BatchCommitter(sqlite_db, write)
    assert bc.submit(21).result() == 42
    bc.stop()
    assert calls == [1, 1]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="max_batch >= 1"):
        BatchCommitter(None, _add_nodes, max_batch=0)  # type: ignore[arg-type]
