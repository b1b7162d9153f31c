"""Pickup expiry runs by itself in the service, and from `omni sweep-pickups`; keys CLI."""

from __future__ import annotations

import time
import warnings

from typer.testing import CliRunner

from api.auth.service import lookup
from api.cli import app as cli
from api.main import create_app
from api.settings import Settings
from data.db import Database
from tests.data.test_ledger_properties import check_invariants
from tests.factories import seed_tiny

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PICKUP = {"order_id": "cc-1", "method": "pickup", "pickup_store": "ST-0002",
          "lines": [{"sku": "SKU-B", "qty": 2}]}


def _ready_pickup(client: TestClient) -> None:
    assert client.post("/v1/allocations", json=PICKUP).status_code == 200
    for action in ("accept", "picked", "ready_for_pickup"):
        assert client.post(f"/v1/orders/cc-1/{action}").status_code == 200


def test_the_service_expires_pickups_in_the_background(database: Database) -> None:
    seed_tiny(database, {("ST-0002", "SKU-B"): 4})
    settings = Settings(database_url=database.url, auth_required=False,
                        pickup_expiry_days=0.3 / 86400, sweep_interval_seconds=0.1)
    with TestClient(create_app(settings, db=database)) as client:
        _ready_pickup(client)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            state = client.get("/v1/orders/cc-1").json()["lines"][0]["state"]
            if state == "expired":
                break
            time.sleep(0.1)
        assert state == "expired"
        node = client.get("/v1/availability", params={"sku": "SKU-B", "node": "ST-0002"}).json()
        assert node["nodes"][0]["reserved"] == 0
    check_invariants(database)


def test_cli_sweeps_pickups_and_creates_keys(database: Database) -> None:
    seed_tiny(database, {("ST-0002", "SKU-B"): 4})
    settings = Settings(database_url=database.url, auth_required=False, sweep_interval_seconds=0)
    with TestClient(create_app(settings, db=database)) as client:
        _ready_pickup(client)
    run = CliRunner()
    env = {"OMNI_DATABASE_URL": database.url}
    out = run.invoke(cli, ["sweep-pickups"], env=env)
    assert out.exit_code == 0 and "0 pickup line(s) expired" in out.stdout
    time.sleep(0.2)
    out = run.invoke(cli, ["sweep-pickups", "--days", "0.000001"], env=env)
    assert out.exit_code == 0 and "expired cc-1 line 1" in out.stdout, out.output
    check_invariants(database)
    out = run.invoke(cli, ["keys", "create", "--scope", "store:act", "--store", "ST-0002",
                           "--name", "Harrison"], env=env)
    assert out.exit_code == 0, out.output
    token = out.stdout.strip().splitlines()[-1]
    with database.read_session() as s:
        who = lookup(s, token)
    assert who is not None and who.node == "ST-0002" and who.scopes == {"store:act"}
    out = run.invoke(cli, ["keys", "create", "--scope", "store:act"], env=env)
    assert out.exit_code != 0
    out = run.invoke(cli, ["keys", "list"], env=env)
    assert "Harrison" in out.stdout and token not in out.stdout
    out = run.invoke(cli, ["keys", "revoke", who.key_id or ""], env=env)
    assert out.exit_code == 0
    with database.read_session() as s:
        assert lookup(s, token) is None
