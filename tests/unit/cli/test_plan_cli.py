"""`fedctl plan` end to end on the shipped examples and the example fleet."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from federation.cli.plan import register, run
from federation.errors import InputError

ROOT = Path(__file__).resolve().parents[3]
EX = ROOT / "policies" / "examples"


def plan(*argv: str) -> tuple[int, str]:
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["plan", "--fleet", str(ROOT / "clusters.example.yaml"), *argv])
    out = io.StringIO()
    return run(args, out), out.getvalue()


def test_training_example_table() -> None:
    rc, text = plan("-f", str(EX / "workloads/pytorchjob-llama.yaml"),
                    "-p", str(EX / "train-h100-near-data.yaml"))
    assert rc == 0
    lines = text.splitlines()
    assert lines[1].split()[:3] == ["CLUSTER", "VERDICT", "GPU"]
    assert lines[2].split()[:3] == ["onprem-h100", "placed", "H100-80GB"]
    assert "SCHEDULABLE: placed 2 replica(s) on 1 cluster(s) for $29.60/h" in text
    assert "2 lack H100 or H200 (need 8 GPUs per replica)" in text
    assert "SAMPLE DATA" in text


def test_overflow_example_json() -> None:
    rc, text = plan("-f", str(EX / "workloads/job-embeddings.yaml"),
                    "-p", str(EX / "onprem-first-spot-overflow.yaml"), "-o", "json")
    assert rc == 0
    data = json.loads(text)
    dec = data["plans"][0]["decision"]
    placed = {p["cluster"]: p["replicas"]["main"] for p in dec["placement"]}
    assert placed == {"onprem-h100": 16, "aws-use1": 8}
    aws = next(c for c in dec["clusters"] if c["cluster"] == "aws-use1")
    assert aws["spot"] is True and aws["product"] == "A100-80GB"
    assert set(aws["scores"]) == {"cost", "dataLocality", "gpuPreference", "artifactCached",
                                  "balanced"}


def test_inference_example_yaml_spreads_two_regions_and_uses_cache() -> None:
    rc, text = plan("-f", str(EX / "workloads/inferenceservice-chat.yaml"),
                    "-p", str(EX / "inference-two-regions.yaml"), "-o", "yaml",
                    "--cached", "gcp-euw4=s3://models/llama-3.1-8b-instruct/")
    assert rc == 0
    dec = yaml.safe_load(text)["plans"][0]["decision"]
    assert {p["cluster"] for p in dec["placement"]} == {"aws-use1", "gcp-euw4"}
    gcp = next(c for c in dec["clusters"] if c["cluster"] == "gcp-euw4")
    assert gcp["scores"]["artifactCached"] == 100.0


def test_edge_example_duplicates_to_edge_sites() -> None:
    rc, text = plan("-f", str(EX / "workloads/deployment-edge-detector.yaml"),
                    "-p", str(EX / "edge.yaml"), "-o", "json")
    dec = json.loads(text)["plans"][0]["decision"]
    assert rc == 0
    assert {p["cluster"] for p in dec["placement"]} == {"edge-nyc", "edge-bos", "edge-sfo"}


def test_unschedulable_exit_code(tmp_path: Path) -> None:
    policy = (EX / "train-h100-near-data.yaml").read_text().replace(
        "products: [H100, H200]", "products: [B200]").replace(
        "preference: [H100-80GB]", "preference: [B200]")
    (tmp_path / "p.yaml").write_text(policy)
    rc, text = plan("-f", str(EX / "workloads/pytorchjob-llama.yaml"),
                    "-p", str(tmp_path / "p.yaml"))
    assert rc == 2
    assert "UNSCHEDULABLE: 0/6 clusters available: 3 have taint fedctl.dev/edge, " \
           "3 lack B200 (need 8 GPUs per replica)" in text


def test_workload_errors_carry_file_and_line(tmp_path: Path) -> None:
    w = tmp_path / "w.yaml"
    w.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n"
                 "  replicas: -2\n  template: {spec: {containers: []}}\n")
    with pytest.raises(InputError) as info:
        plan("-f", str(w), "-p", str(EX / "edge.yaml"))
    assert str(info.value).startswith(f"{w}:5: spec.replicas: replicas must not be negative")


def test_no_matching_policy(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no policy selects Job batch/embed-corpus"):
        plan("-f", str(EX / "workloads/job-embeddings.yaml"), "-p", str(EX / "edge.yaml"))
