"""Command-line entry point `omni`: importing the command modules registers their commands."""

from __future__ import annotations

from api.cli import core as _core  # noqa: F401  (serve, db upgrade)
from api.cli import demo as _demo  # noqa: F401
from api.cli import events as _events  # noqa: F401
from api.cli import forecast as _forecast  # noqa: F401
from api.cli import forecast_network as _forecast_network  # noqa: F401
from api.cli import keys as _keys  # noqa: F401
from api.cli import orders as _orders  # noqa: F401
from api.cli import reoptimize as _reoptimize  # noqa: F401
from api.cli import replay as _replay  # noqa: F401
from api.cli import replay_gen as _replay_gen  # noqa: F401
from api.cli import simulate as _simulate  # noqa: F401
from api.cli.app import app


def main() -> None:
    """Run the `omni` command line."""
    app()
