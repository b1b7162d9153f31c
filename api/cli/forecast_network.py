"""`omni forecast-network`: forecast every (node, SKU) of the database and store it."""

from __future__ import annotations

import typer

from api.cli.app import app


@app.command("forecast-network")
def forecast_network_cmd(
    horizon: int = typer.Option(28, min=1, max=365, help="Days ahead."),
    model: str = typer.Option("auto", help="auto or one model name (see omni forecast)."),
    if_absent: bool = typer.Option(False, "--if-absent", help="Do nothing if a run exists."),
) -> None:
    """Forecast the sales history of every (node, SKU) and replace the stored forecasts."""
    from api.settings import get_settings
    from data.db import Database
    from fulfilment.forecasts import forecast_network

    db = Database.from_url(get_settings().database_url)
    if if_absent and _has_run(db):
        typer.echo("forecasts exist: nothing written (drop --if-absent to refresh)")
        db.dispose()
        return
    try:
        rep = forecast_network(db, horizon, model)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        db.dispose()
    typer.echo(f"run {rep.run_id}: {rep.series} series x {rep.horizon} days ({rep.model}); "
               f"load {rep.seconds_load:.2f}s, kernels ready {rep.seconds_warmup:.2f}s, "
               f"forecast {rep.seconds_forecast:.2f}s, store {rep.seconds_store:.2f}s")


def _has_run(db) -> bool:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from data.models import ForecastRun

    with db.read_session() as s:
        return s.scalar(select(ForecastRun.id).limit(1)) is not None
