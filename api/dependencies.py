"""Shared FastAPI dependencies: the database and sessions, built by the app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.settings import Settings
from data.db import Database

# Plain `def` dependencies run on the thread pool, one hop each per request: these only
# read app state, so they are coroutines and run on the event loop.


async def get_db(request: Request) -> Database:
    """The Database the app factory opened."""
    return request.app.state.db


async def get_settings_dep(request: Request) -> Settings:
    """The Settings the app factory read."""
    return request.app.state.settings


async def read_session(db: Annotated[Database, Depends(get_db)]) -> AsyncIterator[Session]:
    """A read-only session for GET routes (it connects on first use, in the route's thread)."""
    with db.read_session() as session:
        yield session


DbRead = Annotated[Session, Depends(read_session)]
Db = Annotated[Database, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
