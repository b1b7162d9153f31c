"""Scenario files: validation messages, unknown keys, and the committed examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulations.scenario import ScenarioError, load_scenario, parse_scenario

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "simulations" / "scenarios")
                  .glob("*.toml"))


@pytest.mark.parametrize(("raw", "message"), [
    ({"horizon_days": 0}, "expected horizon_days >= 1, got 0"),
    ({"demand": {"pickup_share": 1.5}}, "[demand]: expected 0 <= pickup_share <= 1, got 1.5"),
    ({"demand": {"lines_mix": [0.5, 0.2]}}, "expected lines_mix of shares >= 0 summing to 1"),
    ({"demand": {"orders": 3}}, "[demand]: unknown key 'orders'"),
    ({"network": {"stores": 0}}, "[network]: expected stores >= 1, got 0"),
    ({"policies": ["nearest", "magic"]}, "expected policies from"),
    ({"replenishment": {"service_level": 1.0}}, "expected 0 < service_level < 1, got 1.0"),
    ({"what_if": [{"kind": "flood"}]}, "what_if[0]: expected kind one of"),
    ({"what_if": [{"kind": "dc_closed"}]}, "what_if[0]: expected dc"),
    ({"what_if": [{"kind": "capacity_cut", "percent": 120}]},
     "expected 0 <= percent <= 100, got 120"),
    ({"horizon": 3}, "unknown key 'horizon'"),
])
def test_invalid_scenarios_say_what_was_expected(raw: dict, message: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(raw)
    assert message in str(err.value)


def test_load_scenario_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("horizon_days = 0\n")
    with pytest.raises(ScenarioError, match=r"bad.toml: expected horizon_days >= 1, got 0"):
        load_scenario(path)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_valid(path: Path) -> None:
    scen = load_scenario(path)
    assert scen.horizon_days >= 1 and "nearest" in scen.policies
    assert len(EXAMPLES) >= 4
