"""Replay instances made from the demo network are valid, deterministic and bind stock."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from api.cli import app
from data.demo import DemoParams
from simulations.bench.instances import ReplayGenParams, generate
from simulations.bench.replay import load_instance, run_replay, validate_result

SMALL = ReplayGenParams(demo=DemoParams(stores=6, skus=30, history_days=0), orders=300,
                        order_types=80, locations=40, pickup_share=0.3)


@pytest.fixture(scope="module")
def inst() -> dict:
    """A small generated instance."""
    return generate(SMALL)


def test_same_seeds_same_instance(inst: dict) -> None:
    assert generate(SMALL) == inst
    other = generate(ReplayGenParams(**{**SMALL.__dict__, "seed": 12}))
    assert other["orders"] != inst["orders"]


def test_instance_is_valid_and_policies_run(inst: dict) -> None:
    assert inst["format"] == "omni-replay/1" and len(inst["orders"]) == 300
    assert abs(sum(e["count"] for e in inst["expected_orders"]) - 300) < 1e-3
    pickups = [o for o in inst["orders"] if o["method"] == "pickup"]
    assert 0.2 < len(pickups) / 300 < 0.4
    stores = {n["id"] for n in inst["nodes"] if n["kind"] == "store" and n["click_and_collect"]}
    assert all(o["pickup_node"] in stores for o in pickups)
    result = run_replay(load_instance(inst), "nearest")
    assert validate_result(inst, result) == []


def test_stock_is_thinned_to_the_requested_pressure(inst: dict) -> None:
    assert inst["meta"]["demand_over_stock"] == pytest.approx(0.9, rel=0.1)


def test_cli_writes_an_instance(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "i.json"
    r = CliRunner().invoke(app, ["replay-gen", str(out), "--orders", "50", "--stores", "4",
                                 "--skus", "20"])
    assert r.exit_code == 0, r.output
    assert len(json.loads(out.read_text())["orders"]) == 50
    bad = CliRunner().invoke(app, ["replay-gen", str(out), "--pickup-share", "2"])
    assert bad.exit_code != 0
