"""The engine: determinism, stock conservation, the bound, sweeps, outputs, purity."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulations.report import write_outputs, write_report
from simulations.runner import SimulationResult, run_scenario
from simulations.scenario import Scenario
from simulations.sweep import run_sweep

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def result(tiny: Scenario) -> SimulationResult:
    """One run of the tiny scenario (seed 5)."""
    return run_scenario(tiny, 5)


def _kpis(res: SimulationResult) -> pd.DataFrame:
    return res.kpis.drop(columns=["run_seconds"])


def test_same_seed_same_results(tiny: Scenario, result: SimulationResult) -> None:
    again = run_scenario(tiny, 5)
    pd.testing.assert_frame_equal(_kpis(result), _kpis(again))
    for name, frame in result.records.items():
        pd.testing.assert_frame_equal(frame, again.records[name], obj=name)
    other = run_scenario(tiny, 6)
    assert not _kpis(other).equals(_kpis(result))


def test_stock_is_conserved_for_every_sku(result: SimulationResult) -> None:
    """initial + receipts = final (on hand + in transit) + shipped + sold + collected."""
    for policy, b in result.balances.items():
        lhs = b["initial"] + b["receipts"]
        rhs = b["final"] + b["shipped"] + b["sold"] + b["collected"]
        assert np.array_equal(lhs, rhs), policy
        assert b["receipts"].sum() > 0 and b["shipped"].sum() > 0 and b["sold"].sum() > 0


def test_the_tiny_scenario_exercises_the_lifecycle(result: SimulationResult) -> None:
    rec = result.records
    assert rec["parcels"]["rejected"].any()
    assert set(rec["pickups"]["outcome"]) == {"collected", "expired"}
    assert (rec["parcels"]["method"] == "pickup_via_transfer").any()
    assert (rec["replenishments"]["source"] == "vendor").any()
    assert (rec["orders"]["reroutes"] > 0).any()


def test_the_bound_is_below_every_policy(result: SimulationResult) -> None:
    assert result.bound is not None and result.bound.converged
    k = result.kpis.set_index("policy")
    assert (k["objective"] >= result.bound.value - 1e-6).all()
    assert k.loc["nearest", "gap_closed"] == pytest.approx(0.0)
    assert k.loc["optimal", "objective"] <= k.loc["nearest", "objective"]


def test_serial_and_dask_sweeps_agree(tiny: Scenario) -> None:
    serial = run_sweep([tiny], [1, 2])
    dask = run_sweep([tiny], [1, 2], workers=2)
    assert [r.seed for r in dask] == [1, 2]
    for a, b in zip(serial, dask, strict=True):
        pd.testing.assert_frame_equal(_kpis(a), _kpis(b))


def test_outputs_and_offline_report(result: SimulationResult, tmp_path: Path) -> None:
    write_outputs([result], tmp_path, "parquet")
    kpis = pd.read_parquet(tmp_path / "kpis.parquet")
    assert list(kpis["policy"]) == ["nearest", "optimal"]
    assert len(pd.read_parquet(tmp_path / "orders.parquet")) == len(result.records["orders"])
    write_outputs([result], tmp_path / "csv", "csv")
    assert (tmp_path / "csv" / "walk_ins.csv").exists()
    page = write_report([result], tmp_path / "report.html").read_text()
    assert page.count("<script") >= 3 and 'src="https://cdn.plot.ly' not in page
    assert "Walk-in lost sales" in page


def _loaded(modules: str) -> list[str]:
    code = (f"import sys, {modules};"
            "print(','.join(m for m in ('fastapi', 'sqlalchemy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]


def test_simulations_never_import_the_web_or_database_stack_themselves() -> None:
    for path in (REPO / "simulations").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                top = name.split(".")[0]
                assert top not in ("fastapi", "sqlalchemy", "api"), (path.name, name)
                assert name not in ("data.db", "data.models", "data.ledger",
                                    "data.stock_ledger"), (path.name, name)
    assert "fastapi" not in _loaded("simulations.runner, simulations.sweep, simulations.report")


def test_running_a_simulation_loads_no_sqlalchemy() -> None:
    assert _loaded("simulations.runner") == []
