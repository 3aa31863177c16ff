"""The demo's table rows (a workload as ``Kind namespace/name``, where it landed and why)
and the pure parts of its model step."""

from __future__ import annotations

from pathlib import Path

from federation.dev.demo import _landing
from federation.dev.demo_model import (
    POLL_SECONDS,
    example_model_documents,
    for_local_fleet,
    switched_to,
    version_files,
)
from federation.dev.objectstores import StoreEndpoint
from federation.fleet import load_fleet_file
from federation.hub.bindings import TemplateKey
from policies.models import ModelSubscription
from policies.parse import parse_document
from policies.source import Document

ROOT = Path(__file__).resolve().parents[3]

KEY = TemplateKey("kubeflow.org/v1", "PyTorchJob", "research", "llama-pretrain")


def test_a_placed_workload() -> None:
    binding = {"spec": {"clusters": [{"name": "onprem-h100", "replicas": {"Master": 1,
                                                                          "Worker": 1}}]},
               "status": {"phase": "Running", "conditions": [
                   {"type": "Scheduled", "status": "True", "message": "placed 2 replica(s)"},
                   {"type": "Applied", "status": "True", "message": ""}]}}
    row = _landing(KEY, binding)
    assert (row.workload, row.clusters, row.phase, row.why) == (
        "PyTorchJob research/llama-pretrain", "onprem-h100x2", "Running",
        "placed 2 replica(s)")


def test_an_apply_error_and_no_binding() -> None:
    binding = {"spec": {"clusters": []}, "status": {"conditions": [
        {"type": "Scheduled", "status": "True", "message": "placed"},
        {"type": "Applied", "status": "False", "message": "member1: HTTP 422"}]}}
    assert _landing(KEY, binding).why == "placed | apply: member1: HTTP 422"
    assert _landing(KEY, None).workload == "PyTorchJob research/llama-pretrain"


# ---- the model part -----------------------------------------------------------------------
STORE = StoreEndpoint(name="dc1-s3", provider="s3", region="onprem-dc1", bucket="models",
                      endpoint="http://127.0.0.1:41234", root=None, access_key="a",
                      secret_key="b")


def test_the_example_source_is_pointed_at_the_local_registry() -> None:
    source, sub = example_model_documents()
    doc = for_local_fleet(source, "http://127.0.0.1:45678", STORE)
    assert doc["spec"]["pollIntervalSeconds"] == POLL_SECONDS == 2
    mlflow = doc["spec"]["mlflow"]
    assert mlflow["trackingUri"] == "http://127.0.0.1:45678"
    assert "webhookSecretRef" not in mlflow  # the in-process hub serves no webhook
    assert mlflow["artifactStore"]["endpoint"] == "http://127.0.0.1:41234"
    assert mlflow["artifactStore"]["bucket"] == "models"
    assert mlflow["artifactStore"]["secretRef"] == {"name": "fedctl-store-dc1-s3",
                                                    "namespace": "fedctl-system"}
    assert "webhookSecretRef" in source["spec"]["mlflow"]  # the example is left as it is
    assert (sub["spec"]["source"], sub["spec"]["model"]) == (
        source["metadata"]["name"], "fraud-detector")
    # the adapted source still parses as a ModelSource
    parse_document(Document(doc, "demo", 0, 1))


def test_the_example_subscription_selects_the_cloud_and_edge_clusters() -> None:
    _, sub = example_model_documents()
    fleet = load_fleet_file(ROOT / "clusters.example.yaml")
    parsed = parse_document(Document(sub, "example", 0, 1))
    assert isinstance(parsed, ModelSubscription)
    selector = parsed.spec.clusters.selector
    assert selector is not None
    chosen = {c.name for c in fleet.clusters if selector.matches(dict(c.labels))}
    assert chosen == {"aws-use1", "gcp-euw4", "edge-nyc", "edge-bos", "edge-sfo"}


def test_the_demo_model_is_a_valid_onnx_model_and_versions_differ() -> None:
    import onnx

    one, two = version_files(1), version_files(2)
    onnx.checker.check_model(onnx.load_from_string(one["model.onnx"]))
    assert one["model.onnx"] != two["model.onnx"]
    assert len(one["model.onnx"]) < 64 * 1024


def test_switched_to_reads_the_status() -> None:
    assert switched_to({"status": {"switchedVersion": "2"}}, "2")
    assert not switched_to({"status": {"switchedVersion": "1"}}, "2")
    assert not switched_to({}, "1")
