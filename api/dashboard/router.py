"""The operations dashboard under /dashboard: pages, their JSON, and the bundled Plotly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from allocation.errors import InvalidQuantity
from api.dashboard import service
from api.dashboard.auth import (
    SESSION_COOKIE,
    DashboardUser,
    Forbidden,
    dashboard_user,
    sign_in,
)
from api.dependencies import Db, DbRead
from api.simulations.schemas import SimulationIn

router = APIRouter(prefix="/dashboard", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
CHARTS_JS = Path(__file__).parent / "static_charts.js"
User = Annotated[DashboardUser, Depends(dashboard_user)]


def _page(request: Request, name: str, user: DashboardUser, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, f"{name}.html", {
        "page": name, "title": name.capitalize(), "who": user.name,
        "now": dt.datetime.now(dt.UTC).strftime("%H:%M:%SZ"), **ctx})


@router.get("/static/charts.js")
def charts_js() -> FileResponse:
    """The dashboard's small SVG chart helpers (served locally: the pages need no CDN)."""
    return FileResponse(CHARTS_JS, media_type="text/javascript",
                        headers={"cache-control": "public, max-age=3600"})


@router.get("/login")
def login_form(request: Request) -> HTMLResponse:
    """The sign-in form."""
    return templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/login")
def login(request: Request, session: DbRead, key: Annotated[str, Form()]) -> Response:
    """Exchange an API key with ops:read for a session cookie."""
    token = sign_in(request, session, key)
    if token is None:
        return templates.TemplateResponse(
            request, "login.html", {"error": "That key is unknown, revoked or lacks ops:read."},
            status_code=401)
    resp = RedirectResponse("/dashboard/network", status_code=303)
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict", max_age=12 * 3600)
    return resp


@router.get("/logout")
def logout() -> Response:
    """Forget the session cookie."""
    resp = RedirectResponse("/dashboard/login", status_code=303)
    resp.delete_cookie(SESSION_COOKIE)
    return resp


@router.get("")
@router.get("/")
def home() -> Response:
    """The network page is the dashboard's front page."""
    return RedirectResponse("/dashboard/network", status_code=307)


@router.get("/network")
def network_page(request: Request, user: User) -> HTMLResponse:
    """Map and table of nodes coloured by stock health."""
    return _page(request, "network", user)


@router.get("/stock")
def stock_page(request: Request, user: User, session: DbRead) -> HTMLResponse:
    """Filterable, sortable, paginated (node, SKU) stock."""
    return _page(request, "stock", user, nodes=service.node_codes(session),
                 categories=service.categories(session))


@router.get("/fulfilment")
def fulfilment_page(request: Request, user: User) -> HTMLResponse:
    """Method mix, parcels and cost per order, pickups."""
    return _page(request, "fulfilment", user)


@router.get("/simulations")
def simulations_page(request: Request, user: User) -> HTMLResponse:
    """Simulation runs with progress, a start form for planners, KPIs per policy."""
    from api.simulations.service import scenario_names

    return _page(request, "simulations", user, scenarios=scenario_names(),
                 can_plan=user.can("planner"))


@router.post("/simulations/start", status_code=202)
def start_simulation(request: Request, user: User, db: Db,
                     body: SimulationIn) -> dict[str, Any]:
    """Start a run from the page (needs the planner scope)."""
    from api.simulations.service import create_run

    if not user.can("planner"):
        raise Forbidden("starting a simulation needs a key with the planner scope")
    run = create_run(db, body, user.name)
    request.app.state.simulations.submit(run.id)
    return {"id": run.id, "status": run.status}


@router.get("/feed")
def feed_page(request: Request, user: User) -> HTMLResponse:
    """The change feed: outbox state, webhook subscriptions, their lag and dead letters."""
    return _page(request, "feed", user)


@router.get("/data/feed")
def feed_data(_: User, db: Db) -> dict[str, Any]:
    """JSON of the feed page (no secrets)."""
    from data import webhooks
    from fulfilment.events import feed

    st = feed.status(db)
    return {"enabled": st["enabled"], "head": st["head"], "pending": st["pending"],
            "subscriptions": webhooks.listing(db),
            "dead_letters": webhooks.dead_letters(db, None, 100)}


@router.get("/data/network")
def network_data(_: User, session: DbRead) -> dict[str, Any]:
    """JSON of the network page."""
    return {"nodes": service.network_summary(session)}


@router.get("/data/stock")
def stock_data(
    _: User, session: DbRead,
    node: str | None = None, category: str | None = None, risk: str | None = None,
    sort: str = "days_of_cover", desc: bool = False,
    page: Annotated[int, Query(ge=1)] = 1, per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """JSON of one stock page (server-side filter, sort and pagination)."""
    try:
        q = service.StockQuery(node or None, category or None, risk or None, sort, desc, page,
                               per_page)
    except ValueError as exc:
        raise InvalidQuantity(str(exc)) from None
    return service.stock_page(session, q)


@router.get("/data/fulfilment")
def fulfilment_data(_: User, session: DbRead, request: Request) -> dict[str, Any]:
    """JSON of the fulfilment page."""
    expiry = getattr(request.app.state.settings, "pickup_expiry_days", 5)
    return service.fulfilment_summary(session, expiry_days=expiry)


@router.get("/data/simulations")
def simulations_data(_: User, db: Db) -> dict[str, Any]:
    """JSON of the simulations page: the latest runs with progress and KPIs."""
    from api.simulations.schemas import SimulationOut
    from api.simulations.service import list_runs

    return {"runs": [SimulationOut.model_validate(r).model_dump(mode="json")
                     for r in list_runs(db)]}
