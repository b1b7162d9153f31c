"""Engines and sessions for SQLite (WAL, one writer) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000


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

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
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


@dataclass
class Database:
    """A write engine and a read engine (the same one on PostgreSQL) with session factories."""

    url: str
    engine: Engine
    read_engine: Engine
    _writer: sessionmaker[Session] = field(init=False, repr=False)
    _reader: sessionmaker[Session] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False) -> Database:
        """Open the database named by a SQLAlchemy URL."""
        engine = make_engine(url, echo=echo)
        read_engine = make_engine(url, read_only=True, echo=echo) if is_sqlite(url) else engine
        return cls(url=url, engine=engine, read_engine=read_engine)

    @property
    def sqlite(self) -> bool:
        """True when backed by SQLite."""
        return is_sqlite(self.url)

    def session(self) -> Session:
        """A new write session (commit or roll back explicitly)."""
        return self._writer()

    def read_session(self) -> Session:
        """A new session for queries that never write."""
        return self._reader()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session that commits on success and rolls back on any error."""
        with self.session() as session, session.begin():
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
