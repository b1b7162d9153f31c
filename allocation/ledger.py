"""The small ledger interface the allocation core decides on and commits through.

Two implementations: `MemoryLedger` here (replay and simulation) and the database ledger
in `data.stock_ledger` (the live service). Both raise `InsufficientStock` and write nothing
when any item of an all-or-nothing reservation cannot be had.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from allocation.errors import InsufficientStock, InvalidQuantity, UnknownReference

__all__ = ["Excluding", "InsufficientStock", "Ledger", "MemoryLedger", "OrderHold", "ReserveItem"]


@dataclass(frozen=True, slots=True)
class ReserveItem:
    """Reserve `qty` units of `sku` at `node` (codes) for an order line."""

    node: str
    sku: str
    qty: int
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class OrderHold:
    """One decided order to commit: the order, its decision and one item per (node, SKU)
    it takes units from (none when nothing could be sourced: the order is still recorded
    where the ledger records orders)."""

    order: Any  # allocation.network.Order
    decision: Any  # allocation.decision.Decision
    items: tuple[ReserveItem, ...]


class Ledger(Protocol):
    """What the allocation core needs from stock: read ATP and pick capacity, commit a
    decided order's holds atomically, release."""

    node_codes: Sequence[str]

    def atp(self, skus: Sequence[str]) -> np.ndarray:
        """Available-to-promise (>= 0), int64 array of shape (len(node_codes), len(skus))."""
        ...

    def capacity_left(self) -> np.ndarray | None:
        """Units each node can still pick today (None: no node is capped)."""
        ...

    def commit(self, hold: OrderHold) -> list[int]:
        """Hold every item or none (raise InsufficientStock); reservation ids, item order."""
        ...

    def reserve(self, items: Sequence[ReserveItem], *, reference: str) -> list[int]:
        """Reserve every item or none (raise InsufficientStock); return reservation ids."""
        ...

    def release(self, reservation_ids: Sequence[int]) -> None:
        """Give reserved units back to ATP."""
        ...


class Excluding:
    """A view of any ledger in which some nodes offer nothing (they rejected the order
    being re-routed): their ATP and pick capacity read as zero; reserving and releasing go
    through to the ledger."""

    def __init__(self, ledger: Ledger, rows: Sequence[int]) -> None:
        self.ledger = ledger
        self.rows = list(rows)
        self.node_codes = ledger.node_codes

    def atp(self, skus: Sequence[str]) -> np.ndarray:
        """The ledger's ATP with the excluded nodes at zero."""
        out = self.ledger.atp(skus)
        out[self.rows] = 0
        return out

    def capacity_left(self) -> np.ndarray | None:
        """The ledger's pick capacity left (if it keeps one) with the excluded nodes at zero."""
        left = getattr(self.ledger, "capacity_left", None)
        out = left() if callable(left) else None
        if out is not None:
            out = np.array(out, dtype=np.int64, copy=True)
            out[self.rows] = 0
        return out

    def commit(self, hold: OrderHold) -> list[int]:
        """Commit through the ledger."""
        return self.ledger.commit(hold)

    def reserve(self, items: Sequence[ReserveItem], *, reference: str) -> list[int]:
        """Reserve through the ledger."""
        return self.ledger.reserve(items, reference=reference)

    def release(self, reservation_ids: Sequence[int]) -> None:
        """Release through the ledger."""
        self.ledger.release(reservation_ids)


