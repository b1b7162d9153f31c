"""Shared fixtures: migrated databases on SQLite and PostgreSQL (one schema per test run)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from data.db import Database
from data.migrate import upgrade
from data.models import Base

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PG_URL = os.environ.get("OMNI_TEST_POSTGRES_URL", "")
REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def _missing_service(reason: str) -> None:
    # In CI a missing database must fail the run, never pass silently as skipped.
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: service tests must not skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite file copied for every test that needs one."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for this run, migrated, dropped at the end."""
    if not PG_URL:
        _missing_service("OMNI_TEST_POSTGRES_URL is not set")
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    schema = f"omni_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except Exception as exc:
        admin.dispose()
        _missing_service(f"PostgreSQL at {PG_URL} is unreachable: {exc.__class__.__name__}")
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    url_str = url.render_as_string(hide_password=False)
    try:
        upgrade(url_str)
        yield url_str
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def _truncate_pg(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """An empty migrated SQLite database in a file of its own."""
    path = tmp_path / "omni.db"
    shutil.copy(sqlite_template, path)
    db = Database.from_url(f"sqlite:///{path}")
    yield db
    db.dispose()


@pytest.fixture
def pg_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """An empty migrated PostgreSQL database (this run's schema, truncated)."""
    url = request.getfixturevalue("pg_schema_url")
    db = Database.from_url(url)
    _truncate_pg(db)
    yield db
    db.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> Database:
    """Every storage test runs on SQLite and on PostgreSQL."""
    return request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "pg_db")
