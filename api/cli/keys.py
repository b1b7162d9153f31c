"""`omni keys create|list|revoke`: API keys with scopes, stored as SHA-256 hashes."""

from __future__ import annotations

import typer

from api.cli.app import app

keys_app = typer.Typer(help="API keys and their scopes.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _db():  # type: ignore[no-untyped-def]
    from api.settings import get_settings
    from data.db import Database

    return Database.from_url(get_settings().database_url)


@keys_app.command("create")
def keys_create(
    scope: list[str] = typer.Option(..., "--scope", help="orders:write, inventory:write, "
                                    "store:act, planner, ops:read or admin (repeatable)."),
    store: str | None = typer.Option(None, help="Node code a store:act key acts for."),
    name: str = typer.Option("", help="Who holds the key (default: the scopes)."),
) -> None:
    """Create a key and print its token once (only its hash is stored)."""
    from allocation.errors import DomainError
    from api.auth.service import create_key

    db = _db()
    try:
        with db.transaction() as s:
            token, row = create_key(s, scope, name or " ".join(scope), store)
            key_id = row.key_id
    except DomainError as exc:
        raise typer.BadParameter(exc.detail) from exc
    finally:
        db.dispose()
    typer.echo(f"key id {key_id} ({' '.join(scope)}{f' at {store}' if store else ''}); "
               "the token is shown once:", err=True)
    typer.echo(token)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""
    from api.auth.service import list_keys

    db = _db()
    try:
        with db.read_session() as s:
            for k in list_keys(s):
                state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
                store = f" store={k['store']}" if k["store"] else ""
                typer.echo(f"{k['key_id']}  {k['name']!r}  [{k['scopes']}]{store}  {state}")
    finally:
        db.dispose()


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key id (second part of a token).")
                ) -> None:
    """Revoke a key: it stops working at once."""
    from api.auth.service import revoke_key

    db = _db()
    try:
        with db.transaction() as s:
            ok = revoke_key(s, key_id)
    finally:
        db.dispose()
    if not ok:
        typer.echo(f"no active key {key_id}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"revoked {key_id}")
