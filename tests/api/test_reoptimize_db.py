"""Backlog re-optimisation through the database ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from allocation.reoptimize import BacklogOrder, ReoptParams, held_cost
from data.models import Node, OrderEvent, OrderLine, Reservation, ReservationStatus
from data.models import Order as OrderRow
from fulfilment.reoptimize import apply_moves, load_backlog, reoptimize_backlog
from tests.data.test_ledger_properties import check_invariants

DALLAS = {"lat": 32.80, "lon": -96.80}


def _post(client: TestClient, oid: str, qty: int) -> dict:
    r = client.post("/v1/allocations", json={
        "order_id": oid, **DALLAS, "lines": [{"sku": "SKU-A", "qty": qty}], "policy": "nearest"})
    assert r.status_code in (200, 201), r.text
    return r.json()


def _act(client: TestClient, oid: str, action: str) -> None:
    r = client.post(f"/v1/orders/{oid}/{action}", json={})
    assert r.status_code == 200, r.text


def _held(client: TestClient, oid: str) -> list[tuple[str, int, str]]:
    with client.database.read_session() as s:  # type: ignore[attr-defined]
        return sorted(s.execute(
            select(Node.code, Reservation.qty, OrderLine.state)
            .join(Node, Node.id == Reservation.node_id)
            .join(OrderLine, OrderLine.id == Reservation.order_line_id)
            .join(OrderRow, OrderRow.id == OrderLine.order_id)
            .where(OrderRow.external_id == oid,
                   Reservation.status == ReservationStatus.open)).all())


def _stranded_backlog(client: TestClient) -> None:
    """Dallas orders sourced from the Rogers store while the Dallas DC was held; then freed."""
    hold = _post(client, "HOLD", 50)  # nearest to Dallas: the whole DC stock
    assert hold["decision"]["lines"][0]["allocations"] == [
        {"node": "DC-DAL", "qty": 50, "method": "ship_from_dc"}]
    for k in range(1, 5):
        _post(client, f"O{k}", 2)  # only the Rogers store has stock left
    _act(client, "O2", "accept")
    _act(client, "O2", "picked")
    _act(client, "O3", "accept")
    _act(client, "HOLD", "cancel")


def test_reoptimize_moves_unpicked_orders_and_keeps_invariants(client: TestClient) -> None:
    _stranded_backlog(client)
    db, ctx = client.database, client.app.state.allocation  # type: ignore[attr-defined]
    network, _ = ctx.network()
    with db.read_session() as s:
        backlog, _, _ = load_backlog(s, network)
    assert sorted(b.order.id for b in backlog) == ["O1", "O3", "O4"]  # O2 is picked
    report, done = reoptimize_backlog(db, ctx, ReoptParams(threshold=0.5))
    assert {m.order_id for m in report.moves} == {"O1", "O3", "O4"}
    assert done.applied == 3 and done.skipped == 0
    assert done.saving == pytest.approx(report.saving) and report.saving > 0
    # The saving is the cost difference of the holdings, priced independently.
    diff = sum(held_cost(network, b, ctx.cost, zone_matrix=ctx.zones())
               - held_cost(network, BacklogOrder(b.order, (( ("DC-DAL", 2),),)), ctx.cost,
                           zone_matrix=ctx.zones()) for b in backlog)
    assert report.saving == pytest.approx(diff, abs=1e-6)
    assert _held(client, "O2") == [("ST-0001", 2, "picked")]  # never moved
    for oid in ("O1", "O3", "O4"):  # the accepted O3 must be accepted again at the DC
        assert _held(client, oid) == [("DC-DAL", 2, "allocated")]
    check_invariants(db)
    with db.read_session() as s:
        events = s.scalars(select(OrderEvent).where(OrderEvent.action == "reoptimize")).all()
    assert len(events) == 3 and {e.from_state for e in events} == {"allocated", "accepted"}
    again, _ = reoptimize_backlog(db, ctx, ReoptParams(threshold=0.5))
    assert again.moves == []  # nothing left to gain


def test_a_line_picked_after_planning_is_not_moved(client: TestClient) -> None:
    _stranded_backlog(client)
    db, ctx = client.database, client.app.state.allocation  # type: ignore[attr-defined]
    report, done = reoptimize_backlog(db, ctx, ReoptParams(threshold=0.5), apply=False)
    assert len(report.moves) == 3 and done.applied == 0
    _act(client, "O4", "accept")
    _act(client, "O4", "picked")  # between planning and applying
    done = apply_moves(db, report.moves, batch_size=2)
    assert (done.applied, done.skipped) == (2, 1)
    assert _held(client, "O4") == [("ST-0001", 2, "picked")]
    check_invariants(db)


def test_the_cli_reports_the_saving(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from api.cli.app import app

    _stranded_backlog(client)
    monkeypatch.setenv("OMNI_DATABASE_URL", client.database.url)  # type: ignore[attr-defined]
    res = CliRunner().invoke(app, ["reoptimize", "--threshold", "0.5", "--time-limit", "5"])
    assert res.exit_code == 0, res.output
    assert "moves 3 applied 3 skipped 0" in res.output and "saving" in res.output
    check_invariants(client.database)  # type: ignore[attr-defined]


def test_the_service_reoptimises_on_a_schedule(client: TestClient) -> None:
    import time

    from api.main import create_app
    from api.settings import Settings

    _stranded_backlog(client)
    db = client.database  # type: ignore[attr-defined]
    settings = Settings(database_url=db.url, auth_required=False, sweep_interval_seconds=0,
                        reoptimize_interval_seconds=0.05)
    with TestClient(create_app(settings, db=db)):
        deadline = time.monotonic() + 10
        while _held(client, "O4") != [("DC-DAL", 2, "allocated")]:
            assert time.monotonic() < deadline, "the scheduled job never moved O4"
            time.sleep(0.05)
    assert _held(client, "O2") == [("ST-0001", 2, "picked")]
    check_invariants(db)
