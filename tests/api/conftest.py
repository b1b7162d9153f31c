"""An API client on a migrated database holding the tiny network."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from api.main import create_app
from api.settings import Settings
from data.db import Database
from tests.factories import seed_tiny

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def client(database: Database) -> Iterator[TestClient]:
    """A test client; the tiny network has 10 SKU-A at ST-0001, 50 at DC-DAL, 4 SKU-B at ST-0002."""
    seed_tiny(database, {("ST-0001", "SKU-A"): 10, ("DC-DAL", "SKU-A"): 50,
                         ("ST-0002", "SKU-B"): 4})
    settings = Settings(database_url=database.url, max_batch_events=50, max_body_bytes=20_000,
                        auth_required=False, sweep_interval_seconds=0)
    with TestClient(create_app(settings, db=database)) as c:
        c.database = database  # type: ignore[attr-defined]
        yield c
