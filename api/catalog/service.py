"""Queries behind the catalogue routes."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from data.models import Node, NodeKind, Sku


def list_nodes(session: Session, kind: NodeKind | None, state: str | None, limit: int,
               offset: int) -> tuple[list[Node], int]:
    """Nodes ordered by code, optionally of one kind or state, with the total count."""
    stmt = select(Node)
    if kind is not None:
        stmt = stmt.where(Node.kind == kind)
    if state is not None:
        stmt = stmt.where(Node.state == state.upper())
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Node.code).limit(limit).offset(offset)).all()
    return list(rows), total


def list_skus(session: Session, category: str | None, limit: int,
              offset: int) -> tuple[list[Sku], int]:
    """SKUs ordered by code, optionally of one category, with the total count."""
    stmt = select(Sku)
    if category is not None:
        stmt = stmt.where(Sku.category == category)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Sku.code).limit(limit).offset(offset)).all()
    return list(rows), total
