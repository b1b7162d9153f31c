"""Every dashboard page in a real browser: loads in under a second, shows the database's numbers."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from sqlalchemy import func, select

from data.db import Database
from data.models import Node, Order, OrderEvent, SimulationRun, StockPosition
from tests.dashboard.conftest import SHOTS, shoot, sign_in

SP = StockPosition
# Load times are measured and written to docs/screenshots/load_times.json, not asserted:
# timings on a shared 2-core machine belong in reports, not in pass/fail tests.
LOAD_TIMES: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module")
def db(demo_url: str) -> Database:
    """Direct access to the server's database, to check what the pages show."""
    return Database.from_url(demo_url)


@pytest.fixture(scope="module")
def orders(server: str, keys: dict[str, str]) -> int:
    """A few allocations so the fulfilment page has something to show."""
    skus = [f"SKU-{i:06d}" for i in range(1, 41)]
    ok = 0
    for i in range(12):
        r = httpx.post(f"{server}/v1/allocations", headers={"X-API-Key": keys["orders"]}, json={
            "order_id": f"dash-{i}", "zip": ["75201", "77002", "78701"][i % 3],
            "lines": [{"sku": skus[(3 * i + k) % 40], "qty": 1} for k in range(1 + i % 3)]})
        ok += r.status_code == 200
    return ok


def open_page(page, url: str, ready: str, chart: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Load twice (cold, then cached) until the numbers show and the charts are drawn."""
    times: dict[str, float] = {}
    for run in ("first", "cached"):
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(ready)
        times[f"{run}_numbers_s"] = round(time.perf_counter() - t0, 3)
        if chart:
            page.wait_for_selector(chart)
            times[f"{run}_charts_s"] = round(time.perf_counter() - t0, 3)
    LOAD_TIMES[url.rsplit("/", 1)[-1]] = times


def test_network_page(page, server: str, db: Database) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server}/dashboard/network", "[data-card='Nodes']",
              "#map .point")
    shoot(page, "network")
    with db.session() as s:
        nodes = s.scalar(select(func.count()).select_from(Node))
        atp = s.scalar(select(func.sum(func.max(SP.on_hand - SP.reserved - SP.safety_stock, 0))))
    assert page.inner_text("[data-card='Nodes']") == str(nodes)
    assert page.inner_text("[data-card='ATP units']").replace(",", "") == str(atp)
    assert page.locator("#nodes tbody tr").count() == nodes
    assert page.locator("#map .point").count() == nodes


def test_stock_page_filter_sort_paginate(page, server: str, db: Database) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server}/dashboard/stock", "#stock tbody tr")
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(SP))
        node, n_node = s.execute(select(Node.code, func.count()).join(SP, SP.node_id == Node.id)
                                 .group_by(Node.code).order_by(Node.code).limit(1)).one()
        top_atp = s.scalar(select(func.max(SP.on_hand - SP.reserved - SP.safety_stock))
                           .join(Node, Node.id == SP.node_id).where(Node.code == node))
    assert page.inner_text("#count") == f"{total:,} rows"
    assert page.locator("#stock tbody tr").count() == min(50, total)
    page.click("#next")
    page.wait_for_function("document.getElementById('pageinfo').textContent.startsWith('page 2')")
    page.select_option("#f-node", node)
    page.click("#apply")
    page.wait_for_function(f"document.getElementById('count').textContent === '{n_node:,} rows'")
    page.click("[data-sort='atp']")  # ascending
    page.click("[data-sort='atp']")  # descending
    page.wait_for_function(f"document.querySelector('#stock tbody tr td:nth-child(7)')"
                           f".textContent === '{max(top_atp, 0)}'")
    rows = page.locator("#stock tbody tr")
    assert all(r.startswith(node) for r in rows.all_inner_texts())
    shoot(page, "stock")


def test_fulfilment_page(page, server: str, db: Database, orders: int,  # type: ignore[no-untyped-def]
                         keys: dict[str, str]) -> None:
    assert orders == 12
    # A store rejects a line: the page must count the rejection (and its re-route).
    r = httpx.post(f"{server}/v1/orders/dash-0/lines/1/reject", json={"reason": "damaged"},
                   headers={"X-API-Key": keys["admin"]})
    assert r.status_code == 200, r.text
    open_page(page, f"{server}/dashboard/fulfilment", "[data-card='Orders (30 days)']",
              "#mix .bar")
    shoot(page, "fulfilment")
    with db.session() as s:
        n = s.scalar(select(func.count()).select_from(Order))
    assert page.inner_text("[data-card='Orders (30 days)']") == str(n)
    with db.session() as s:
        rejects = s.scalar(select(func.count()).select_from(OrderEvent)
                           .where(OrderEvent.action == "reject"))
    assert rejects == 1 and page.inner_text("[data-card='Rejections']") == "1"
    assert page.locator("#mix .bar").count() > 0


def test_simulations_page_starts_a_run(page, server: str, db: Database) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server}/dashboard/simulations", "#runs tbody tr")
    page.select_option("#s-scenario", "tiny_demo")
    page.click("#start-run")
    page.wait_for_selector("#runs tbody tr[data-status='done']", timeout=120_000)
    page.wait_for_selector("#kpis tbody tr[data-policy='optimal']")
    with db.session() as s:
        run = s.scalars(select(SimulationRun)).one()
    assert run.status == "done" and run.started_by == "planner"
    shown = page.inner_text("#kpis tbody tr[data-policy='optimal'] td:nth-child(2)")
    opt = next(k for k in run.kpis if k["policy"] == "optimal")
    assert shown.replace(",", "") == str(opt["orders"])
    shoot(page, "simulations")


def test_sign_in_is_required_and_scoped(anon, server: str, keys: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    anon.goto(f"{server}/dashboard/stock")
    assert anon.url.endswith("/dashboard/login")
    assert httpx.get(f"{server}/dashboard/data/stock").status_code == 401
    anon.fill("#key", keys["orders"])  # a valid key without ops:read
    anon.click("#signin")
    assert "lacks ops:read" in anon.inner_text("#error")
    sign_in(anon, server, keys["ops"])
    anon.goto(f"{server}/dashboard/simulations")
    assert anon.is_disabled("#start-run")
    r = anon.request.post(f"{server}/dashboard/simulations/start",
                          data={"scenario": "tiny_demo", "seed": 1})
    assert r.status == 403


def test_pages_work_offline(page, server: str) -> None:  # type: ignore[no-untyped-def]
    # Any request off this machine would fail: the page must still draw its charts.
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(server) else None)
    page.goto(f"{server}/dashboard/network")
    page.wait_for_selector("#map .point")
    assert outside == []


def test_zz_write_load_times() -> None:
    # Runs last in this module: keep the measured load times with the screenshots.
    out = SHOTS / "load_times.json"
    out.write_text(json.dumps(LOAD_TIMES, indent=2, sort_keys=True))
    assert set(LOAD_TIMES) >= {"network", "stock", "fulfilment", "simulations"}
