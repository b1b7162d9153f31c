"""`omni simulate SCENARIO.toml... --out DIR [--seed N] [--scheduler ADDR] [--workers N]`."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from api.cli.app import app


@app.command()
def simulate(
    scenarios: list[Path] = typer.Argument(..., exists=True, dir_okay=False,
                                           help="Scenario TOML files."),
    out: Path = typer.Option(..., help="Directory for KPIs, records and report.html."),
    seed: int = typer.Option(1, min=0, help="First seed."),
    seeds: int = typer.Option(1, min=1, help="How many seeds (seed, seed+1, ...)."),
    scheduler: str = typer.Option(None, help="Dask scheduler address (else local)."),
    workers: int = typer.Option(0, min=0, help="Local Dask worker processes (0: serial)."),
    fmt: str = typer.Option("parquet", "--format", help="parquet | csv"),
    progress: bool = typer.Option(True, help="tqdm progress bar on stderr."),
) -> None:
    """Run what-if scenarios over every policy; write KPIs, records and an HTML report."""
    from tqdm import tqdm

    from simulations.report import kpi_table, write_outputs, write_report
    from simulations.runner import run_scenario
    from simulations.scenario import ScenarioError, load_scenario
    from simulations.sweep import run_sweep

    try:
        loaded = [load_scenario(p) for p in scenarios]
    except ScenarioError as exc:
        raise typer.BadParameter(str(exc), param_hint="SCENARIOS") from None
    seed_list = list(range(seed, seed + seeds))
    if scheduler is None and workers <= 1:
        results = []
        for scen in loaded:
            for s in seed_list:
                with tqdm(total=1, desc=f"{scen.name} seed {s}", unit="step", file=sys.stderr,
                          disable=not progress) as bar:
                    def tick(done: int, total: int, bar: tqdm = bar) -> None:
                        bar.total = total
                        bar.update(done - bar.n)  # update() respects tqdm's refresh rate
                    results.append(run_scenario(scen, s, tick))
    else:
        with tqdm(total=len(loaded) * len(seed_list), desc="sweep", unit="run",
                  file=sys.stderr, disable=not progress) as bar:
            results = run_sweep(loaded, seed_list, workers=workers, scheduler=scheduler,
                                on_done=lambda _: bar.update(1))
    write_outputs(results, out, fmt)
    report = write_report(results, out / "report.html")
    import pandas as pd

    kpis = pd.concat([r.kpis for r in results], ignore_index=True)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for name, group in kpis.groupby("scenario", sort=False):
            typer.echo(f"\n== {name} (seeds {seed_list})")
            typer.echo(kpi_table(group).to_string(float_format=lambda x: f"{x:,.3f}"))
    typer.echo(f"\nwrote {out} ({fmt}) and {report}")
