"""The order-line life cycle as a pure table: which action may move a line from which state.

```
allocated | partially_allocated --accept--> accepted --picked--> picked
    picked --shipped--> shipped                                   (ship orders)
    picked --ready_for_pickup--> ready_for_pickup --collected--> collected
                                 ready_for_pickup --expire--> expired  (stock returns)
allocated | partially_allocated | accepted --reject--> re-routed: allocated,
    partially_allocated or unfilled, whichever the next best source gives
any open state --cancel--> cancelled                                  (stock returns)
```
shipped, collected, expired and cancelled are final. No database here: the table is data.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from allocation.errors import InvalidState


class LineState(StrEnum):
    """Where one order line is in its life."""

    allocated = "allocated"
    partially_allocated = "partially_allocated"
    unfilled = "unfilled"
    accepted = "accepted"
    picked = "picked"
    shipped = "shipped"
    ready_for_pickup = "ready_for_pickup"
    collected = "collected"
    expired = "expired"
    cancelled = "cancelled"


class Action(StrEnum):
    """What a node, an order system or the sweeper does to a line."""

    accept = "accept"
    reject = "reject"
    picked = "picked"
    shipped = "shipped"
    ready_for_pickup = "ready_for_pickup"
    collected = "collected"
    expire = "expire"
    cancel = "cancel"


class RejectReason(StrEnum):
    """Why a node refuses a line; the first two mean the stock is not there."""

    not_found = "not_found"
    damaged = "damaged"
    no_capacity = "no_capacity"


S = LineState
SOURCED = frozenset({S.allocated, S.partially_allocated})
FINAL = frozenset({S.shipped, S.collected, S.expired, S.cancelled})
OPEN = frozenset(S) - FINAL
# Reasons that mean units are missing from the shelf: recorded as a ledger adjustment.
STOCK_LOST = frozenset({RejectReason.not_found, RejectReason.damaged})

# action -> (states it may start from, state it ends in; None: decided by the re-route)
TRANSITIONS: dict[Action, tuple[frozenset[LineState], LineState | None]] = {
    Action.accept: (SOURCED, S.accepted),
    Action.reject: (SOURCED | {S.accepted}, None),
    Action.picked: (frozenset({S.accepted}), S.picked),
    Action.shipped: (frozenset({S.picked}), S.shipped),
    Action.ready_for_pickup: (frozenset({S.picked}), S.ready_for_pickup),
    Action.collected: (frozenset({S.ready_for_pickup}), S.collected),
    Action.expire: (frozenset({S.ready_for_pickup}), S.expired),
    Action.cancel: (OPEN, S.cancelled),
}
# Actions that only make sense for one delivery method of the order.
METHOD_ONLY: dict[Action, str] = {
    Action.shipped: "ship",
    Action.ready_for_pickup: "pickup",
    Action.collected: "pickup",
    Action.expire: "pickup",
}


def allowed(state: str, action: Action) -> bool:
    """True when `action` may be applied to a line in `state`."""
    return state in TRANSITIONS[action][0]


def check(state: str, action: Action, method: str, line: str = "line") -> LineState | None:
    """The state `action` leads to from `state`, or raise InvalidState (a 409)."""
    need = METHOD_ONLY.get(action)
    if need is not None and need != method:
        raise InvalidState(f"{line}: {action.value} applies to {need} orders, this one is "
                           f"{method}", state=state, action=action.value)
    if not allowed(state, action):
        starts = sorted(s.value for s in TRANSITIONS[action][0])
        raise InvalidState(f"{line} is {state}: {action.value} needs one of {', '.join(starts)}",
                           state=state, action=action.value, allowed_from=starts)
    return TRANSITIONS[action][1]


def sourced_state(reserved: int, qty: int) -> LineState:
    """The state of a line after (re-)sourcing `reserved` of its `qty` units."""
    if reserved >= qty:
        return S.allocated
    return S.unfilled if reserved == 0 else S.partially_allocated


def order_status(states: Iterable[str]) -> str:
    """The coarse order status implied by its line states."""
    states = list(states)
    if all(s in {S.cancelled, S.expired} for s in states):
        return "cancelled"
    if all(s in FINAL for s in states):
        return "fulfilled"
    if all(s == S.unfilled for s in states if s not in FINAL):
        return "open"
    if any(s in {S.partially_allocated, S.unfilled} for s in states):
        return "partially_allocated"
    return "allocated"
