"""Every dashboard page in a real browser: loads in under a second, shows the database's numbers."""

from __future__ import annotations

import datetime as dt
import json
import time

import httpx
import pytest
from sqlalchemy import func, select, text

from data.db import Database
from data.models import (
    Node,
    NodeKind,
    Order,
    OrderEvent,
    Reservation,
    ReservationStatus,
    SimulationRun,
    Sku,
    StockPosition,
)
from data.stock_cover import COVER_SQL
from tests.dashboard.conftest import SHOTS, shoot, sign_in

SP = StockPosition
# Load times are measured and written next to the screenshots (docs/screenshots holds the
# committed copy of load_times.json); the test asserts only the best of three loads.
LOAD_TIMES: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="module")
def db(demo_url: str) -> Database:
    """Direct access to the server's database, to check what the pages show."""
    return Database.from_url(demo_url)


N_ORDERS = 16


@pytest.fixture(scope="module")
def orders(server: str, keys: dict[str, str], db: Database) -> int:
    """Allocations so the pages have something to show: 12 shipped, 4 picked up in store,
    spread over the last week (a running system's history) by moving their creation time."""
    skus = [f"SKU-{i:06d}" for i in range(1, 41)]
    with db.read_session() as s:
        stores = list(s.scalars(select(Node.code).where(Node.kind == NodeKind.store)
                                .order_by(Node.code).limit(4)))
    ok = 0
    for i in range(N_ORDERS):
        where: dict[str, str] = ({"zip": ["75201", "77002", "78701"][i % 3]} if i < 12 else
                                 {"method": "pickup", "pickup_store": stores[i - 12]})
        r = httpx.post(f"{server}/v1/allocations", headers={"X-API-Key": keys["orders"]}, json={
            "order_id": f"dash-{i}", **where,
            "lines": [{"sku": skus[(3 * i + k) % 40], "qty": 1} for k in range(1 + i % 3)]})
        ok += r.status_code == 200
    now = dt.datetime.now(dt.UTC)
    with db.transaction() as s:
        for o in s.scalars(select(Order)):
            o.created_at = now - dt.timedelta(days=int(o.id) % 7, minutes=int(o.id))
    return ok


# In the page, from navigation start: when each awaited selector first matches (a mutation
# observer installed before the page's own scripts run). The selectors come from
# sessionStorage, set by open_page before it navigates.
MARKS_JS = """
window.__marks = {};
const want = JSON.parse(sessionStorage.getItem("omni-test-marks") || "{}");
const check = () => {
  for (const [k, sel] of Object.entries(want))
    if (!(k in window.__marks) && document.querySelector(sel))
      window.__marks[k] = performance.now();
};
new MutationObserver(check).observe(document, {childList: true, subtree: true});
"""
_MARKED: set[int] = set()


def open_page(page, url: str, ready: str, chart: str | None = None) -> None:  # type: ignore[no-untyped-def]
    """Load three times (cold, then cached twice) until the numbers show and the charts are
    drawn. Records the browser's own time from navigation start (`*_s`: what a person waits
    for) and the test's wall clock around goto + wait (`*_wall_s`: adds Playwright's
    round trips, which on a loaded machine are most of it)."""
    if id(page) not in _MARKED:
        page.add_init_script(MARKS_JS)
        _MARKED.add(id(page))
    want = {"numbers": ready, **({"charts": chart} if chart else {})}
    page.evaluate("w => sessionStorage.setItem('omni-test-marks', JSON.stringify(w))", want)
    times: dict[str, float] = {}
    for run in ("first", "cached", "cached2"):
        t0 = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(ready)
        if chart:
            page.wait_for_selector(chart)
        wall = time.perf_counter() - t0
        marks = page.evaluate("window.__marks")
        for k in want:
            times[f"{run}_{k}_s"] = round(marks[k] / 1000, 3)
        times[f"{run}_wall_s"] = round(wall, 3)
    LOAD_TIMES[url.rsplit("/", 1)[-1]] = times


def test_network_page(page, server: str, db: Database, orders: int) -> None:  # type: ignore[no-untyped-def]
    assert orders == N_ORDERS  # open picking tasks at the nodes the allocations chose
    open_page(page, f"{server}/dashboard/network", "[data-card='Nodes']",
              "#map .point")
    shoot(page, "network")
    with db.session() as s:
        nodes = s.scalar(select(func.count()).select_from(Node))
        atp = s.scalar(select(func.sum(func.max(SP.on_hand - SP.reserved - SP.safety_stock, 0))))
        tasks = dict(s.execute(select(Node.code, func.count()).join(
            Reservation, Reservation.node_id == Node.id)
            .where(Reservation.status == ReservationStatus.open).group_by(Node.code)).all())
    assert page.inner_text("[data-card='Nodes']") == str(nodes)
    assert page.inner_text("[data-card='ATP units']").replace(",", "") == str(atp)
    assert page.inner_text("[data-card='Open tasks']") == str(sum(tasks.values())) != "0"
    assert page.locator("#nodes tbody tr").count() == nodes
    assert page.locator("#map .point").count() == nodes
    for code, n in tasks.items():
        assert page.inner_text(f"#nodes tr[data-node='{code}'] td:nth-child(8)") == str(n)


def _one_place(x: float) -> str:
    """Days of cover as the page shows them (rounded to 0.1 by the server, JS number text)."""
    return str(round(float(x), 1)).removesuffix(".0")


