"""`omni relay`, `omni webhooks ...`, `omni outbox ...` and `omni feed-consume`: the change feed."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from api.cli.app import app

webhooks_app = typer.Typer(help="Webhook subscriptions of the change feed.",
                           no_args_is_help=True)
outbox_app = typer.Typer(help="The outbox that records every change.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(outbox_app, name="outbox")


def _db():  # type: ignore[no-untyped-def]
    from api.settings import get_settings
    from data.db import Database

    return Database.from_url(get_settings().database_url)


@contextmanager
def _opened() -> Iterator[Any]:
    """The configured database for one command; a domain error is a usage error."""
    from allocation.errors import DomainError

    db = _db()
    try:
        yield db
    except DomainError as exc:
        raise typer.BadParameter(exc.detail) from exc
    finally:
        db.dispose()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


@app.command("relay")
def relay(
    nats: str | None = typer.Option(None, help="Also publish to NATS JetStream at this URL "
                                    "(default: OMNI_NATS_URL)."),
    webhooks: bool = typer.Option(True, help="Deliver webhook subscriptions."),
) -> None:
    """Sequence the outbox and deliver the stream until stopped (several may run at once)."""
    from api.settings import get_settings, relay_params
    from fulfilment.events.relay import Relay

    settings = get_settings()
    params = relay_params(settings)
    url = nats or settings.nats_url
    db = _db()

    async def main() -> None:
        extra = []
        if url:
            from fulfilment.events.nats import NatsPublisher

            extra.append(NatsPublisher(url))
        from dataclasses import replace

        r = Relay(db, replace(params, webhooks=webhooks), extra=extra)
        typer.echo(f"relay {r.owner}: delivering (Ctrl-C stops)", err=True)
        try:
            await r.run(_stop_on_signals())
        finally:
            for consumer in extra:
                await consumer.close()
        typer.echo(f"relay stopped: {r.stats}", err=True)

    try:
        asyncio.run(main())
    finally:
        db.dispose()


@app.command("feed-consume")
def feed_consume(
    nats: str | None = typer.Option(None, help="NATS URL (default: OMNI_NATS_URL)."),
) -> None:
    """Apply POS/receipt feed events published to JetStream (omni.feed.>) until stopped."""
    from api.settings import get_settings
    from fulfilment.events.nats import consume_feed

    settings = get_settings()
    url = nats or settings.nats_url
    if not url:
        raise typer.BadParameter("give --nats or set OMNI_NATS_URL")
    db = _db()

    async def main() -> None:
        result = await consume_feed(db, url, _stop_on_signals(),
                                    max_events=settings.max_batch_events)
        typer.echo(f"feed consumer stopped: {result}", err=True)

    try:
        asyncio.run(main())
    finally:
        db.dispose()


@webhooks_app.command("add")
def webhooks_add(
    url: str = typer.Argument(..., help="http(s) URL receiving one POST per event."),
    event_type: list[str] = typer.Option(["*"], "--type", help="Event type, e.g. "
                                         "availability.changed or order.* (repeatable)."),
    node: list[str] = typer.Option([], "--node", help="Only these node codes (repeatable)."),
    description: str | None = typer.Option(None),
    oldest: bool = typer.Option(False, help="Start from the oldest event kept, not now."),
) -> None:
    """Subscribe a URL; prints the signing secret once."""
    from fulfilment.events import feed

    with _opened() as db:
        out = feed.create_subscription(db, {
            "url": url, "event_types": event_type, "nodes": node or None,
            "description": description, "start": "oldest" if oldest else "now"})
    typer.echo(f"subscription {out['id']} -> {out['url']} {out['event_types']}; "
               "signing secret (shown once):", err=True)
    typer.echo(out["secret"])


@webhooks_app.command("list")
def webhooks_list() -> None:
    """Subscriptions with their cursor, retry state and dead letters."""
    from data import webhooks as subs

    with _opened() as db:
        for s in subs.listing(db):
            d = s["delivery"]
            state = "active" if s["active"] else "paused"
            typer.echo(f"{s['id']}  {s['url']}  {s['event_types']}  nodes={s['nodes']}  "
                       f"{state}  cursor={d['cursor']} delivered={d['delivered']} "
                       f"attempts={d['attempts']} dead={d['dead_letters']}"
                       + (f"  last error: {d['last_error']}" if d["last_error"] else ""))


def _set(subscription_id: int, active: bool) -> None:
    from fulfilment.events import feed

    with _opened() as db:
        feed.set_active(db, subscription_id, active)


@webhooks_app.command("pause")
def webhooks_pause(subscription_id: int) -> None:
    """Stop delivering to a subscription (its events wait)."""
    _set(subscription_id, False)


@webhooks_app.command("resume")
def webhooks_resume(subscription_id: int) -> None:
    """Deliver to a paused subscription again, from where it stopped."""
    _set(subscription_id, True)


@webhooks_app.command("remove")
def webhooks_remove(subscription_id: int) -> None:
    """Delete a subscription with its cursor and dead letters."""
    from fulfilment.events import feed

    with _opened() as db:
        feed.delete_subscription(db, subscription_id)


@webhooks_app.command("dead-letters")
def webhooks_dead_letters(subscription_id: int | None = typer.Argument(None)) -> None:
    """Events never accepted within the retry window (of one subscription or all)."""
    from data import webhooks as subs

    with _opened() as db:
        for d in subs.dead_letters(db, subscription_id, 1000):
            typer.echo(json.dumps(d, default=str))


@webhooks_app.command("redeliver")
def webhooks_redeliver(subscription_id: int, dead_letter_id: int) -> None:
    """Send a dead letter again now (same webhook-id)."""
    from fulfilment.events import feed

    with _opened() as db:
        out = feed.redeliver(db, subscription_id, dead_letter_id)
    typer.echo(json.dumps(out))
    if not out["delivered"]:
        raise typer.Exit(1)


@outbox_app.command("status")
def outbox_status() -> None:
    """Whether changes are recorded, the stream's head and each consumer's cursor."""
    from fulfilment.events import feed

    with _opened() as db:
        typer.echo(json.dumps(feed.status(db), indent=2, default=str))


@outbox_app.command("off")
def outbox_off() -> None:
    """Stop recording changes (bulk loads); consumers hear nothing of them."""
    from data import outbox

    with _opened() as db:
        outbox.disable(db)


@outbox_app.command("on")
def outbox_on() -> None:
    """Record changes again; the stream restarts with a snapshot of every position."""
    from data import outbox

    with _opened() as db:
        outbox.enable(db)


@outbox_app.command("prune")
def outbox_prune(keep_days: float = typer.Option(7.0, min=0)) -> None:
    """Delete events every consumer has passed and older than --keep-days."""
    from data import outbox

    with _opened() as db:
        typer.echo(f"pruned {outbox.prune(db, keep_days * 86400)} events")
