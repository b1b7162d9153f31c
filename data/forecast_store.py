"""Sales history out of the database as flat arrays, and network forecasts back in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from data.db import Database
from data.ledger import write_demand_rates
from data.models import Forecast, ForecastRun, Node, SalesHistory, Sku, utcnow

INSERT_CHUNK = 20_000


@dataclass(frozen=True)
class History:
    """Daily sales of every (node, SKU) series in the flat layout the kernels take."""

    y: np.ndarray  # float64, all series back to back
    indptr: np.ndarray  # int64, series i is y[indptr[i]:indptr[i + 1]]
    node_id: np.ndarray
    sku_id: np.ndarray
    end: dt.date  # last day of history (the same for every series)

    def __len__(self) -> int:
        return len(self.node_id)


def load_history(session: Session, min_days: int = 14) -> History:
    """Dense daily series from each series' first sale to the last day in the table."""
    rows = session.execute(select(SalesHistory.node_id, SalesHistory.sku_id, SalesHistory.day,
                                  SalesHistory.qty)).all()
    if not rows:
        raise ValueError("no sales history in the database: run `omni demo build` first")
    df = pd.DataFrame(rows, columns=["node_id", "sku_id", "day", "qty"])
    day = pd.to_datetime(df["day"]).to_numpy("datetime64[D]").astype(np.int64)
    end = int(day.max())
    df["d"] = day
    df = df.sort_values(["node_id", "sku_id", "d"], kind="stable")
    g = df.groupby(["node_id", "sku_id"], sort=False)
    first = g["d"].transform("min").to_numpy()
    keys = g.size().index
    starts = g["d"].min().to_numpy()
    lengths = end - starts + 1
    keep = lengths >= min_days
    code = g.ngroup().to_numpy()
    # Dense layout over every series, then drop the short ones in one pass.
    indptr_all = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr_all[1:])
    y_all = np.zeros(indptr_all[-1], dtype=np.float64)
    np.add.at(y_all, indptr_all[code] + (df["d"].to_numpy() - first), df["qty"].to_numpy(float))
    mask = np.repeat(keep, lengths)
    kept_len = lengths[keep]
    indptr = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
    np.cumsum(kept_len, out=indptr[1:])
    node_ids = np.array([k[0] for k in keys], dtype=np.int64)[keep]
    sku_ids = np.array([k[1] for k in keys], dtype=np.int64)[keep]
    return History(y_all[mask], indptr, node_ids, sku_ids,
                   dt.date(1970, 1, 1) + dt.timedelta(days=end))


def store_forecasts(db: Database, hist: History, mean: np.ndarray, quantiles: np.ndarray,
                    models: list[str], model: str, seconds: float) -> int:
    """Replace the stored forecasts and demand rates with a new run (quantiles 5/50/90/95%)."""
    n, h = mean.shape
    with db.transaction() as s:
        run = ForecastRun(created_at=utcnow(), model=model, horizon=h, series=n,
                          seconds=seconds, history_end=hist.end)
        s.add(run)
        s.flush()
        s.execute(delete(Forecast))
        days = [hist.end + dt.timedelta(days=k + 1) for k in range(h)]
        rows = []
        for i in range(n):
            for k in range(h):
                q = quantiles[i, k]
                rows.append({"node_id": int(hist.node_id[i]), "sku_id": int(hist.sku_id[i]),
                             "day": days[k], "run_id": run.id, "model": models[i][:40],
                             "mean": float(mean[i, k]), "p05": float(q[0]),
                             "p50": float(q[1]), "p90": float(q[2]), "p95": float(q[3])})
                if len(rows) >= INSERT_CHUNK:
                    s.execute(insert(Forecast), rows)
                    rows = []
        if rows:
            s.execute(insert(Forecast), rows)
        # The stock page's days of cover: each position's mean daily demand over the horizon.
        write_demand_rates(s, hist.node_id, hist.sku_id, mean.mean(axis=1))
        return run.id


def read_forecasts(session: Session, node: str | None, sku: str | None, limit: int,
                   offset: int) -> tuple[ForecastRun | None, list[dict]]:
    """The latest run and its daily rows for a node and/or SKU (codes)."""
    run = session.scalars(select(ForecastRun).order_by(ForecastRun.id.desc()).limit(1)).first()
    stmt = (select(Node.code, Sku.code, Forecast.day, Forecast.model, Forecast.mean,
                   Forecast.p05, Forecast.p50, Forecast.p90, Forecast.p95)
            .join(Node, Node.id == Forecast.node_id).join(Sku, Sku.id == Forecast.sku_id))
    if node is not None:
        stmt = stmt.where(Node.code == node)
    if sku is not None:
        stmt = stmt.where(Sku.code == sku)
    stmt = stmt.order_by(Node.code, Sku.code, Forecast.day).limit(limit).offset(offset)
    cols = ("node", "sku", "day", "model", "mean", "p05", "p50", "p90", "p95")
    return run, [dict(zip(cols, r, strict=True)) for r in session.execute(stmt).all()]
