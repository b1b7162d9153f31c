"""Group commit: every job's result or error reaches its caller; a failed job leaves no trace."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from data.db import Database, RawCursor
from data.group_commit import GroupCommitter
from data.models import Node
from tests.factories import seed_tiny


def _count(db: Database) -> int:
    with db.read_session() as s:
        return int(s.scalar(select(func.count()).select_from(Node)) or 0)


def _add_node(code: str, fail: bool = False):  # type: ignore[no-untyped-def]
    def job(cur: RawCursor) -> str:
        cur.execute("INSERT INTO nodes (code, name, kind, address, city, state, zip, lat, lon, "
                    "ship_from_store, click_and_collect, pick_cost_per_unit, active) "
                    "VALUES (?, ?, 'store', '', '', 'TX', '75201', 32.0, -96.0, ?, ?, 1.0, ?)",
                    [code, code, False, False, True])
        if fail:
            raise ValueError(f"{code} refused")
        return code
    return job


def test_jobs_commit_together_and_a_failure_rolls_back_only_itself(sqlite_db: Database) -> None:
    db = sqlite_db
    seed_tiny(db)
    gc = GroupCommitter(db)
    start = threading.Barrier(24)
    results: dict[int, object] = {}

    def worker(i: int) -> None:
        start.wait()
        try:
            results[i] = gc.run(_add_node(f"ST-G{i:03d}", fail=i % 5 == 0))
        except ValueError as exc:
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    gc.stop()
    failed = [i for i in range(24) if i % 5 == 0]
    assert all(isinstance(results[i], ValueError) for i in failed)
    assert all(results[i] == f"ST-G{i:03d}" for i in range(24) if i not in failed)
    assert _count(db) == 3 + 24 - len(failed)  # the tiny network's 3 nodes + the good jobs
    assert gc.jobs_done == 24 and 1 <= gc.batches <= 24
    with db.read_session() as s:
        codes = set(s.scalars(select(Node.code)))
    assert not any(f"ST-G{i:03d}" in codes for i in failed)


def test_a_constraint_error_fails_its_job_alone(sqlite_db: Database) -> None:
    db = sqlite_db
    seed_tiny(db)
    gc = GroupCommitter(db, max_batch=1)
    # A duplicate code breaks the unique index inside the job: that job fails alone.
    assert gc.run(_add_node("ST-X")) == "ST-X"
    with pytest.raises(db.integrity_errors):
        gc.run(_add_node("ST-X"))
    assert gc.run(_add_node("ST-Y")) == "ST-Y"
    gc.stop()
    assert _count(db) == 5


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="max_batch >= 1"):
        GroupCommitter(None, max_batch=0)  # type: ignore[arg-type]
