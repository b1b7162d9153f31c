"""`omni forecast`: demand forecasts with quantiles from a long-format CSV."""

from __future__ import annotations

from pathlib import Path

import typer

from api.cli.app import app

MODEL_CHOICES = ("auto", "naive", "snaive", "ma", "ses", "holt", "holt_winters", "croston",
                 "sba", "tsb", "adida", "imapa", "mapa")


def _parse_quantiles(text: str) -> tuple[float, ...]:
    """'0.5,0.9' -> (0.5, 0.9); BadParameter naming the bad item otherwise."""
    try:
        levels = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"expected comma-separated numbers, got {text!r}") from exc
    bad = [q for q in levels if not 0.0 < q < 1.0]
    if bad or not levels:
        raise typer.BadParameter(f"expected quantile levels in (0, 1), got {text!r}")
    return levels


@app.command("forecast")
def forecast_command(
    input_csv: Path = typer.Argument(..., help="Long-format CSV with unique_id, ds, y."),
    horizon: int = typer.Option(..., "--horizon", "-h", help="Steps to forecast (>= 1)."),
    out: Path = typer.Option(..., "--out", help="Output CSV path."),
    freq: str = typer.Option("D", "--freq", help="pandas frequency of ds (D, W, MS, ...)."),
    model: str = typer.Option("auto", "--model", help=f"One of {', '.join(MODEL_CHOICES)}."),
    quantiles: str = typer.Option("0.5,0.9,0.95", "--quantiles",
                                  help="Comma-separated quantile levels."),
) -> None:
    """Forecast demand per series: writes unique_id, ds, mean and one q<level> per quantile."""
    import pandas as pd

    from forecasting.frame import forecast, quantile_column

    if horizon < 1:
        raise typer.BadParameter(f"expected horizon >= 1, got {horizon}", param_hint="--horizon")
    if model not in MODEL_CHOICES:
        raise typer.BadParameter(f"unknown model {model!r}; expected one of "
                                 f"{', '.join(MODEL_CHOICES)}", param_hint="--model")
    levels = _parse_quantiles(quantiles)
    if not input_csv.is_file():
        raise typer.BadParameter(f"expected an existing CSV file, got {input_csv}",
                                 param_hint="INPUT_CSV")
    df = pd.read_csv(input_csv)
    try:
        if "ds" in df.columns:
            df["ds"] = pd.to_datetime(df["ds"])
        result = forecast(df, horizon, freq, model, levels, progress=True)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    columns = ["unique_id", "ds", "mean", *[quantile_column(q) for q in levels]]
    out.parent.mkdir(parents=True, exist_ok=True)
    result[columns].to_csv(out, index=False)
    typer.echo(f"wrote {len(result)} rows for {result['unique_id'].nunique()} series to {out}",
               err=True)