class MemoryLedger:
    """An in-memory ledger over dense arrays, for replay and simulation."""

    def __init__(
        self,
        node_codes: Sequence[str],
        sku_codes: Sequence[str],
        on_hand: np.ndarray,
        safety_stock: np.ndarray | None = None,
        pick_capacity: np.ndarray | None = None,
    ) -> None:
        self.node_codes = list(node_codes)
        self.sku_codes = list(sku_codes)
        self.node_index = {c: i for i, c in enumerate(self.node_codes)}
        self.sku_index = {c: j for j, c in enumerate(self.sku_codes)}
        shape = (len(self.node_codes), len(self.sku_codes))
        self.on_hand = np.array(on_hand, dtype=np.int64).reshape(shape)
        self.reserved = np.zeros(shape, dtype=np.int64)
        self.safety = (
            np.zeros(shape, dtype=np.int64)
            if safety_stock is None
            else np.array(safety_stock, dtype=np.int64).reshape(shape)
        )
        if (self.on_hand < 0).any() or (self.safety < 0).any():
            raise InvalidQuantity("expected on_hand >= 0 and safety_stock >= 0")
        # Units each node can still pick (None: uncapped); reservations use it up.
        self.pick_left = (
            None if pick_capacity is None else np.array(pick_capacity, dtype=np.int64).reshape(-1)
        )
        if self.pick_left is not None and (
            self.pick_left.shape != (shape[0],) or (self.pick_left < 0).any()
        ):
            raise InvalidQuantity("expected one pick_capacity >= 0 per node")
        self._reservations: dict[int, tuple[int, int, int]] = {}
        self._next_id = 1

    def _sku_cols(self, skus: Sequence[str]) -> np.ndarray:
        try:
            return np.fromiter((self.sku_index[s] for s in skus), dtype=np.int64, count=len(skus))
        except KeyError as exc:
            raise UnknownReference(f"unknown SKU {exc.args[0]!r}") from None

    def capacity_left(self) -> np.ndarray | None:
        """Pick capacity left per node, or None when no node is capped."""
        return None if self.pick_left is None else self.pick_left.copy()

    def receive(self, node: str, sku: str, qty: int) -> None:
        """A receipt: `qty` more units on hand at (node, SKU)."""
        if qty <= 0:
            raise InvalidQuantity(f"expected qty > 0, got {qty}")
        try:
            i, j = self.node_index[node], self.sku_index[sku]
        except KeyError as exc:
            raise UnknownReference(f"unknown node or SKU {exc.args[0]!r}") from None
        self.on_hand[i, j] += qty

    def atp_all(self) -> np.ndarray:
        """ATP of every (node, SKU), never negative."""
        return np.maximum(self.on_hand - self.reserved - self.safety, 0)

    def atp(self, skus: Sequence[str]) -> np.ndarray:
        """ATP for the given SKUs at every node, shape (nodes, len(skus))."""
        cols = self._sku_cols(skus)
        return np.maximum(
            self.on_hand[:, cols] - self.reserved[:, cols] - self.safety[:, cols], 0
        )

    def commit(self, hold: OrderHold) -> list[int]:
        """Hold the order's items, all or nothing (the memory ledger records no orders)."""
        return self.reserve(hold.items, reference=hold.order.id) if hold.items else []

    def reserve(self, items: Sequence[ReserveItem], *, reference: str) -> list[int]:
        """All-or-nothing reservation; raises InsufficientStock and changes nothing on failure."""
        need: dict[tuple[int, int], int] = {}
        for it in items:
            if it.qty <= 0:
                raise InvalidQuantity(f"expected qty > 0, got {it.qty} for {it.sku} at {it.node}")
            try:
                key = (self.node_index[it.node], self.sku_index[it.sku])
            except KeyError as exc:
                raise UnknownReference(f"unknown node or SKU {exc.args[0]!r}") from None
            need[key] = need.get(key, 0) + it.qty
        for (i, j), q in need.items():
            avail = int(self.on_hand[i, j] - self.reserved[i, j] - self.safety[i, j])
            if avail < q:
                raise InsufficientStock(self.node_codes[i], self.sku_codes[j], q, max(avail, 0))
        if self.pick_left is not None:
            per_node: dict[int, int] = {}
            for (i, _), q in need.items():
                per_node[i] = per_node.get(i, 0) + q
            for i, q in per_node.items():
                if q > self.pick_left[i]:
                    raise InsufficientStock(self.node_codes[i], "*", q, int(self.pick_left[i]),
                                            what="pick capacity")
        ids = []
        for it in items:
            i, j = self.node_index[it.node], self.sku_index[it.sku]
            self.reserved[i, j] += it.qty
            if self.pick_left is not None:
                self.pick_left[i] -= it.qty
            rid = self._next_id
            self._next_id += 1
            self._reservations[rid] = (i, j, it.qty)
            ids.append(rid)
        return ids

    def release(self, reservation_ids: Sequence[int]) -> None:
        """Release open reservations (unknown ids raise UnknownReference)."""
        for rid in reservation_ids:
            if rid not in self._reservations:
                raise UnknownReference(f"no open reservation {rid}")
        for rid in reservation_ids:
            i, j, q = self._reservations.pop(rid)
            self.reserved[i, j] -= q
            if self.pick_left is not None:
                self.pick_left[i] += q  # never picked: the labour is free again

    def sell(self, node: str, sku: str, qty: int) -> int:
        """A walk-in sale off the shelf (on_hand - reserved, safety included); units sold."""
        i, j = self.node_index[node], self.sku_index[sku]
        sold = int(min(max(qty, 0), max(self.on_hand[i, j] - self.reserved[i, j], 0)))
        self.on_hand[i, j] -= sold
        return sold

    def consume(self, reservation_ids: Sequence[int]) -> None:
        """Reserved units leave the node (shipped or collected)."""
        for rid in reservation_ids:
            i, j, q = self._reservations.pop(rid)
            self.reserved[i, j] -= q
            self.on_hand[i, j] -= q
