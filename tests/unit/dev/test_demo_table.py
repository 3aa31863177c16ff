"""The demo's table rows: a workload as ``Kind namespace/name``, where it landed and why."""

from __future__ import annotations

from federation.dev.demo import _landing
from federation.hub.bindings import TemplateKey

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
