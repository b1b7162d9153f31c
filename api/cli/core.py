"""`omni serve` and `omni db upgrade`."""

from __future__ import annotations

import typer

from api.cli.app import app, db_app


@db_app.command("upgrade")
def db_upgrade(
    revision: str = typer.Argument("head", help="Alembic revision to migrate to."),
) -> None:
    """Create or migrate the schema of OMNI_DATABASE_URL."""
    from api.settings import get_settings
    from data.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url, revision)
    typer.echo(f"database at {settings.database_url} is at revision {revision}")


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="uvicorn worker processes (use PostgreSQL for >1)."),
) -> None:
    """Serve the HTTP API and dashboard."""
    import uvicorn

    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info")
