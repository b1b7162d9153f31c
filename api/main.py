"""The app factory: settings, engines and routers are built here, never at import."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api import problems
from api.allocations.router import router as allocations_router
from api.auth.dependencies import ANY_SCOPE, require
from api.catalog.router import router as catalog_router
from api.dashboard.router import router as dashboard_router
from api.events.router import router as events_router
from api.forecasts.router import router as forecasts_router
from api.health.router import router as health_router
from api.inventory.router import router as inventory_router
from api.observability import logs, middleware
from api.observability.metrics import Metrics
from api.observability.router import router as metrics_router
from api.orders.router import router as orders_router
from api.settings import Settings, get_settings, relay_params
from api.simulations.router import router as simulations_router
from data.db import Checkpointer, Database
from fulfilment.allocations import AllocationContext
from fulfilment.orders import sweep_pickups
from fulfilment.simulations import SimulationJobs

log = logging.getLogger("omni.api")


async def _sweep_forever(app: FastAPI, settings: Settings) -> None:
    """Expire uncollected pickups every `sweep_interval_seconds` (a lifespan task)."""
    while True:
        await asyncio.sleep(settings.sweep_interval_seconds)
        try:
            done = await run_in_threadpool(sweep_pickups, app.state.db,
                                           settings.pickup_expiry_days)
            app.state.metrics.expired.inc(len(done))
        except Exception:  # keep sweeping: one bad pass must not stop the next
            log.exception("pickup sweep failed")


async def _reoptimize_forever(app: FastAPI, settings: Settings) -> None:
    """Re-plan the backlog every `reoptimize_interval_seconds` (a lifespan task)."""
    from allocation.reoptimize import ReoptParams
    from fulfilment.reoptimize import reoptimize_backlog

    params = ReoptParams(threshold=settings.reoptimize_threshold,
                         time_limit=settings.reoptimize_time_limit)
    while True:
        await asyncio.sleep(settings.reoptimize_interval_seconds)
        try:
            await run_in_threadpool(reoptimize_backlog, app.state.db, app.state.allocation,
                                    params)
        except Exception:  # keep the schedule: one bad pass must not stop the next
            log.exception("backlog re-optimisation failed")


def _freeze_survivors(phase: str, info: dict[str, int]) -> None:
    """After a full collection, move what survived out of the next ones (gc.freeze).

    Caches and pools grow under load into hundreds of thousands of long-lived objects, and
    each full pass over them held the GIL for 40-90 ms (measured at 700 orders/s). What
    survived a full pass is live; freezing it means only a cycle it later forms is never
    collected, which the service's request objects (freed by reference counting) never do.
    """
    if phase == "stop" and info.get("generation") == 2:
        gc.freeze()


def _warm(app: FastAPI) -> None:
    """The ZIP table, zone matrix and network, before the first request needs them."""
    from data.reference import zip_location

    try:
        zip_location("10001")
        app.state.allocation.zones()
        app.state.allocation.network()
    except Exception:  # an empty or unmigrated database: /ready says so, requests will too
        log.warning("not everything loaded at start-up", exc_info=True)


def _broker(settings: Settings) -> list:  # type: ignore[type-arg]
    """The JetStream publisher when a NATS URL is set."""
    if not settings.nats_url:
        return []
    from fulfilment.events.nats import NatsPublisher

    return [NatsPublisher(settings.nats_url)]


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the FastAPI application for the given settings (or the environment's)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = db or Database.from_url(settings.database_url)
        app.state.allocation = AllocationContext(app.state.db,
                                                 group_commit=settings.group_commit)
        app.state.skus = app.state.allocation.skus
        app.state.simulations = SimulationJobs(app.state.db.url)
        logs.configure(settings.log_level)
        sweeper = (asyncio.create_task(_sweep_forever(app, settings))
                   if settings.sweep_interval_seconds > 0 else None)
        if settings.forecast_prices:
            from allocation.forecast_aware import ForecastParams
            from fulfilment.pricing import PricingParams, ServicePricing

            refresh = ForecastParams(resolve_every=settings.price_refresh_orders,
                                     refresh_seconds=settings.price_refresh_seconds,
                                     max_iterations=50)
            app.state.allocation.pricing = ServicePricing(
                app.state.db, app.state.allocation, PricingParams(refresh=refresh),
                on_error=lambda exc: app.state.metrics.price_failures.inc())
            app.state.allocation.pricing.start()
        reoptimizer = (asyncio.create_task(_reoptimize_forever(app, settings))
                       if settings.reoptimize_interval_seconds > 0 else None)
        relay_stop, relay_task = asyncio.Event(), None
        if settings.relay:
            from fulfilment.events.relay import Relay

            app.state.relay = Relay(app.state.db, relay_params(settings),
                                    extra=_broker(settings),
                                    on_outcome=app.state.metrics.event)
            relay_task = asyncio.create_task(app.state.relay.run(relay_stop))
        feed_task = None
        if settings.nats_url and settings.nats_feed:
            from fulfilment.events.nats import consume_feed

            feed_task = asyncio.create_task(consume_feed(
                app.state.db, settings.nats_url, relay_stop,
                max_events=settings.max_batch_events))
        # Load what the first requests would otherwise load on the request path.
        checkpointer = None
        if app.state.db.sqlite and settings.wal_checkpoint_seconds > 0:
            checkpointer = Checkpointer(app.state.db, settings.wal_checkpoint_seconds)
            checkpointer.start()
        # A thread waiting for the GIL (the writer, after the event loop parsed a request)
        # gets it within 1 ms instead of Python's default 5 ms.
        sys.setswitchinterval(0.001)
        await run_in_threadpool(_warm, app)
        # What start-up built lives as long as the process: keep it out of every GC pass
        # (a full pass over it stalled requests by tens of milliseconds).
        gc.freeze()
        gc.callbacks.append(_freeze_survivors)
        yield
        if _freeze_survivors in gc.callbacks:
            gc.callbacks.remove(_freeze_survivors)
        relay_stop.set()
        for task in (relay_task, feed_task):
            if task is None:
                continue
            try:
                await asyncio.wait_for(task, 5)
            except (TimeoutError, asyncio.CancelledError):
                task.cancel()
        for consumer in app.state.relay.extra if relay_task is not None else ():
            await consumer.close()
        if sweeper is not None:
            sweeper.cancel()
        if reoptimizer is not None:
            reoptimizer.cancel()
        if app.state.allocation.pricing is not None:
            app.state.allocation.pricing.stop()
        app.state.simulations.shutdown()
        if app.state.allocation.writer is not None:
            app.state.allocation.writer.stop()
        if checkpointer is not None:
            checkpointer.stop()
        if db is None:
            app.state.db.dispose()

    app = FastAPI(
        title="Omni fulfilment optimiser",
        version="0.1.0",
        summary="Least-cost sourcing, one stock ledger, forecasts and what-if simulation.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    problems.install(app)

    # Outermost: times and logs every request; then the body limit.
    middleware.install(app, app.state.metrics, settings.max_body_bytes)

    app.include_router(health_router)
    # Every /v1 route checks its scope before it reads a body or writes anything; the
    # problem answers each can send are part of its OpenAPI contract.
    reads = problems.responses(401, 403, 404, 413, 422)
    writes = problems.responses(400, 401, 403, 404, 409, 413, 422)
    app.include_router(catalog_router, prefix="/v1", dependencies=[Depends(require(*ANY_SCOPE))],
                       responses=reads)
    app.include_router(inventory_router, prefix="/v1", responses=writes)  # scopes per route
    app.include_router(allocations_router, prefix="/v1",
                       dependencies=[Depends(require("orders:write"))], responses=writes)
    app.include_router(forecasts_router, prefix="/v1",
                       dependencies=[Depends(require("planner", "ops:read"))], responses=reads)
    app.include_router(orders_router, prefix="/v1", responses=writes)
    app.include_router(metrics_router, responses=problems.responses(401, 403))
    app.include_router(simulations_router, prefix="/v1", responses=writes)
    app.include_router(events_router, prefix="/v1", responses=writes)  # scopes per route
    app.include_router(dashboard_router)

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return Response(status_code=307, headers={"location": "/docs"})

    return app
