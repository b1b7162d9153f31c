"""Request and response models of /v1/simulations."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.validation import MAX_SEED, text

Toml = text(20_000)


class SimulationIn(BaseModel):
    """Start a what-if: a committed scenario by name, or a scenario's TOML text."""

    model_config = ConfigDict(extra="forbid")

    scenario: str | None = Field(default=None, pattern=r"^[a-z0-9_]{1,120}$",
                                 description="Name of a scenario in simulations/scenarios.")
    toml: Toml | None = Field(default=None, description="Scenario TOML.")
    seed: int = Field(default=1, ge=0, le=MAX_SEED)

    @model_validator(mode="after")
    def _one(self) -> SimulationIn:
        if (self.scenario is None) == (self.toml is None):
            raise ValueError("give exactly one of scenario (a name) or toml (its text)")
        return self


class SimulationOut(BaseModel):
    """A simulation run: progress while it runs, KPIs per policy and the bound when done."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    scenario: str
    seed: int
    status: str
    progress: float
    created_at: dt.datetime
    finished_at: dt.datetime | None
    seconds: float | None
    bound: float | None
    kpis: list[dict[str, Any]] | None
    error: str | None
    started_by: str | None
