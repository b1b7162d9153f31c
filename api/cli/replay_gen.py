"""`omni replay-gen`: replay instances from the demo network."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from api.cli.app import app


@app.command("replay-gen")
def replay_gen(
    out: Path = typer.Argument(..., help="Where to write the instance JSON."),
    orders: int = typer.Option(2000, min=1, help="Orders in the realised stream."),
    pickup_share: float = typer.Option(0.15, min=0.0, max=1.0, help="Share of pickup orders."),
    region: str = typer.Option("TX", help="Demo region: a state code or US."),
    stores: int = typer.Option(12, min=1, help="Demo stores."),
    skus: int = typer.Option(100, min=1, help="Demo SKUs."),
    dcs: int = typer.Option(3, min=3, max=5, help="Demo DCs."),
    demo_seed: int = typer.Option(7, min=0, help="Seed of the demo network."),
    seed: int = typer.Option(11, min=0, help="Seed of the order stream."),
    capacity_days: int = typer.Option(7, min=1, help="Store pick capacity = daily x days."),
    pressure: float = typer.Option(0.9, min=0.0, help="Expected demand / usable stock "
                                   "(stock is thinned to it); 0 keeps the demo stock."),
) -> None:
    """Write an omni-replay/1 instance: orders placed by ZIP population, ship/pickup mix."""
    from data.demo import DemoParams
    from simulations.bench.instances import ReplayGenParams, generate

    try:
        params = ReplayGenParams(
            demo=DemoParams(seed=demo_seed, region=region, stores=stores, skus=skus, dcs=dcs,
                            history_days=0),
            orders=orders, pickup_share=pickup_share, seed=seed, capacity_days=capacity_days,
            pressure=pressure or None)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    inst = generate(params)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(inst, separators=(",", ":")))
    m = inst["meta"]
    typer.echo(f"wrote {out}: {len(inst['nodes'])} nodes, {len(inst['skus'])} SKUs, "
               f"{len(inst['orders'])} orders ({len(inst['expected_orders'])} order types), "
               f"demand/stock {m['demand_over_stock']}")
