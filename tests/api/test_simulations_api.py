"""POST /v1/simulations runs in a worker process; GET shows progress, then KPIs and the bound."""

from __future__ import annotations

import time

TINY = """
name = "tiny"
horizon_days = 2
policies = ["nearest", "optimal"]

[network]
seed = 7
region = "TX"
stores = 3
skus = 20
dcs = 3

[demand]
orders_per_day = 40
"""


def test_simulation_job_runs_to_done(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/simulations", json={"toml": TINY, "seed": 3})
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "queued" and run["scenario"] == "tiny"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = client.get(f"/v1/simulations/{run['id']}").json()
        if run["status"] in ("done", "failed"):
            break
        time.sleep(0.5)
    assert run["status"] == "done", run
    assert run["progress"] == 1.0 and run["bound"] > 0
    policies = {k["policy"] for k in run["kpis"]}
    assert policies == {"nearest", "optimal"}
    assert [x["id"] for x in client.get("/v1/simulations").json()] == [run["id"]]


def test_bad_scenarios_are_refused(client) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/v1/simulations", json={"toml": "horizon_days = 0\n"})
    assert r.status_code == 422 and "horizon_days" in r.json()["detail"]
    r = client.post("/v1/simulations", json={"scenario": "nope"})
    assert r.status_code == 404 and "baseline" in r.json()["detail"]
    r = client.post("/v1/simulations", json={"scenario": "baseline", "toml": TINY})
    assert r.status_code == 422
    assert client.get("/v1/simulations/999").status_code == 404
