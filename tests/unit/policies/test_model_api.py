"""ModelSource / ModelSubscription API: defaults and validation errors with file:line:path."""

from __future__ import annotations

import pytest

from federation.errors import InputErrors
from policies.models import (
    MemberCluster,
    ModelSource,
    ModelSubscription,
    staged_name,
)
from policies.parse import load_policies

SUB = """\
apiVersion: fedctl.dev/v1alpha1
kind: ModelSubscription
metadata: {name: fraud, namespace: ml}
spec:
  source: mlflow
  model: fraud-detector
"""
CLUSTERS = "  clusters: {names: [edge-1]}\n"
SRC = """\
apiVersion: fedctl.dev/v1alpha1
kind: ModelSource
metadata: {name: mlflow, namespace: ml}
spec:
"""
MLFLOW = """\
  mlflow:
    trackingUri: http://127.0.0.1:5000
    artifactStore: {name: a, provider: s3, region: r, bucket: b}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(InputErrors) as info:
        load_policies(text, "m.yaml")
    return [str(e) for e in info.value.errors]


def test_subscription_defaults() -> None:
    (sub,) = load_policies(SUB + CLUSTERS + """\
  workloads:
  - {apiVersion: serving.kserve.io/v1beta1, kind: InferenceService, name: fraud}
  - {apiVersion: apps/v1, kind: Deployment, name: d, uriField: spec.template.metadata.x}
""", "m.yaml")
    assert isinstance(sub, ModelSubscription)
    s = sub.spec
    assert s.channel == "latest" and s.store == "" and s.variants == ()
    assert s.retention.keep == 3
    assert (s.concurrency.per_source, s.concurrency.per_region) == (4, 2)
    assert [w.uri_field for w in s.workloads] == [
        "spec.predictor.model.storageUri", "spec.template.metadata.x"]
    assert s.clusters.names == ("edge-1",)


def test_subscription_status_round_trips() -> None:
    (sub,) = load_policies(SUB + CLUSTERS + """\
status:
  desiredVersion: "2"
  switchedVersion: "1"
  clusters:
  - {cluster: edge-1, store: s, variant: int8, version: "2", state: Copying,
     bytesDone: 5, bytesTotal: 10, uri: "s3://b/p/fraud-detector--int8/2"}
