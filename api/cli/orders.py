"""`omni sweep-pickups`: expire uncollected pickups and return their stock."""

from __future__ import annotations

import typer

from api.cli.app import app


@app.command("sweep-pickups")
def sweep_pickups_cmd(
    days: float = typer.Option(0, min=0, help="Expire pickups ready for longer than this many "
                               "days (default: OMNI_PICKUP_EXPIRY_DAYS)."),
) -> None:
    """Release the stock of pickups not collected in time (the service also does this)."""
    from api.settings import get_settings
    from data.db import Database
    from fulfilment.orders import sweep_pickups

    settings = get_settings()
    db = Database.from_url(settings.database_url)
    try:
        done = sweep_pickups(db, days or settings.pickup_expiry_days)
    finally:
        db.dispose()
    for d in done:
        typer.echo(f"expired {d['order_id']} line {d['line_no']}")
    typer.echo(f"{len(done)} pickup line(s) expired")
