"""`omni reoptimize [--threshold 0.5] [--time-limit 10] [--dry-run]`: re-plan the backlog."""

from __future__ import annotations

import json

import typer

from api.cli.app import app


@app.command("reoptimize")
def reoptimize_cmd(
    threshold: float = typer.Option(0.5, min=0, help="Dollars an order's move must save."),
    time_limit: float = typer.Option(10.0, min=0.001, help="Seconds to spend planning."),
    passes: int = typer.Option(1, min=1, help="Passes over the backlog."),
    batch_size: int = typer.Option(200, min=1, help="Moves per database transaction."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Plan and report; move nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Re-source allocated-but-unpicked orders where it saves more than the threshold."""
    from allocation.reoptimize import ReoptParams
    from api.settings import get_settings
    from data.db import Database
    from fulfilment.allocations import AllocationContext
    from fulfilment.reoptimize import reoptimize_backlog

    params = ReoptParams(threshold=threshold, time_limit=time_limit, passes=passes)
    db = Database.from_url(get_settings().database_url)
    try:
        report, done = reoptimize_backlog(db, AllocationContext(db), params,
                                          apply=not dry_run, batch_size=batch_size)
    finally:
        db.dispose()
    out = {**report.summary(), "applied": done.applied, "skipped": done.skipped,
           "saving_applied": round(done.saving, 6), "dry_run": dry_run}
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"backlog {report.orders} orders, visited {report.visited} in "
               f"{report.seconds:.2f} s{' (time limit)' if report.timed_out else ''}")
    typer.echo(f"moves {len(report.moves)} applied {done.applied} skipped {done.skipped}")
    typer.echo(f"saving planned {report.saving:.2f} applied {done.saving:.2f}")
