"""The `omni` Typer application and its command groups (commands live in sibling modules)."""

from __future__ import annotations

import typer

app = typer.Typer(name="omni", help="Omnichannel inventory and fulfilment optimiser.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo network built from real US data.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(demo_app, name="demo")
