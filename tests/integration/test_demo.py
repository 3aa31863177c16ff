"""The README's main job (`fedctl dev demo` on clusters.example.yaml) works end to end."""

from __future__ import annotations

import asyncio
from pathlib import Path

from federation.cli.models import describe
from federation.dev.demo import run_demo
from federation.dev.localfleet import LocalFleet
from federation.fleet import load_fleet_file

from .helpers import processes_under

ROOT = Path(__file__).resolve().parents[2]


def test_demo_places_every_example_workload(tmp_path: Path) -> None:
    state_dir = tmp_path / "demo"
    try:
        # (the demo waits 120 s per model version; the machine may be shared and loaded)
        result = asyncio.run(run_demo(load_fleet_file(ROOT / "clusters.example.yaml"),
                                      state_dir, model_timeout=300))
        landings = result.landings
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

        # The model part: version 1 on the alias, then version 2, each switched once every
        # subscribed cluster (cloud and edge) holds it Verified in its own store.
        assert [(m.version, m.switched) for m in result.models] == [("1", True), ("2", True)], \
            "\n".join(describe(m.subscription) for m in result.models)
        status = result.models[1].subscription["status"]
        assert (status["switchedVersion"], status["lastGoodVersion"]) == ("2", "1")
        by_cluster = {c["cluster"]: c for c in status["clusters"]}
        assert set(by_cluster) == {"aws-use1", "gcp-euw4", "edge-nyc", "edge-bos", "edge-sfo"}
        for name, c in by_cluster.items():
            assert (c["version"], c["state"]) == ("2", "Verified"), c
            edge = name.startswith("edge-")
            assert c["variant"] == ("int8" if edge else "default"), c
            assert c["uri"].endswith("/fraud-detector--int8/2" if edge
                                     else "/fraud-detector/2"), c
        assert "edge-nyc" in describe(result.models[1].subscription)
    finally:
        left = LocalFleet(state_dir).down()
        assert not left
        assert processes_under(state_dir) == []
