"""Outputs: records and KPIs as Parquet (or CSV) and a self-contained HTML report.

The report inlines plotly.js (include_plotlyjs=True) so it opens offline: cost per order
over time, the fulfilment method mix, and walk-in stockouts by store, per policy.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from simulations.runner import SimulationResult

__all__ = ["kpi_table", "write_outputs", "write_report"]

KPI_COLUMNS = ("cost_per_order", "shipping_per_order", "pick_per_order", "objective", "bound",
               "gap_closed", "parcels_per_order", "on_time_rate", "fill_rate",
               "unfilled_units", "walk_in_lost", "walk_in_lost_to_online",
               "inventory_turns_annual", "store_capacity_use")


def kpi_table(kpis: pd.DataFrame) -> pd.DataFrame:
    """Policies side by side (columns), KPIs as rows, averaged over seeds."""
    cols = [c for c in KPI_COLUMNS if c in kpis.columns]
    return kpis.groupby("policy", sort=False)[cols].mean().T


def _combined(results: Sequence[SimulationResult], name: str) -> pd.DataFrame:
    frames = [r.records[name].assign(seed=r.seed) for r in results if name in r.records]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_outputs(results: Sequence[SimulationResult], out: Path, fmt: str = "parquet") -> None:
    """Write kpis.<fmt> and one file per record kind under `out`."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"expected format 'parquet' or 'csv', got {fmt!r}")
    out.mkdir(parents=True, exist_ok=True)
    frames = {"kpis": pd.concat([r.kpis for r in results], ignore_index=True)}
    for name in results[0].records if results else ():
        frames[name] = _combined(results, name)
    for name, frame in frames.items():
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)


def _fig_html(fig: go.Figure, first: bool) -> str:
    # plotly.js once, inline, in the first chart; the others reuse it.
    return fig.to_html(full_html=False, include_plotlyjs=first)


def write_report(results: Sequence[SimulationResult], path: Path) -> Path:
    """A single offline HTML page: KPI table per scenario and three charts."""
    kpis = pd.concat([r.kpis for r in results], ignore_index=True)
    orders = _combined(results, "orders")
    parcels = _combined(results, "parcels")
    walk = _combined(results, "walk_ins")
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>Simulation report"
             "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
             "collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
             "</style></head><body><h1>Simulation report</h1>"]
    for scen, group in kpis.groupby("scenario", sort=False):
        seeds = sorted(group["seed"].unique().tolist())
        desc = next((r.scenario.description for r in results if r.scenario.name == scen), "")
        parts.append(f"<h2>{html.escape(str(scen))}</h2><p>{html.escape(desc)}</p>"
                     f"<p>seeds: {seeds}</p>")
        parts.append(kpi_table(group).to_html(float_format=lambda x: f"{x:,.3f}"))
    first = True
    if not orders.empty:
        daily = orders.groupby(["scenario", "policy", "day"])["total"].mean().reset_index()
        fig = go.Figure()
        for (scen, pol), g in daily.groupby(["scenario", "policy"], sort=False):
            fig.add_trace(go.Scatter(x=g["day"], y=g["total"], name=f"{scen} / {pol}"))
        fig.update_layout(title="Fulfilment cost per order by day", xaxis_title="day",
                          yaxis_title="cost per order")
        parts.append(_fig_html(fig, first))
        first = False
    if not parcels.empty:
        mix = parcels[~parcels["rejected"]].groupby(["scenario", "policy", "method"])[
            "units"].sum().reset_index()
        mix["label"] = mix["scenario"] + " / " + mix["policy"]
        fig = go.Figure([go.Bar(x=g["label"], y=g["units"], name=m)
                         for m, g in mix.groupby("method")])
        fig.update_layout(barmode="stack", title="Fulfilment method mix (units)")
        parts.append(_fig_html(fig, first))
        first = False
    if not walk.empty:
        lost = walk.groupby(["scenario", "policy", "node"])["lost"].sum().reset_index()
        fig = go.Figure()
        for (scen, pol), g in lost.groupby(["scenario", "policy"], sort=False):
            fig.add_trace(go.Bar(x=g["node"], y=g["lost"], name=f"{scen} / {pol}"))
        fig.update_layout(barmode="group", title="Walk-in lost sales (stockouts) by store")
        parts.append(_fig_html(fig, first))
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))
    return path
