"""Order life cycle routes: the order, a node's tasks, and per-order or per-line transitions."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool

from allocation.lifecycle import Action
from api.auth.dependencies import require
from api.dependencies import AppSettings, Db, DbRead
from api.orders.schemas import OrderOut, TasksOut, TransitionIn
from api.validation import CODE_PARAM, ID_RULE, TEXT_PATTERN
from fulfilment import orders as service
from fulfilment.actors import Principal

router = APIRouter(tags=["orders"])
Reader = Annotated[Principal, Depends(require("orders:write", "store:act", "ops:read"))]
Actor = Annotated[Principal, Depends(require("orders:write", "store:act"))]
Canceller = Annotated[Principal, Depends(require("orders:write"))]
LineNo = Annotated[int, Path(ge=1, le=10_000)]
# New orders get ids matching ID_PATTERN; reading is lenient (any id without control
# characters, up to the column's 120) so orders created before that rule stay reachable.
OrderId = Annotated[str, Path(min_length=1, max_length=120, pattern=TEXT_PATTERN,
                              description=f"The order's id (new ids: {ID_RULE}).")]
NodeCode = Annotated[str, Path(**CODE_PARAM, description="Node code.")]


class NodeAction(StrEnum):
    """Transitions a node (or the order system on its behalf) reports for a line."""

    accept = "accept"
    reject = "reject"
    picked = "picked"
    shipped = "shipped"
    ready_for_pickup = "ready_for_pickup"
    collected = "collected"


@router.get("/orders/{order_id}")
def get_order(order_id: OrderId, session: DbRead, who: Reader) -> OrderOut:
    """The order: status, lines with their reservations (node, qty, method), history."""
    return OrderOut(**service.get_order(session, order_id, who))


@router.get("/nodes/{code}/tasks")
def get_tasks(code: NodeCode, session: DbRead, settings: AppSettings,
              who: Annotated[Principal, Depends(require("store:act", "ops:read"))]) -> TasksOut:
    """A node's work: lines to accept and pick, parcels to ship, pickups to stage and hand over."""
    return TasksOut(**service.node_tasks(session, code, who, settings.pickup_expiry_days))


async def _run(request: Request, db: Db, order_id: str, line_no: int | None, action: Action,
               body: TransitionIn | None, who: Principal) -> OrderOut:
    data = body.model_dump(mode="json") if body else {}
    out = await run_in_threadpool(service.transition, db, request.app.state.allocation, order_id,
                                  line_no, action, data, who)
    moved = out.pop("moved")
    request.app.state.metrics.transition(action.value, moved, data.get("reason"))
    return OrderOut(**out)


@router.post("/orders/{order_id}/cancel")
async def cancel_order(order_id: OrderId, request: Request, db: Db, who: Canceller,
                       body: TransitionIn | None = None) -> OrderOut:
    """Cancel every open line of the order; their stock returns to ATP."""
    return await _run(request, db, order_id, None, Action.cancel, body, who)


@router.post("/orders/{order_id}/lines/{line_no}/cancel")
async def cancel_line(order_id: OrderId, line_no: LineNo, request: Request, db: Db,
                      who: Canceller, body: TransitionIn | None = None) -> OrderOut:
    """Cancel one line; its stock returns to ATP."""
    return await _run(request, db, order_id, line_no, Action.cancel, body, who)


@router.post("/orders/{order_id}/{action}")
async def order_action(order_id: OrderId, action: NodeAction, request: Request, db: Db,
                       who: Actor, body: TransitionIn | None = None) -> OrderOut:
    """Apply a node's action to every open line of the order (a store key: its lines only)."""
    return await _run(request, db, order_id, None, Action(action.value), body, who)


@router.post("/orders/{order_id}/lines/{line_no}/{action}")
async def line_action(order_id: OrderId, line_no: LineNo, action: NodeAction, request: Request,
                      db: Db, who: Actor, body: TransitionIn | None = None) -> OrderOut:
    """Apply a node's action to one line: accept, reject (re-routes), picked, shipped, ..."""
    return await _run(request, db, order_id, line_no, Action(action.value), body, who)