def test_stock_page_filter_sort_paginate(page, server: str, db: Database) -> None:  # type: ignore[no-untyped-def]
    open_page(page, f"{server}/dashboard/stock", "#stock tbody tr")
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(SP))
        # A store: its positions have demand rates, so days of cover and low-cover risk.
        node, n_node = s.execute(select(Node.code, func.count()).join(SP, SP.node_id == Node.id)
                                 .where(Node.kind == NodeKind.store)
                                 .group_by(Node.code).order_by(Node.code).limit(1)).one()
        top_atp = s.scalar(select(func.max(SP.on_hand - SP.reserved - SP.safety_stock))
                           .join(Node, Node.id == SP.node_id).where(Node.code == node))
        cover = {sku: c for sku, c in s.execute(
            select(Sku.code, text(COVER_SQL)).select_from(SP)
            .join(Node, Node.id == SP.node_id).join(Sku, Sku.id == SP.sku_id)
            .where(Node.code == node)).all()}
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
    # Days of cover as the database computes them, for every row shown.
    for row in rows.all():
        sku = row.locator("td:nth-child(2)").inner_text()
        shown = row.locator("td:nth-child(8)").inner_text()
        c = cover[sku]
        want = "\u2013" if c is None else _one_place(c)
        assert shown == want, (sku, shown, c)
    assert any(c is not None for c in cover.values())
    # Back to the opening sort (days of cover, lowest first: the risks on top).
    low = min(float(c) for c in cover.values() if c is not None)
    page.click("[data-sort='days_of_cover']")
    page.wait_for_function("document.querySelector('#stock tbody tr td:nth-child(8)')"
                           f".textContent === '{_one_place(low)}'")
    shoot(page, "stock")


def _two_places(x: float) -> str:
    """As the page shows a number: at most two decimals, no trailing zeros."""
    return f"{x:,.2f}".rstrip("0").rstrip(".")


def test_fulfilment_page(page, server: str, db: Database, orders: int,  # type: ignore[no-untyped-def]
                         keys: dict[str, str]) -> None:
    assert orders == N_ORDERS
    # A store rejects a line: the page must count the rejection (and its re-route).
    r = httpx.post(f"{server}/v1/orders/dash-0/lines/1/reject", json={"reason": "damaged"},
                   headers={"X-API-Key": keys["admin"]})
    assert r.status_code == 200, r.text
    open_page(page, f"{server}/dashboard/fulfilment", "[data-card='Orders (30 days)']",
              "#mix .bar")
    shoot(page, "fulfilment")
    with db.session() as s:
        decisions = [d for d in s.scalars(select(Order.decision)) if d]
        rejects = s.scalar(select(func.count()).select_from(OrderEvent)
                           .where(OrderEvent.action == "reject"))
        pickups = s.scalar(select(func.count()).select_from(Reservation).where(
            Reservation.status == ReservationStatus.open,
            Reservation.method.in_(("pickup_from_shelf", "pickup_via_transfer"))))
        days = s.scalar(select(func.count(func.distinct(func.date(Order.created_at)))))
    n = len(decisions)
    cost = sum(d["cost"]["total"] for d in decisions) / n
    parcels = sum(len(d["parcels"]) for d in decisions) / n
    assert page.inner_text("[data-card='Orders (30 days)']") == str(n) == str(N_ORDERS)
    assert page.inner_text("[data-card='Cost per order $']") == _two_places(cost)
    assert page.inner_text("[data-card='Parcels per order']") == _two_places(parcels)
    assert page.inner_text("[data-card='Pickups reserved']") == str(pickups) != "0"
    assert rejects == 1 and page.inner_text("[data-card='Rejections']") == "1"
    # One stacked bar per (day, method with units): the week of orders, drawn.
    assert days > 1 and page.locator("#mix .bar").count() >= days


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


def test_feed_page_shows_subscriptions_and_dead_letters(page, server: str, db: Database) -> None:  # type: ignore[no-untyped-def]
    from data import webhooks

    # A receiver that is not there: every event fails; one dead letter recorded by hand
    # (the relay's own dead-lettering is tested in tests/fulfilment/test_relay.py).
    sub = webhooks.create(db, "http://127.0.0.1:9/nowhere", ["order.*"], None, "dash", None,
                          from_start=True)
    db.run_raw(lambda cur: cur.execute(
        "UPDATE outbox_consumers SET lease_owner = 'test', lease_until = 1e12 WHERE name = ?",
        (webhooks.consumer_name(sub["id"]),)))  # keep the service's relay off it
    assert webhooks.dead_letter(db, sub["id"], "test", 1, 8, "HTTP 503: busy")
    open_page(page, f"{server}/dashboard/feed", f"#subs tr[data-sub='{sub['id']}']")
    row = f"#subs tr[data-sub='{sub['id']}']"
    assert "http://127.0.0.1:9/nowhere" in page.inner_text(row)
    assert page.inner_text(f"{row} [data-dead]") == "1"
    assert "HTTP 503: busy" in page.inner_text("#dead tbody")
    assert page.inner_text("[data-card='Outbox']") == "on"
    shoot(page, "feed")


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
    assert set(LOAD_TIMES) >= {"network", "stock", "fulfilment", "simulations", "feed"}
    # Issue #9: every page loads in under a second. Checked on the browser's own clock, best
    # of the three loads (one load slowed by another job on a shared machine is no failure;
    # a page that cannot load in a second is).
    for name, t in LOAD_TIMES.items():
        kind = "charts" if any(k.endswith("_charts_s") for k in t) else "numbers"
        best = min(v for k, v in t.items() if k.endswith(f"_{kind}_s"))
        assert best < 1.0, (name, t)
