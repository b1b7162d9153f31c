"""The benchmark sizes of the REPLAY.md design, the unchanged small design, the replay's LP
figures and the bounds that scale (issue 17)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

import simulations.bench.replay as replay_mod
from simulations.bench.instances import BENCH_SIZES, SynthParams, synth_instance
from simulations.bench.replay import (
    dlp_of,
    hindsight_of,
    load_instance,
    run_replay,
    validate_result,
)


def test_the_metro_design_is_unchanged() -> None:
    """Seeds of the original design (<= 15 metros, <= 10 DCs) keep their instances."""
    d = synth_instance(SynthParams(seed=21, expected_orders=700.0, periods=1000))
    assert len(d["orders"]) == 698
    assert d["orders"][0]["lines"] == [{"sku": "SKU-0002", "qty": 1}]
    digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
    assert digest == "13d581dcfb9133cc"


def test_bench_sizes_are_the_issue_s_designs() -> None:
    small, mid, large = (BENCH_SIZES[k] for k in ("small", "mid", "large"))
    assert (small.dcs, small.metros, small.skus, small.stores) == (5, 10, 20, 0)
    assert (mid.dcs, mid.metros, mid.skus, mid.max_skus_per_order) == (10, 99, 50, 8)
    assert (large.dcs + large.stores, large.metros, large.skus) == (50, 1000, 1000)
    raw = synth_instance(mid)
    assert len(raw["nodes"]) == 10 and len(raw["skus"]) == 50
    assert len(raw["expected_orders"]) == 99 * 8 * 8 == 6336
    assert max(len(e["skus"]) for e in raw["expected_orders"]) == 8
    assert len({(e["lat"], e["lon"]) for e in raw["expected_orders"]}) == 99
    assert 27_000 < len(raw["orders"]) < 29_000
    assert sum(e["count"] for e in raw["expected_orders"]) == pytest.approx(28_000)


def test_more_dcs_than_the_built_in_sites_and_city_validation() -> None:
    raw = synth_instance(SynthParams(seed=2, dcs=14, metros=30, skus=10,
                                     expected_orders=300.0, periods=400))
    dcs = [n for n in raw["nodes"] if n["kind"] == "dc"]
    assert len(dcs) == 14 and len({(n["lat"], n["lon"]) for n in dcs}) == 14
    with pytest.raises(ValueError, match="metros"):
        SynthParams(metros=16, demand_points="metros")
    with pytest.raises(ValueError, match="demand_points"):
        SynthParams(demand_points="zips")


def test_replay_reports_the_price_lp_and_never_oversells() -> None:
    raw = synth_instance(SynthParams(seed=8, dcs=5, metros=10, skus=20, expected_orders=900.0,
                                     periods=1200, stores=4, walkin_units=2.0))
    inst = load_instance(raw)
    res = run_replay(inst, "forecast_aware")
    assert validate_result(raw, res) == []
    lp = res["lp"]
    assert lp["form"] == "pattern" and lp["resolve_every"] == 100
    assert lp["solves"] == -(-len(inst.orders) // 100)
    assert lp["first_seconds"] > 0 and lp["resolve_seconds_max"] >= lp["resolve_seconds_mean"]


def test_bounds_beyond_the_exact_size_are_lagrangian_lower_bounds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    raw = synth_instance(SynthParams(seed=9, dcs=4, metros=8, skus=15, expected_orders=800.0,
                                     periods=1000))
    inst = load_instance(raw)
    exact_dlp, exact_hind = dlp_of(inst), hindsight_of(inst)
    assert exact_dlp.converged and exact_hind.converged
    monkeypatch.setattr(replay_mod, "EXACT_BOUND_TYPES", 0)
    low_dlp, low_hind = dlp_of(inst), hindsight_of(inst)
    assert not low_dlp.converged and not low_hind.converged
    for low, exact in ((low_dlp, exact_dlp), (low_hind, exact_hind)):
        assert low.value <= exact.value + 1e-6
        assert low.value >= exact.value * (1 - 1e-2)
        assert np.isfinite(low.stock_prices).all()


def test_a_benchmark_size_is_written_as_a_file(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from simulations.bench.instances import main

    out = tmp_path / "small.json"
    main(["small", str(out), "--seed", "4"])
    inst = load_instance(out)
    assert inst.name == "bench-small-s4" and len(inst.network) == 5 and len(inst.skus) == 20
    assert "wrote" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["huge", str(out)])
