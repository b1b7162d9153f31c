"""The raw read path: one statement per round trip, and a dead pooled connection survived."""

from __future__ import annotations

import pytest

from data.db import Database


@pytest.mark.postgres
def test_reads_leave_no_transaction_open(pg_db: Database) -> None:
    # Autocommit: no BEGIN before the read and nothing to roll back after it.
    pid = pg_db.read_rows("SELECT pg_backend_pid()")[0][0]
    with pg_db.engine.connect() as c:
        state = c.exec_driver_sql(
            f"SELECT state FROM pg_stat_activity WHERE pid = {int(pid)}").scalar()
    assert state == "idle"


@pytest.mark.postgres
def test_a_read_survives_its_pooled_connection_dying(pg_db: Database) -> None:
    # The database server restarted or dropped the idle connection: the read that finds it
    # dead drops it and answers on a fresh one; nothing reaches the caller.
    pid = pg_db.read_rows("SELECT pg_backend_pid()")[0][0]
    assert pg_db.raw_engine is not None and pg_db.raw_engine.pool.checkedin() == 1
    with pg_db.engine.connect() as c:
        assert c.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar()
    assert pg_db.read_rows("SELECT 41 + 1") == [(42,)]
    assert pg_db.read_rows("SELECT pg_backend_pid()")[0][0] != pid


def test_a_bad_statement_is_not_retried(database: Database) -> None:
    # Only a dead connection is tried again: an error of the statement itself is raised.
    calls = 0

    def bad(cur):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return cur.execute("SELECT no_such_column FROM nodes").fetchall()

    with pytest.raises(Exception, match="no_such_column"):
        database.read(bad)
    assert calls == 1
    assert database.read_rows("SELECT 1") == [(1,)]  # the pool is still good
