"""Outbox rows as CloudEvents 1.0 (structured JSON), the one payload every channel gets.

Types (prefix `com.omni.`): `availability.changed` (a position's stock before and after,
its ATP before and after and the SKU's network ATP at that point of the stream),
`availability.resync` (consumers drop what they hold: a snapshot of every position with
stock follows), `order.allocated`, `order.rerouted`, `order.pickup_ready`,
`order.expired`, `order.cancelled` and `order.line_state_changed` (every other step).
`id` is the stream sequence (also in `sequence`); `partitionkey` names the item whose
events arrive in order (`stock/<node>/<sku>` or `order/<id>`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

PREFIX = "com.omni."
SOURCE = "/omni"
EVENT_TYPES = (
    "availability.changed", "availability.resync", "order.allocated", "order.rerouted",
    "order.pickup_ready", "order.expired", "order.cancelled", "order.line_state_changed",
)
_ORDER_TYPES = {"allocate": "order.allocated", "ready_for_pickup": "order.pickup_ready",
                "expire": "order.expired", "cancel": "order.cancelled",
                "reoptimize": "order.rerouted"}


@dataclass(frozen=True, slots=True)
class Event:
    """One stream event: its sequence, short type, node code, partition key and body."""

    seq: int
    type: str  # without the com.omni. prefix
    node: str | None
    partition: str
    created_ts: float
    body: dict[str, Any]

    def json(self) -> bytes:
        """The CloudEvent as compact JSON bytes."""
        return orjson.dumps(self.body)


def _atp(on_hand: int | None, reserved: int | None, safety: int | None) -> int | None:
    if on_hand is None:
        return None
    return max(0, on_hand - (reserved or 0) - (safety or 0))


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat().replace("+00:00", "Z")


def _time(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite keeps naive UTC text
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _order_type(action: str | None, detail: dict[str, Any] | None) -> str:
    if action == "reject" and detail and detail.get("rerouted_to"):
        return "order.rerouted"
    return _ORDER_TYPES.get(action or "", "order.line_state_changed")


def from_row(row: Sequence[Any]) -> Event:
    """The event of one row of `data.outbox.ROW_SQL`."""
    (seq, kind, ts, node, sku, o_on, n_on, o_res, n_res, o_ss, n_ss, net, order, line_no,
     line_sku, action, frm, to, actor, detail, occurred, channel, method) = row
    seq = int(seq)
    if kind == "stock":
        type_ = "availability.changed"
        partition = f"stock/{node}/{sku}"
        data: dict[str, Any] = {
            "node": node, "sku": sku,
            "atp": {"old": _atp(o_on, o_res, o_ss), "new": _atp(n_on, n_res, n_ss)},
            "on_hand": {"old": o_on, "new": n_on},
            "reserved": {"old": o_res, "new": n_res},
            "safety_stock": {"old": o_ss, "new": n_ss},
            "network_atp": None if net is None else int(net),
            "snapshot": o_on is None,
        }
        subject = f"nodes/{node}/skus/{sku}"
    elif kind == "order":
        if isinstance(detail, str):
            detail = json.loads(detail)
        type_ = _order_type(action, detail)
        partition = f"order/{order}"
        data = {"order": order, "line": line_no, "sku": line_sku, "action": action,
                "from_state": frm, "to_state": to, "node": node, "actor": actor,
                "detail": detail, "occurred_at": _time(occurred), "channel": channel,
                "method": method}
        subject = f"orders/{order}"
    else:
        type_, partition, subject, data = "availability.resync", "stock", "stock", {}
    body = {"specversion": "1.0", "id": str(seq), "source": SOURCE, "type": PREFIX + type_,
            "subject": subject, "time": _iso(float(ts)), "datacontenttype": "application/json",
            "sequence": str(seq), "partitionkey": partition, "data": data}
    return Event(seq, type_, node, partition, float(ts), body)


def matches(event: Event, types: Iterable[str], nodes: Iterable[str] | None) -> bool:
    """Whether a subscription to `types` (exact, `order.*` or `*`) and `nodes` wants it."""
    wanted = any(t in ("*", event.type) or (t.endswith(".*") and event.type.startswith(t[:-1]))
                 for t in types)
    if not wanted:
        return False
    # Order steps without a node (an allocation's lines) reach every node filter.
    if nodes is None or event.node is None:
        return True
    return event.node in set(nodes)


def valid_type_pattern(pattern: str) -> bool:
    """Whether a subscription's type pattern names at least one event type."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return any(t.startswith(pattern[:-1]) for t in EVENT_TYPES)
    return pattern in EVENT_TYPES
