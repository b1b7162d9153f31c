"""A live server on a small demo network, and headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.auth.service import create_key
from data.db import Database
from data.demo import DemoNetwork, DemoParams, build_network
from data.demo_write import write_network
from data.migrate import upgrade
from tests.benchmarks.loadgen import running_server
from tests.conftest import IN_CI
from tests.factories import synthetic_demand_rates

CHROMIUM = os.environ.get("OMNI_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
# Test artefacts (gitignored); docs/screenshots holds the copies the README shows.
SHOTS = Path(os.environ.get("OMNI_SCREENSHOT_DIR", Path(__file__).resolve().parents[1]
                            / "artifacts" / "screenshots"))
CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def demand_rates(db: Database, net: DemoNetwork, sigma: float = 0.5) -> int:
    """A daily demand rate per store position, as a forecast run stores them: the demo's
    expected sales x a lognormal forecast error (seconds, where `omni forecast-network`
    takes minutes on this machine). DCs have no sales, so no rate and no days of cover."""
    return synthetic_demand_rates(db, net, sigma, seed=11)


@pytest.fixture(scope="session")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo network of `make run` (DemoParams defaults: 12 Texas stores, 3 DCs, 100 SKUs,
    730 days of sales) in SQLite, with demand rates (days of cover) on the store positions."""
    path = tmp_path_factory.mktemp("dash") / "demo.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database.from_url(url)
    net = build_network(DemoParams())
    write_network(db, net)
    assert demand_rates(db, net) > 0
    db.dispose()
    return url


@pytest.fixture(scope="session")
def keys(demo_url: str) -> dict[str, str]:
    """API keys: a planner + ops reader, an ops-only reader, an order system."""
    db = Database.from_url(demo_url)
    with db.transaction() as s:
        out = {name: create_key(s, scopes, name)[0] for name, scopes in {
            "planner": ["ops:read", "planner"], "ops": ["ops:read"],
            "orders": ["orders:write"], "admin": ["admin"]}.items()}
    db.dispose()
    return out


@pytest.fixture(scope="session")
def server(demo_url: str, keys: dict[str, str]) -> Iterator[str]:
    """The app served on loopback with API keys required (as in production)."""
    with running_server(demo_url, env={"OMNI_AUTH_REQUIRED": "true",
                                       "OMNI_SWEEP_INTERVAL_SECONDS": "0"}) as base:
        yield base


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium (no browser download); missing browser fails in CI."""
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail(f"Chromium not found at {CHROMIUM} (CI=true: browser tests must run)")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS)
        yield b
        b.close()


def sign_in(page, server: str, key: str) -> None:  # type: ignore[no-untyped-def]
    """Use the sign-in form like a person would."""
    page.goto(f"{server}/dashboard/login")
    page.fill("#key", key)
    page.click("#signin")
    page.wait_for_url(f"{server}/dashboard/network")


@pytest.fixture
def anon(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh page at a desktop size, not signed in."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    p = ctx.new_page()
    yield p
    ctx.close()


@pytest.fixture
def page(anon, server: str, keys: dict[str, str]) -> object:  # type: ignore[no-untyped-def]
    """A page signed in as the planner."""
    sign_in(anon, server, keys["planner"])
    return anon


def shoot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    """Save a screenshot artefact (tests/artifacts/screenshots by default)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    out = SHOTS / f"{name}.png"
    page.screenshot(path=str(out), full_page=True)
    return out
