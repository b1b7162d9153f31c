"""Engines and sessions for SQLite (WAL, one writer) and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
T = TypeVar("T")
# PostgreSQL SQLSTATEs after which the whole transaction may simply run again: it was
# rolled back as a deadlock victim or a serialization failure, and wrote nothing.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
TX_ATTEMPTS = 5
log = logging.getLogger("omni.data")


def is_transient(exc: BaseException) -> bool:
    """True for a deadlock or serialization failure (raw DB-API or wrapped by SQLAlchemy),
    or a pooled connection found dead (a restarted server): nothing was written."""
    if getattr(exc, "omni_stale_connection", False):
        return True
    for e in (exc, getattr(exc, "orig", None), exc.__cause__):
        if e is not None and getattr(e, "sqlstate", None) in TRANSIENT_SQLSTATES:
            return True
    return False


def retry_transient(fn: Callable[[], T], attempts: int = TX_ATTEMPTS, what: str = "transaction",
                    rng: random.Random | None = None) -> T:
    """Run `fn()` (one whole transaction) again after a deadlock or serialization failure.

    The failed attempt was rolled back by the database, so running it again gives the
    outcome one attempt would have had. Bounded: the last failure is raised. The pause
    before each new attempt is short and jittered so the two victims do not meet again.
    """
    if attempts < 1:
        raise ValueError(f"expected attempts >= 1, got {attempts}")
    rng = rng or random.Random()
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            log.warning("%s: %s, attempt %d of %d; running it again", what,
                        type(getattr(exc, "orig", exc)).__name__, attempt, attempts)
            time.sleep(rng.uniform(0.0, 0.004 * 2 ** attempt))
    raise AssertionError("unreachable")


def is_sqlite(url: str) -> bool:
    """True when the URL names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_engine(url: str, *, immediate: bool, echo: bool) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=8,
        max_overflow=8,
    )
    flags = {"manual_checkpoints": False}
    engine.omni_flags = flags  # type: ignore[attr-defined]

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if flags["manual_checkpoints"]:  # a Checkpointer thread does it off the commit path
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        # A writer takes the write lock up front: a deferred transaction that reads and
        # then writes would fail with SQLITE_BUSY instead of waiting its turn.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def make_engine(url: str, *, read_only: bool = False, echo: bool = False) -> Engine:
    """Create an engine; on SQLite write engines begin IMMEDIATE, read engines deferred."""
    if is_sqlite(url):
        return _sqlite_engine(url, immediate=not read_only, echo=echo)
    return create_engine(url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _pg_raw_read_engine(url: str, echo: bool) -> Engine:
    # The hot read paths (product pages, the allocation snapshot) run one or two statements
    # each: autocommit sends no BEGIN and leaves nothing to roll back when the connection
    # goes back to the pool, and there is no ping on checkout; a connection found dead is
    # dropped and the read tried once more (Database.read). One round trip per statement
    # instead of four.
    # pool_size near the thread pool's 40 workers: under load every thread reads once per
    # request, and an overflow connection closed on return costs a new connect (both
    # sides' CPU) the next time.
    return create_engine(url, echo=echo, isolation_level="AUTOCOMMIT", pool_pre_ping=False,
                         pool_reset_on_return=None, pool_size=24, max_overflow=8)


def _pg_raw_write_engine(url: str, echo: bool) -> Engine:
    # The batch writer's transactions: one thread per process, so a small pool; no ping on
    # checkout (a round trip per batch): a connection found dead fails its attempt, which
    # runs again on a fresh one (Database.run_raw).
    return create_engine(url, echo=echo, pool_pre_ping=False, pool_size=2, max_overflow=4)


def _broken(dbapi_conn: Any) -> bool:
    """True when a DB-API connection can no longer be used (psycopg: broken or closed)."""
    return bool(getattr(dbapi_conn, "broken", False) or getattr(dbapi_conn, "closed", False))


class RawCursor:
    """A DB-API cursor taking `?` placeholders on every backend, and times as stored."""

    def __init__(self, cur: Any, sqlite: bool) -> None:
        self.cur = cur
        self.sqlite = sqlite

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns the cursor (fetchone/fetchall/rowcount)."""
        self.cur.execute(sql if self.sqlite else sql.replace("?", "%s"), params)
        return self.cur

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""
        self.cur.executemany(sql if self.sqlite else sql.replace("?", "%s"), rows)

    def time(self, ts: dt.datetime) -> Any:
        """A timezone-aware UTC time as the DateTime column stores it on this backend."""
        # SQLAlchemy keeps SQLite times as naive UTC text; PostgreSQL takes the datetime.
        return ts.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else ts

    def day(self, day: dt.date) -> Any:
        """A date as the Date column stores it on this backend."""
        return day.isoformat() if self.sqlite else day

    def pipeline(self) -> AbstractContextManager[Any]:
        """Send the statements of the block without waiting for each one's answer
        (PostgreSQL pipeline mode: one round trip; errors raise at the end of the block).
        For statements whose results nobody reads; SQLite runs them as usual."""
        return nullcontext() if self.sqlite else self.cur.connection.pipeline()

    def json(self) -> str:
        """The placeholder of a JSON value (text cast to json on PostgreSQL)."""
        return "?" if self.sqlite else "CAST(? AS JSON)"


def _rollback(conn: Any, cur: Any, sqlite: bool) -> None:
    try:
        if sqlite:
            cur.execute("ROLLBACK")
        else:
            conn.rollback()
    except Exception:  # the error that got us here is the one to raise
        pass


class Checkpointer:
    """Checkpoints a SQLite WAL from a thread of its own, never from a committing writer.

    SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages and
    fsyncs the database file there: one order in a hundred waited tens of milliseconds.
    While this runs, write connections do not checkpoint; every `interval` seconds this
    thread runs a PASSIVE checkpoint (it waits for nobody; the fsync is its own).
    """

    def __init__(self, db: Database, interval: float = 0.5) -> None:
        if interval <= 0:
            raise ValueError(f"expected interval > 0, got {interval}")
        self.db = db
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0

    def start(self) -> None:
        """Turn automatic checkpoints off for new write connections and start the thread."""
        if self._thread is not None:
            return
        self.db.engine.omni_flags["manual_checkpoints"] = True  # type: ignore[attr-defined]
        self.db.engine.dispose()  # pooled connections reconnect with the pragma
        self._thread = threading.Thread(target=self._loop, name="wal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, checkpoint once more and give automatic checkpoints back."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=30)
        self._thread = None
        self.db.engine.omni_flags["manual_checkpoints"] = False  # type: ignore[attr-defined]
        self.checkpoint()
        self.db.engine.dispose()

    def checkpoint(self) -> None:
        """One PASSIVE checkpoint on a connection of the read engine."""
        with self.db.raw_read() as cur:
            cur.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        self.runs += 1

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
            except Exception:  # a busy or failed pass: the next one tries again
                logging.getLogger("omni.data").warning("WAL checkpoint failed", exc_info=True)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()


@dataclass
class Database:
    """A write engine and a read engine (the same one on PostgreSQL) with session factories."""

    url: str
    engine: Engine
    read_engine: Engine
    # raw_read's engine: PostgreSQL's autocommit read engine; SQLite's read engine.
    raw_engine: Engine | None = None
    # raw_transaction's engine: PostgreSQL's without a ping on checkout; SQLite's write engine.
    raw_write_engine: Engine | None = None
    _writer: sessionmaker[Session] = field(init=False, repr=False)
    _reader: sessionmaker[Session] = field(init=False, repr=False)
    # SQLite has one writer. Threads of this process queue for it on a lock (first come,
    # first served, woken at once) instead of in SQLite's busy handler, which sleeps up to
    # 100 ms between tries; other processes still meet the busy timeout.
    _write_lock: threading.RLock = field(init=False, repr=False, default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False)
        self._sqlite = is_sqlite(self.url)
        if self.raw_engine is None:
            self.raw_engine = self.read_engine
        if self.raw_write_engine is None:
            self.raw_write_engine = self.engine

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False) -> Database:
        """Open the database named by a SQLAlchemy URL."""
        engine = make_engine(url, echo=echo)
        if is_sqlite(url):
            read_engine = make_engine(url, read_only=True, echo=echo)
            return cls(url=url, engine=engine, read_engine=read_engine)
        return cls(url=url, engine=engine, read_engine=engine,
                   raw_engine=_pg_raw_read_engine(url, echo),
                   raw_write_engine=_pg_raw_write_engine(url, echo))

    @property
    def sqlite(self) -> bool:
        """True when backed by SQLite."""
        return self._sqlite

    def session(self) -> Session:
        """A new write session (commit or roll back explicitly)."""
        return self._writer()

    def read_session(self) -> Session:
        """A new session for queries that never write."""
        return self._reader()

    def read_rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one read-only statement (`?` placeholders) on a pooled DB-API connection.

        For the hot read paths (product pages, the allocation snapshot): no ORM session,
        no statement compilation, one statement in its own snapshot.
        """
        return self.read(lambda cur: cur.execute(sql, params).fetchall())

    def read(self, fn: Callable[[RawCursor], T]) -> T:
        """`fn(cursor)` on a raw read connection; once more on a fresh one if that one was
        dead (a restarted database server), so the caller sees no stale-pool error."""
        try:
            with self.raw_read() as cur:
                return fn(cur)
        except Exception as exc:
            if not getattr(exc, "omni_stale_connection", False):
                raise
        with self.raw_read() as cur:
            return fn(cur)

    @contextmanager
    def raw_read(self) -> Iterator[RawCursor]:
        """A DB-API cursor on the read engine (never writes; no write lock).

        A connection found dead is dropped from the pool and the driver's error raised
        marked `omni_stale_connection` (`read` then tries once more).
        """
        assert self.raw_engine is not None
        conn = self.raw_engine.raw_connection()
        try:
            cur = conn.cursor()
            try:
                yield RawCursor(cur, self._sqlite)
            except Exception as exc:
                if _broken(conn.dbapi_connection):
                    conn.invalidate()
                    exc.omni_stale_connection = True  # type: ignore[attr-defined]
                raise
            cur.close()
        finally:
            conn.close()

    @property
    def integrity_errors(self) -> type[Exception]:
        """The DB-API IntegrityError that raw statements raise (unique keys and the like)."""
        return self.engine.dialect.loaded_dbapi.IntegrityError

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session that commits on success and rolls back on any error."""
        if not self.sqlite:
            with self.session() as session, session.begin():
                yield session
            return
        with self._write_lock, self.session() as session, session.begin():
            yield session

    def run(self, work: Callable[[Session], T], what: str = "transaction") -> T:
        """`work(session)` in one write transaction, run again after a deadlock or
        serialization failure (PostgreSQL); its result."""
        def once() -> T:
            with self.transaction() as s:
                return work(s)
        return retry_transient(once, what=what)

    def run_raw(self, work: Callable[[RawCursor], T], what: str = "transaction") -> T:
        """`work(cursor)` in one raw write transaction, run again after a deadlock or
        serialization failure (PostgreSQL); its result."""
        def once() -> T:
            with self.raw_transaction() as cur:
                return work(cur)
        return retry_transient(once, what=what)

    @contextmanager
    def raw_transaction(self) -> Iterator[RawCursor]:
        """A write transaction on a pooled DB-API connection (commit on success).

        For the allocation commit, whose handful of statements cost less than the ORM
        machinery around them. Takes the same write lock as `transaction()` on SQLite.
        """
        lock = self._write_lock if self._sqlite else _NO_LOCK
        assert self.raw_write_engine is not None
        with lock:
            conn = self.raw_write_engine.raw_connection()
            try:
                cur = RawCursor(conn.cursor(), self._sqlite)
                if self._sqlite:
                    cur.cur.execute("BEGIN IMMEDIATE")
                try:
                    yield cur
                except BaseException as exc:
                    if _broken(conn.dbapi_connection):
                        conn.invalidate()  # dropped from the pool: the next try reconnects
                        exc.omni_stale_connection = True  # type: ignore[attr-defined]
                    else:
                        _rollback(conn, cur.cur, self._sqlite)
                    raise
                if self._sqlite:
                    cur.cur.execute("COMMIT")
                else:
                    conn.commit()
                cur.cur.close()
            finally:
                conn.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
        for extra in (self.raw_engine, self.raw_write_engine):
            if extra is not None and extra not in (self.engine, self.read_engine):
                extra.dispose()
