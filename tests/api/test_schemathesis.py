"""Property-based API contract test: schemathesis finds no 5xx and no schema violation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from api.settings import Settings
from data.db import Database
from tests.api.conftest import TestClient
from tests.factories import seed_tiny

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


def _app(db_url: str, db: Database | None = None):  # type: ignore[no-untyped-def]
    return create_app(Settings(database_url=db_url, max_batch_events=50, max_body_bytes=20_000,
                               auth_required=False, sweep_interval_seconds=0, relay=False),
                      db=db)


# The contract is the app's own OpenAPI document; building it touches no database. The SSE
# stream never ends (its own test reads it: tests/api/test_webhooks.py); the relay is off so
# generated webhook URLs are never called.
schema = schemathesis.openapi.from_dict(_app("sqlite://").openapi()).exclude(
    path="/v1/events/stream")


@pytest.fixture
def app(sqlite_db: Database) -> Iterator[FastAPI]:
    """The app on the tiny seeded network (SQLite, auth off) with its lifespan running."""
    seed_tiny(sqlite_db, {("ST-0001", "SKU-A"): 10, ("DC-DAL", "SKU-A"): 50,
                          ("ST-0002", "SKU-B"): 4})
    application = _app(sqlite_db.url, sqlite_db)
    # The TestClient context runs the lifespan (engines, caches) that every route needs.
    with TestClient(application):
        yield application


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_contract(case: schemathesis.Case, app: FastAPI) -> None:
    """Every generated request gets a documented status and a body matching its schema."""
    case.call_and_validate(app=app, checks=CHECKS)
