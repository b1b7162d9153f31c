"""The change feed: GET /v1/events, the SSE stream, webhook subscriptions and dead letters."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse, ServerSentEvent

from api.auth.dependencies import require
from api.dependencies import AppSettings, Db
from api.events.schemas import TYPE_PATTERN, EventsPage, WebhookIn, WebhookPatch
from api.validation import CODE_PARAM
from fulfilment.events import feed
from fulfilment.events.cloudevents import PREFIX

router = APIRouter(tags=["events"])
READERS = ("ops:read", "admin", "planner", "orders:write", "inventory:write")
read = [Depends(require(*READERS))]
admin = [Depends(require("admin"))]
MAX_SEQ = 10**15  # far beyond any stream; keeps after + page inside a 64-bit integer
SubId = Annotated[int, Path(ge=1, le=2**31 - 1)]
TypeQ = Annotated[list[Annotated[str, Query(pattern=TYPE_PATTERN)]] | None, Query(
    alias="type", description="Event types without com.omni. (repeat; order.* for a family). "
    "Default: all.")]
NodeQ = Annotated[list[Annotated[str, Query(**CODE_PARAM)]] | None, Query(
    alias="node", description="Only these node codes.")]


@router.get("/events", dependencies=read, response_model=EventsPage)
async def list_events(
    db: Db, types: TypeQ = None, nodes: NodeQ = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_SEQ, description=(
        "Events after this sequence (0: from the oldest kept). Default: the head."))] = None,
    limit: Annotated[int, Query(ge=1, le=feed.MAX_PAGE)] = 100,
) -> dict[str, Any]:
    """A page of the stream (CloudEvents), the cursor to continue from and the head."""
    await run_in_threadpool(feed.check_filters, types, nodes, db)
    return await run_in_threadpool(feed.page, db, after, limit, types, nodes)


@router.get("/events/stream", dependencies=read, response_class=Response, responses={
    200: {"content": {"text/event-stream": {}},
          "description": "Server-Sent Events: `id` is the sequence, `event` the type, "
                         "`data` the CloudEvent."}})
async def stream_events(
    request: Request, db: Db, settings: AppSettings, types: TypeQ = None, nodes: NodeQ = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_SEQ,
                                       description="Resume after this sequence.")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID",
                                                pattern=r"^[0-9]{1,15}$")] = None,
) -> EventSourceResponse:
    """Live events as Server-Sent Events; a reconnect with Last-Event-ID misses nothing."""
    if after is None and last_event_id is not None:
        after = int(last_event_id)
    await run_in_threadpool(feed.check_filters, types, nodes, db)
    if after is None:
        await run_in_threadpool(feed.catch_up, db)
        after = await run_in_threadpool(feed.outbox.head, db)
    await run_in_threadpool(feed.check_retained, db, after)
    poll = settings.relay_poll_seconds

    async def events(cursor: int) -> AsyncIterator[ServerSentEvent]:
        while True:
            await run_in_threadpool(feed.catch_up, db)
            found, nxt = await run_in_threadpool(feed.scan, db, cursor, 500, types, nodes)
            for e in found:
                yield ServerSentEvent(data=e.json().decode(), id=str(e.seq),
                                      event=PREFIX + e.type)
            if nxt == cursor:
                await asyncio.sleep(poll)
            cursor = nxt

    return EventSourceResponse(events(after), ping=15)


@router.get("/events/status", dependencies=[Depends(require("admin", "ops:read"))])
async def events_status(db: Db) -> dict[str, Any]:
    """Whether changes are recorded, the stream's head and each consumer's cursor."""
    return await run_in_threadpool(feed.status, db)


@router.post("/webhooks", dependencies=admin, status_code=201)
async def create_webhook(body: WebhookIn, db: Db) -> dict[str, Any]:
    """Subscribe a URL; the answer holds the signing secret (shown only this once)."""
    return await run_in_threadpool(feed.create_subscription, db, body.model_dump())


@router.get("/webhooks", dependencies=admin)
async def list_webhooks(db: Db) -> list[dict[str, Any]]:
    """Every subscription with its cursor, retry state and dead-letter count."""
    return await run_in_threadpool(feed.subs.listing, db)


@router.get("/webhooks/{subscription_id}", dependencies=admin)
async def get_webhook(subscription_id: SubId, db: Db) -> dict[str, Any]:
    """One subscription with its delivery state."""
    return await run_in_threadpool(feed.get_subscription, db, subscription_id)


@router.patch("/webhooks/{subscription_id}", dependencies=admin)
async def patch_webhook(subscription_id: SubId, body: WebhookPatch, db: Db) -> dict[str, Any]:
    """Pause (its events wait) or resume a subscription."""
    return await run_in_threadpool(feed.set_active, db, subscription_id, body.active)


@router.delete("/webhooks/{subscription_id}", dependencies=admin, status_code=204)
async def delete_webhook(subscription_id: SubId, db: Db) -> Response:
    """Remove a subscription, its cursor and dead letters."""
    await run_in_threadpool(feed.delete_subscription, db, subscription_id)
    return Response(status_code=204)


@router.get("/webhooks/{subscription_id}/dead-letters", dependencies=admin)
async def webhook_dead_letters(
    subscription_id: SubId, db: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Events the subscription never accepted in the retry window, newest first."""
    return await run_in_threadpool(feed.dead_letters, db, subscription_id, limit)


@router.post("/webhooks/{subscription_id}/dead-letters/{dead_letter_id}/redeliver",
             dependencies=admin)
async def redeliver_dead_letter(subscription_id: SubId, dead_letter_id: SubId, db: Db,
                                settings: AppSettings) -> dict[str, Any]:
    """Send a dead letter again now, with its original webhook-id."""
    return await run_in_threadpool(feed.redeliver, db, subscription_id, dead_letter_id,
                                   settings.webhook_timeout_seconds)
