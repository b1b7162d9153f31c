"""Webhook delivery: one signed POST per event (Standard Webhooks 1.0 headers)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import httpx
from standardwebhooks import Webhook

from fulfilment.events.cloudevents import Event, matches

USER_AGENT = "omni-webhooks/1"
# Standard Webhooks' suggested schedule after the first try: 5 s, 5 min, 30 min, 2 h, 5 h,
# 10 h, 10 h (about 28 hours in all), then the event is dead-lettered.
DEFAULT_BACKOFF = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class DeliveryFailed(Exception):
    """The receiver did not accept the event (non-2xx, timeout or no connection)."""


def signed_headers(secret: str, msg_id: str, body: bytes,
                   now: dt.datetime | None = None) -> dict[str, str]:
    """webhook-id, webhook-timestamp and webhook-signature for one body."""
    now = now or dt.datetime.now(dt.UTC)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, now, body)}


@dataclass
class WebhookConsumer:
    """Delivers a subscription's events to its URL."""

    subscription: dict[str, Any]
    client: httpx.AsyncClient
    timeout: float = 10.0
    backoff: tuple[float, ...] = DEFAULT_BACKOFF
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = f"webhook:{self.subscription['id']}"

    @property
    def subscription_id(self) -> int:
        """The subscription's id."""
        return int(self.subscription["id"])

    def wants(self, event: Event) -> bool:
        """Whether the subscription's types and nodes select the event."""
        return matches(event, self.subscription["event_types"], self.subscription["nodes"])

    async def deliver(self, event: Event) -> None:
        """POST the event; raise DeliveryFailed unless the receiver answers 2xx."""
        await send(self.client, self.subscription["url"], self.subscription["secret"], event,
                   self.timeout)


async def send(client: httpx.AsyncClient, url: str, secret: str, event: Event,
               timeout: float) -> None:
    """One signed POST of one event; DeliveryFailed unless 2xx."""
    body = event.json()
    headers = signed_headers(secret, str(event.seq), body)
    headers["content-type"] = "application/cloudevents+json"
    headers["user-agent"] = USER_AGENT
    try:
        resp = await client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{exc.__class__.__name__}: {exc}") from exc
    if not 200 <= resp.status_code < 300:
        raise DeliveryFailed(f"HTTP {resp.status_code}: {resp.text[:200]}")
