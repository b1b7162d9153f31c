"""Shared FastAPI dependencies: the database and sessions, built by the app factory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.settings import Settings
from data.db import Database


def get_db(request: Request) -> Database:
    """The Database the app factory opened."""
    return request.app.state.db


def get_settings_dep(request: Request) -> Settings:
    """The Settings the app factory read."""
    return request.app.state.settings


def read_session(db: Annotated[Database, Depends(get_db)]) -> Iterator[Session]:
    """A read-only session for GET routes."""
    with db.read_session() as session:
        yield session


DbRead = Annotated[Session, Depends(read_session)]
Db = Annotated[Database, Depends(get_db)]
AppSettings = Annotated[Settings, Depends(get_settings_dep)]
