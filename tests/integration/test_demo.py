"""The README's main job (`fedctl dev demo` on clusters.example.yaml) works end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

from federation.dev.demo import run_demo
from federation.dev.localfleet import LocalFleet
from federation.fleet import load_fleet_file

from .helpers import processes_under

ROOT = Path(__file__).resolve().parents[2]


def test_demo_places_every_example_workload(tmp_path: Path) -> None:
    state_dir = tmp_path / "demo"
    try:
        landings = asyncio.run(run_demo(load_fleet_file(ROOT / "clusters.example.yaml"),
                                        state_dir))
        by_kind = {x.workload.split()[0]: x for x in landings}
        assert set(by_kind) == {"Deployment", "InferenceService", "Job", "PyTorchJob"}
        for x in landings:
            assert x.clusters != "-", x
            assert x.why.startswith("placed "), x
        # The 16-GPU training gang lands whole on the only H100 cluster.
        assert by_kind["PyTorchJob"].clusters == "onprem-h100x2"
        # The inference service spreads over two cloud regions.
        assert sorted(c.split("x")[0] for c in by_kind["InferenceService"].clusters
                      .split(", ")) == ["aws-use1", "gcp-euw4"]
        # The edge detector runs on the edge sites only.
        assert all(c.startswith("edge-") for c in by_kind["Deployment"].clusters.split(", "))
    finally:
        left = LocalFleet(state_dir).down()
        assert not left
        assert processes_under(state_dir) == []
