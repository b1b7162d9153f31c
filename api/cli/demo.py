"""`omni demo build`: migrate the database and write the demo network built from real US data."""

from __future__ import annotations

import datetime as dt
import time

import typer

from api.cli.app import demo_app


@demo_app.command("build")
def demo_build(
    seed: int = typer.Option(7, min=0, help="Random seed: the same seed builds the same network."),
    region: str = typer.Option("TX", help="US state code with Walmart stores, or US for all."),
    stores: int = typer.Option(12, min=1, help="Number of real Walmart stores to include."),
    skus: int = typer.Option(100, min=1, help="Number of SKUs in the catalogue."),
    dcs: int = typer.Option(3, min=3, max=5, help="Number of distribution centres (3-5)."),
    history_days: int = typer.Option(730, min=0, help="Days of daily sales history per store."),
    start: str = typer.Option("", help="First day after the history, YYYY-MM-DD (default "
                              "2026-03-02, fixed so the default network never changes)."),
    if_absent: bool = typer.Option(False, "--if-absent",
                                   help="Do nothing when the database already holds a network."),
    database_url: str = typer.Option("", help="SQLAlchemy URL (default: OMNI_DATABASE_URL)."),
    progress: bool = typer.Option(True, help="Show a progress bar while writing."),
) -> None:
    """Build the demo network (stores, DCs, SKUs, stock, sales history) and write it."""
    from api.settings import get_settings
    from data.db import Database
    from data.demo import DemoParams, build_network
    from data.demo_write import network_exists, write_network
    from data.migrate import upgrade

    url = database_url or get_settings().database_url
    try:
        params = DemoParams(seed=seed, region=region, stores=stores, skus=skus, dcs=dcs,
                            history_days=history_days,
                            **({"start": dt.date.fromisoformat(start)} if start else {}))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc

    began = time.perf_counter()
    upgrade(url)  # works on an empty database too
    db = Database.from_url(url)
    try:
        if network_exists(db):
            if if_absent:
                typer.echo("demo network already present: nothing written (--if-absent)")
                return
            typer.echo("the database already holds a network; use an empty database "
                       "or pass --if-absent", err=True)
            raise typer.Exit(code=1)
        try:
            net = build_network(params)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        write_network(db, net, progress=progress)
    finally:
        db.dispose()
    typer.echo(f"demo network written: {net.summary()} in {time.perf_counter() - began:.1f} s")