""", "m.yaml")
    assert isinstance(sub, ModelSubscription) and sub.status is not None
    (c,) = sub.status.clusters
    assert (c.state, c.bytes_done, c.bytes_total, c.variant) == ("Copying", 5, 10, "int8")


@pytest.mark.parametrize(("body", "expected"), [
    ("  clusters: {}\n",
     "m.yaml:7: spec.clusters: clusters selects no cluster (set selector, names or "
     "propagationPolicy)"),
    (CLUSTERS + "  variants:\n  - {name: int8}\n  - {name: int8}\n",
     "m.yaml:10: spec.variants[1].name: duplicate variant 'int8' (variant names must be "
     "unique)"),
    (CLUSTERS + "  variants:\n  - {name: Int_8}\n",
     "m.yaml:9: spec.variants[0].name: invalid value 'Int_8' "
     "(must match [a-z0-9]([-a-z0-9]*[a-z0-9])?)"),
    (CLUSTERS + "  variants:\n  - name: x\n    match: {gpuProducts: [T4-16GB, Q9000]}\n",
     "m.yaml:10: spec.variants[0].match.gpuProducts[1]: unknown GPU product 'Q9000'"),
    (CLUSTERS + "  variants:\n  - name: x\n    match: {gpuProducts: [T4-16GB], cpuOnly: true}\n",
     "m.yaml:10: spec.variants[0].match.cpuOnly: cpuOnly: true contradicts gpuProducts"),
    (CLUSTERS + "  variants:\n  - name: x\n    build: {converter: onnx-int8, input: ../m.onnx}\n",
     "m.yaml:10: spec.variants[0].build.input: invalid path '../m.onnx'"),
    (CLUSTERS + "  variants:\n  - name: x\n    build: {converter: onnx-int8, input: /m.onnx}\n",
     "m.yaml:10: spec.variants[0].build.input: invalid path '/m.onnx'"),
    (CLUSTERS + "  variants:\n  - name: x\n    build: {converter: tflite, input: m.onnx}\n",
     "m.yaml:10: spec.variants[0].build.converter: invalid value 'tflite'"),
    (CLUSTERS + "  workloads:\n  - {apiVersion: apps/v1, kind: Deployment, name: d}\n",
     "m.yaml:9: spec.workloads[0].uriField: kind Deployment needs uriField"),
    (CLUSTERS + "  retention: {keep: 0}\n", "m.yaml:8: spec.retention.keep: must be >= 1, got 0"),
    (CLUSTERS + "  concurrency: {perRegion: 0}\n",
     "m.yaml:8: spec.concurrency.perRegion: must be >= 1, got 0"),
    (CLUSTERS + "status:\n  clusters:\n  - {cluster: a, state: Done}\n",
     "m.yaml:10: status.clusters[0].state: invalid value 'Done'"),
])
def test_subscription_errors(body: str, expected: str) -> None:
    errs = errors_of(SUB + body)
    assert any(e.startswith(expected) for e in errs), errs


def test_source_mlflow() -> None:
    (src,) = load_policies(SRC + MLFLOW + "    webhookSecretRef: {name: hook}\n", "m.yaml")
    assert isinstance(src, ModelSource) and src.spec.mlflow is not None
    assert src.spec.poll_interval_seconds == 30
    assert src.spec.mlflow.webhook_secret_ref is not None
    assert src.spec.mlflow.webhook_secret_ref.key == "secret"
    store = src.spec.mlflow.artifact_store
    assert (store.path_style, store.checksum_mode, store.prefix, store.edge) == (
        True, "when_supported", "", False)


@pytest.mark.parametrize(("body", "expected"), [
    ("  pollIntervalSeconds: 30\n",
     "m.yaml:4: spec: a ModelSource needs a source type (set mlflow or objectStore)"),
    (MLFLOW + "  objectStore:\n    store: {name: a, provider: file, region: r, root: /srv}\n",
     "m.yaml:8: spec.objectStore: set exactly one of mlflow or objectStore, not both"),
    (MLFLOW + "  pollIntervalSeconds: 0\n",
     "m.yaml:8: spec.pollIntervalSeconds: must be >= 1, got 0"),
    ("  mlflow:\n    trackingUri: ftp://x\n    artifactStore: {name: a, provider: s3, region: r}\n",
     "m.yaml:6: spec.mlflow.trackingUri: invalid value 'ftp://x'"),
    ("  objectStore:\n    store: {name: a, provider: s3, region: r, root: /srv}\n",
     "m.yaml:6: spec.objectStore.store.root: root is for file stores, not s3"),
    ("  objectStore:\n    store: {name: a, provider: file, region: r, root: srv}\n",
     "m.yaml:6: spec.objectStore.store.root: root must be an absolute path"),
    ("  objectStore:\n    store: {name: a, provider: s3, region: r, checksumMode: always}\n",
     "m.yaml:6: spec.objectStore.store.checksumMode: invalid value 'always'"),
    ("  objectStore:\n    store: {name: a, provider: s3, region: r, prefix: a//b}\n",
     "m.yaml:6: spec.objectStore.store.prefix: invalid prefix 'a//b'"),
])
def test_source_errors(body: str, expected: str) -> None:
    errs = errors_of(SRC + body)
    assert any(e.startswith(expected) for e in errs), errs


def test_member_cluster_store_fields() -> None:
    (mc,) = load_policies("""\
apiVersion: fedctl.dev/v1alpha1
kind: MemberCluster
metadata: {name: edge-1}
spec:
  endpoint: https://127.0.0.1:6443
  secretRef: {name: edge-1}
  provider: edge
  region: edge-a
  objectStores:
  - name: s
    provider: s3
    region: edge-a
    bucket: b
    prefix: models/
    endpoint: http://127.0.0.1:9000
    secretRef: {name: fedctl-store-s}
    pathStyle: false
    checksumMode: when_required
    edge: true
""", "m.yaml")
    assert isinstance(mc, MemberCluster)
    (s,) = mc.spec.object_stores
    assert s.secret_ref is not None and s.secret_ref.namespace == "fedctl-system"
    assert (s.prefix, s.path_style, s.checksum_mode, s.edge) == (
        "models/", False, "when_required", True)


def test_staged_name() -> None:
    assert staged_name("fraud", "default") == "fraud"
    assert staged_name("fraud", "int8") == "fraud--int8"
