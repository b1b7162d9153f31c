"""Benchmarks reuse the database fixtures of the suite."""

from tests.conftest import (  # noqa: F401
    database,
    pg_db,
    pg_schema_url,
    sqlite_db,
    sqlite_template,
)
