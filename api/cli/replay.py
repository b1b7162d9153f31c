"""`omni replay INSTANCE.json --policy NAME --out RESULT.json [--bound]` (REPLAY.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from api.cli.app import app


@app.command()
def replay(
    instance: Path = typer.Argument(..., exists=True, dir_okay=False, help="omni-replay/1 file."),
    policy: str = typer.Option("optimal", help="nearest | rules | optimal | forecast_aware."),
    out: Path = typer.Option(..., help="Where to write the omni-replay-result/1 JSON."),
    bound: bool = typer.Option(False, "--bound", help="Also solve the DLP and the hindsight "
                               "LP; print cost/DLP and the gap to hindsight."),
    progress: bool = typer.Option(True, help="tqdm progress bar on stderr."),
) -> None:
    """Replay an instance's orders through a policy on an in-memory ledger, judge the cost."""
    from tqdm import tqdm

    from simulations.bench.replay import (
        dlp_of,
        hindsight_of,
        load_instance,
        run_replay,
        validate_result,
    )

    inst = load_instance(instance)
    bar = (lambda it: tqdm(it, total=len(inst.orders), desc=policy, unit="order",
                           file=sys.stderr)) if progress else None
    try:
        result = run_replay(inst, policy, progress=bar)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--policy") from None
    errors = validate_result(inst.raw, result)
    cost = result["total_cost"]
    if bound:
        dlp, hind = dlp_of(inst), hindsight_of(inst)
        result["bounds"] = {"dlp": dlp.value, "hindsight": hind.value,
                            "cost_over_dlp": cost / dlp.value,
                            "gap_to_hindsight_pct": 100.0 * (cost / hind.value - 1.0)}
    out.write_text(json.dumps(result))
    typer.echo(f"cost {cost:.2f}")
    if bound:
        b = result["bounds"]
        typer.echo(f"DLP {b['dlp']:.2f}  cost/DLP {b['cost_over_dlp']:.4f}")
        typer.echo(f"hindsight {b['hindsight']:.2f}  cost/hindsight "
                   f"{cost / b['hindsight']:.4f}  gap {b['gap_to_hindsight_pct']:.2f}%")
    if "lp" in result:
        lp = result["lp"]
        typer.echo(f"LP re-solves {lp['solves']} every {lp['resolve_every']} orders, "
                   f"{lp['seconds']:.2f} s")
    typer.echo(f"seconds {result['seconds']:.2f}")
    if errors:
        typer.echo(f"INVALID result: {len(errors)} problem(s), first: {errors[0]}", err=True)
        raise typer.Exit(code=1)
