"""Network forecasts stored from the sales history and served by GET /v1/forecasts."""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import func, insert, select

from data.forecast_store import load_history
from data.models import Forecast, Node, SalesHistory, Sku
from fulfilment.forecasts import forecast_network

END = dt.date(2026, 3, 1)


def seed_sales(db) -> None:  # type: ignore[no-untyped-def]
    """120 days of Poisson(2) sales of SKU-A at ST-0001 and a sparse SKU-B at ST-0002."""
    rng = np.random.default_rng(3)
    with db.transaction() as s:
        ids = dict(s.execute(select(Node.code, Node.id)).all())
        skus = dict(s.execute(select(Sku.code, Sku.id)).all())
        rows = []
        for k in range(120):
            day = END - dt.timedelta(days=119 - k)
            q = int(rng.poisson(2.0))
            if q:
                rows.append({"node_id": ids["ST-0001"], "sku_id": skus["SKU-A"], "day": day,
                             "qty": q})
            if k % 9 == 0:
                rows.append({"node_id": ids["ST-0002"], "sku_id": skus["SKU-B"], "day": day,
                             "qty": 1})
        s.execute(insert(SalesHistory), rows)


def test_history_is_dense_from_first_sale(client) -> None:  # type: ignore[no-untyped-def]
    seed_sales(client.database)
    with client.database.session() as s:
        hist = load_history(s)
    assert len(hist) == 2 and hist.end == END
    lengths = np.diff(hist.indptr)
    assert lengths.max() <= 120 and lengths.min() >= 110
    with client.database.session() as s:
        total = s.scalar(select(func.sum(SalesHistory.qty)))
    assert hist.y.sum() == total


def test_forecast_network_then_read(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/v1/forecasts", params={"node": "ST-0001"}).json()["run"] is None
    seed_sales(client.database)
    rep = forecast_network(client.database, horizon=14, model="ses")
    assert rep.series == 2
    with client.database.session() as s:
        assert s.scalar(select(func.count()).select_from(Forecast)) == 2 * 14
    body = client.get("/v1/forecasts", params={"node": "ST-0001", "sku": "SKU-A"}).json()
    assert body["run"]["series"] == 2 and len(body["items"]) == 14
    first = body["items"][0]
    assert first["day"] == (END + dt.timedelta(days=1)).isoformat()
    assert 1.0 < first["mean"] < 3.0  # Poisson(2) sales
    assert first["p05"] <= first["p50"] <= first["p90"] <= first["p95"]


def test_forecasts_bad_queries(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/v1/forecasts").status_code == 422
    r = client.get("/v1/forecasts", params={"node": "NOPE"})
    assert r.status_code == 422 and "unknown node" in r.json()["detail"]
