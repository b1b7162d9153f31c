"""Replay: sample_warmup validity and ranking, the judge, the validator, and the CLI."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from simulations.bench.replay import dlp_of, judge_cost, load_instance, run_replay, validate_result

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "bench" / "sample_warmup.json"


def _tiny() -> dict[str, Any]:
    return {
        "format": "omni-replay/1", "name": "tiny",
        "nodes": [
            {"id": "DC-A", "kind": "dc", "lat": 41.0, "lon": -75.0, "ship_from_store": False,
             "click_and_collect": False, "pick_capacity": None},
            {"id": "ST-1", "kind": "store", "lat": 40.5, "lon": -75.0, "ship_from_store": True,
             "click_and_collect": True, "pick_capacity": 1},
        ],
        "skus": [{"id": "S1", "weight_lb": 1.0}, {"id": "S2", "weight_lb": 1.0}],
        "inventory": [{"node": "DC-A", "sku": "S1", "on_hand": 2, "safety_stock": 0},
                      {"node": "DC-A", "sku": "S2", "on_hand": 1, "safety_stock": 1},
                      {"node": "ST-1", "sku": "S2", "on_hand": 3, "safety_stock": 0}],
        "costs": {"model": "distance", "per_parcel": 8.759, "per_unit": 0.423,
                  "per_unit_mile": 0.000541, "unfilled_multiplier": 2.0,
                  "pick_cost": {"dc": 0.0, "store": 0.5}},
        "expected_orders": [{"lat": 40.0, "lon": -75.0, "skus": ["S1", "S2"], "count": 2.0}],
        "orders": [
            {"id": "o2", "t": 2, "lat": 40.0, "lon": -75.0, "method": "ship",
             "pickup_node": None, "lines": [{"sku": "S1", "qty": 1}, {"sku": "S2", "qty": 1}]},
            {"id": "o1", "t": 1, "lat": 40.0, "lon": -75.0, "method": "pickup",
             "pickup_node": "ST-1", "lines": [{"sku": "S1", "qty": 1}, {"sku": "S2", "qty": 1}]},
        ],
    }


@pytest.fixture(scope="module")
def sample() -> Any:
    """The visible warm-up instance from the shared bench."""
    if not SAMPLE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{SAMPLE} is missing")
        pytest.skip(f"{SAMPLE} is missing")
    return load_instance(SAMPLE)


def test_sample_warmup_every_policy_valid_and_optimal_beats_nearest(sample: Any) -> None:
    costs = {}
    for policy in ("nearest", "rules", "optimal"):
        result = run_replay(sample, policy)
        assert validate_result(sample.raw, result) == []
        assert len(result["decisions"]) == len(sample.orders)
        costs[policy] = result["total_cost"]
    dlp = dlp_of(sample)
    assert dlp.converged
    assert costs["optimal"] < costs["rules"] < costs["nearest"]
    # A myopic policy on a realised stream sits above the bound, not wildly so.
    assert 1.0 < costs["optimal"] / dlp.value < costs["nearest"] / dlp.value < 1.5


def test_judge_charges_parcels_units_and_the_unfilled_penalty() -> None:
    raw = _tiny()
    result = {"decisions": [
        {"order": "o1", "lines": [{"sku": "S1", "allocations": [], "unfilled": 1},
                                  {"sku": "S2", "allocations": [{"node": "ST-1", "qty": 1}],
                                   "unfilled": 0}]},
        {"order": "o2", "lines": [{"sku": "S1", "allocations": [{"node": "DC-A", "qty": 1}],
                                   "unfilled": 0},
                                  {"sku": "S2", "allocations": [], "unfilled": 1}]}]}
    mpd = 6371.0 * 3.141592653589793 / 180 / 1.61
    store = 8.759 + 0.423 + 0.000541 * 0.5 * mpd + 0.5
    dc = 8.759 + 0.423 + 0.000541 * 1.0 * mpd
    penalty = 2 * 8.759 + 2 * (0.423 + 0.000541 * 1.0 * mpd)  # farthest node: DC-A, 1 degree
    assert judge_cost(raw, result) == pytest.approx(store + dc + 2 * penalty)
    assert validate_result(raw, result) == []


def test_validator_catches_oversell_capacity_and_ineligible_nodes() -> None:
    raw = _tiny()
    ok = run_replay(load_instance(raw), "optimal")
    assert validate_result(raw, ok) == []
    bad = copy.deepcopy(ok)
    bad["decisions"][1]["lines"][1] = {"sku": "S2", "allocations": [{"node": "DC-A", "qty": 1}],
                                       "unfilled": 0}  # DC-A's only S2 is safety stock
    assert any("exceeded" in e for e in validate_result(raw, bad))
    bad = copy.deepcopy(ok)
    bad["decisions"][0]["lines"][0] = {"sku": "S1", "allocations": [{"node": "DC-A", "qty": 1}],
                                       "unfilled": 0}  # the pickup order may use only ST-1
    assert any("may not supply" in e for e in validate_result(raw, bad))


def test_pickup_orders_only_use_their_store_and_capacity_holds() -> None:
    raw = _tiny()
    result = run_replay(load_instance(raw), "optimal")
    pickup = next(d for d in result["decisions"] if d["order"] == "o1")
    nodes = {a["node"] for line in pickup["lines"] for a in line["allocations"]}
    assert nodes <= {"ST-1"}
    used_store = sum(a["qty"] for d in result["decisions"] for line in d["lines"]
                     for a in line["allocations"] if a["node"] == "ST-1")
    assert used_store <= 1


def test_cli_writes_a_valid_result_and_prints_cost_over_dlp(tmp_path: Path) -> None:
    from api.cli import replay as _replay  # noqa: F401  (registers the command)
    from api.cli.app import app

    inst = tmp_path / "tiny.json"
    inst.write_text(json.dumps(_tiny()))
    out = tmp_path / "result.json"
    res = CliRunner().invoke(app, ["replay", str(inst), "--policy", "rules", "--out", str(out),
                                   "--bound", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "cost/DLP" in res.output and "seconds" in res.output
    doc = json.loads(out.read_text())
    assert doc["format"] == "omni-replay-result/1" and doc["policy"] == "rules"
    assert validate_result(_tiny(), doc) == []
    assert doc["total_cost"] == pytest.approx(judge_cost(_tiny(), doc))
