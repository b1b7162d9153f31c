"""GET /v1/nodes and /v1/skus."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.catalog import service
from api.catalog.schemas import NodeOut, Page, SkuOut
from api.dependencies import DbRead
from api.validation import TEXT_PATTERN
from data.models import NodeKind

router = APIRouter(tags=["catalogue"])
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]
# Bounded: a larger offset overflows the database integer (a 500), and returns nothing anyway.
Offset = Annotated[int, Query(ge=0, le=2**31 - 1, description="Rows to skip.")]


@router.get("/nodes")
def nodes(session: DbRead, kind: NodeKind | None = None,
          state: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2}$")] = None,
          limit: Limit = 100, offset: Offset = 0) -> Page[NodeOut]:
    """List DCs and stores."""
    rows, total = service.list_nodes(session, kind, state, limit, offset)
    return Page[NodeOut](items=[NodeOut.model_validate(r) for r in rows], total=total,
                         limit=limit, offset=offset)


@router.get("/skus")
def skus(session: DbRead,
         category: Annotated[str | None, Query(max_length=60, pattern=TEXT_PATTERN)] = None,
         limit: Limit = 100,
         offset: Offset = 0) -> Page[SkuOut]:
    """List the catalogue."""
    rows, total = service.list_skus(session, category, limit, offset)
    return Page[SkuOut](items=[SkuOut.model_validate(r) for r in rows], total=total,
                        limit=limit, offset=offset)
