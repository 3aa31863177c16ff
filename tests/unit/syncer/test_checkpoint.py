"""Checkpoint hand-over after a training failover: where the location comes from and how
the new copy is told."""

from __future__ import annotations

from typing import Any

from federation.interpreters.interpreter import Interpreters
from federation.syncer.checkpoint import (
    FAILOVER_FROM_ENV,
    RESUME_ANNOTATION,
    RESUME_ENV,
    add_resume,
    checkpoint_location,
)
from federation.syncer.render import MemberTarget, render

INTERP = Interpreters()
WEST = MemberTarget("west", {}, "us-west-2", "aws", "")


def job(annotations: dict[str, str] | None = None,
        env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "pytorch", "image": "train:1"}
    if env is not None:
        container["env"] = env
    template = {"spec": {"containers": [container]}}
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob",
            "metadata": {"name": "t", "namespace": "ml", "annotations": annotations or {}},
            "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": template},
                                             "Worker": {"replicas": 2,
                                                        "template": template}}}}


def test_annotation_wins_over_env() -> None:
    t = job({"fedctl.dev/checkpoint": "s3://ckpt/run-7/"},
            [{"name": "CHECKPOINT_DIR", "value": "/mnt/ckpt"}])
    assert checkpoint_location(t, INTERP, "CHECKPOINT_DIR") == "s3://ckpt/run-7/"


def test_env_named_by_the_policy() -> None:
    t = job(env=[{"name": "OTHER", "value": "x"}, {"name": "CKPT", "value": "gs://b/c"}])
    assert checkpoint_location(t, INTERP, "CKPT") == "gs://b/c"
    assert checkpoint_location(t, INTERP, "CHECKPOINT_DIR") is None
    assert checkpoint_location(job(), INTERP, "CHECKPOINT_DIR") is None
    from_secret = job(env=[{"name": "CKPT", "valueFrom": {"secretKeyRef": {"name": "s"}}}])
    assert checkpoint_location(from_secret, INTERP, "CKPT") is None


def test_resume_reaches_every_container_once() -> None:
    t = job(env=[{"name": RESUME_ENV, "value": "old"}])
    out = render(t, WEST, binding="ml.t", interpreters=INTERP, replicas={"Master": 1,
                                                                          "Worker": 2},
                 resume=("s3://ckpt/run-7/", "east"))
    assert out["metadata"]["annotations"][RESUME_ANNOTATION] == "s3://ckpt/run-7/"
    for role in ("Master", "Worker"):
        env = out["spec"]["pytorchReplicaSpecs"][role]["template"]["spec"]["containers"][0][
            "env"]
        assert [e for e in env if e["name"] == RESUME_ENV] == [
            {"name": RESUME_ENV, "value": "s3://ckpt/run-7/"}]
        assert {"name": FAILOVER_FROM_ENV, "value": "east"} in env
    again = render(out, WEST, binding="ml.t", interpreters=INTERP,
                   resume=("s3://ckpt/run-7/", "east"))
    assert again["spec"] == out["spec"]  # idempotent


def test_unknown_kind_gets_the_annotation_only() -> None:
    obj: dict[str, Any] = {"apiVersion": "x.io/v1", "kind": "Thing", "metadata": {"name": "a"}}
    add_resume(obj, INTERP, "s3://c/", "east")
    assert obj["metadata"]["annotations"][RESUME_ANNOTATION] == "s3://c/"
    assert "spec" not in obj
