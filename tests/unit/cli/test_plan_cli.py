"""`fedctl plan` end to end on the shipped examples and the example fleet."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from federation.cli.plan import register, run
from federation.errors import InputError, InputErrors

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


# ---- a workload file with the objects it references ----------------------------------------
RAY_POLICY = """\
apiVersion: fedctl.dev/v1alpha1
kind: ClusterPropagationPolicy
metadata: {name: ray}
spec:
  resourceSelectors: [{apiVersion: ray.io/v1, kind: RayJob}]
  placement:
    clusterAffinities: [{affinityName: cloud, providers: [aws]}]
"""
# As KubeRay ships ray-job.sample.yaml: the RayJob, then the ConfigMap holding its script.
RAY_JOB = """\
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: rayjob-sample}
spec:
  entrypoint: python /home/ray/samples/sample_code.py
  rayClusterSpec:
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          serviceAccountName: ray-runner
          containers:
            - name: ray-head
              image: rayproject/ray:2.46.0
              resources: {requests: {cpu: "1", memory: 2Gi}}
              env:
                - name: HF_TOKEN
                  valueFrom: {secretKeyRef: {name: hf-token, key: token, optional: true}}
              volumeMounts: [{mountPath: /home/ray/samples, name: code-sample}]
          volumes:
            - name: code-sample
              configMap:
                name: ray-job-code-sample
                items: [{key: sample_code.py, path: sample_code.py}]
    workerGroupSpecs:
      - replicas: 1
        groupName: small-group
        rayStartParams: {}
        template:
          spec:
            containers:
              - name: ray-worker
                image: rayproject/ray:2.46.0
                resources: {requests: {cpu: "1", memory: 2Gi}}
"""
CODE_CM = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: ray-job-code-sample}
data:
  sample_code.py: |
    import ray
    ray.init()
"""
RUNNER_SA = """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: ray-runner}
imagePullSecrets: [{name: registry-creds}]
"""
REGISTRY_SECRET = """\
apiVersion: v1
kind: Secret
metadata: {name: registry-creds}
type: kubernetes.io/dockerconfigjson
data: {.dockerconfigjson: e30=}
"""


def ray_plan(tmp_path: Path, *docs: str, policy: str = RAY_POLICY,
             output: str = "table") -> tuple[int, str, Path]:
    w = tmp_path / "rayjob.yaml"
    w.write_text("---\n".join(docs))
    p = tmp_path / "policy.yaml"
    p.write_text(policy)
    rc, text = plan("-f", str(w), "-p", str(p), "-o", output)
    return rc, text, w


def doc_line(path: Path, kind: str, nth: int = 0) -> int:
    """The first line (apiVersion) of the nth document of that kind."""
    return [i for i, line in enumerate(path.read_text().splitlines(), 1)
            if line == f"kind: {kind}"][nth] - 1


def test_referenced_objects_follow_the_workload(tmp_path: Path) -> None:
    rc, text, w = ray_plan(tmp_path, RAY_JOB, CODE_CM, RUNNER_SA, REGISTRY_SECRET)
    assert rc == 0, text
    lines = text.splitlines()
    start = lines.index("referenced objects (follow the workload to aws-use1):")
    deps = [line.split(None, 2) for line in lines[start + 1:start + 5]]
    assert deps == [
        ["ConfigMap", "default/ray-job-code-sample", f"line {doc_line(w, 'ConfigMap')}"],
        ["Secret", "default/hf-token",
         "optional, not in the file: the pods start without it"],
        ["Secret", "default/registry-creds", f"line {doc_line(w, 'Secret')}"],
        ["ServiceAccount", "default/ray-runner", f"line {doc_line(w, 'ServiceAccount')}"],
    ]
    assert "MISSING" not in text and "not referenced" not in text


def test_missing_referenced_configmap_is_reported_as_the_hub_does(tmp_path: Path) -> None:
    rc, text, _ = ray_plan(tmp_path, RAY_JOB, RUNNER_SA, REGISTRY_SECRET, output="json")
    assert rc == 0  # placement does not depend on it; the pods do
    deps = {d["name"]: d for d in json.loads(text)["plans"][0]["dependencies"]}
    assert deps["ray-job-code-sample"] == {
        "kind": "ConfigMap", "namespace": "default", "name": "ray-job-code-sample",
        "optional": False, "state": "missing", "line": None, "clusters": []}
    assert deps["ray-runner"]["state"] == "follows"
    assert deps["ray-runner"]["clusters"] == ["aws-use1"]
    _, table, _ = ray_plan(tmp_path, RAY_JOB)
    assert ("ConfigMap default/ray-job-code-sample  MISSING from the file: unless the hub has "
            "it, the hub reports DependenciesApplied=False: ConfigMap "
            "default/ray-job-code-sample does not exist on the hub; create it there (the pods "
            "need it)") in table
    # without the ServiceAccount in the file its pull secrets are unknown, as on the hub
    assert "registry-creds" not in table


def test_unreferenced_objects_and_propagate_deps_false(tmp_path: Path) -> None:
    other = CODE_CM.replace("ray-job-code-sample", "unrelated")
    policy = RAY_POLICY + "  propagateDeps: false\n"
    rc, text, w = ray_plan(tmp_path, RAY_JOB, CODE_CM, other, policy=policy)
    assert rc == 0
    assert (f"ConfigMap default/ray-job-code-sample  not propagated: the policy sets "
            f"propagateDeps: false (line {doc_line(w, 'ConfigMap')})") in text
    assert ("not referenced by the workload (propagated only if a policy selects them): "
            f"ConfigMap default/unrelated (line {doc_line(w, 'ConfigMap', 1)})") in text


def test_two_workloads_or_none_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        ray_plan(tmp_path, RAY_JOB, CODE_CM, RAY_JOB.replace("rayjob-sample", "second"))
    w = tmp_path / "rayjob.yaml"
    second = doc_line(w, "RayJob", 1)
    assert str(info.value).startswith(
        f"{w}:{second}: found 2 workloads: RayJob default/rayjob-sample (line 1), "
        f"RayJob default/second (line {second})")
    assert "plan one workload per file" in str(info.value)
    with pytest.raises(InputError) as info:
        ray_plan(tmp_path, CODE_CM, RUNNER_SA)
    assert str(info.value).startswith(
        f"{w}:1: no workload found among 2 documents: ConfigMap default/ray-job-code-sample "
        "(line 1), ServiceAccount default/ray-runner (line ")
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    with pytest.raises(InputError, match=r"empty\.yaml: no workload found: the file holds no"):
        plan("-f", str(tmp_path / "empty.yaml"), "-p", str(EX / "edge.yaml"))


def test_referenced_objects_are_checked_as_the_hub_renders_them(tmp_path: Path) -> None:
    token = ("apiVersion: v1\nkind: Secret\nmetadata: {name: registry-creds}\n"
             "type: kubernetes.io/service-account-token\n")
    with pytest.raises(InputError) as info:
        ray_plan(tmp_path, RAY_JOB, CODE_CM, RUNNER_SA, token)
    w = tmp_path / "rayjob.yaml"
    assert str(info.value).startswith(
        f"{w}:{doc_line(w, 'Secret')}: Secret default/registry-creds is a "
        "service-account token")
    with pytest.raises(InputError, match=r"duplicate ConfigMap default/ray-job-code-sample "
                                         r"\(first defined at line"):
        ray_plan(tmp_path, RAY_JOB, CODE_CM, CODE_CM)


def test_a_lone_configmap_is_still_planned_as_the_workload(tmp_path: Path) -> None:
    policy = RAY_POLICY.replace("{apiVersion: ray.io/v1, kind: RayJob}",
                                "{apiVersion: v1, kind: ConfigMap}")
    rc, text, _ = ray_plan(tmp_path, CODE_CM, policy=policy)
    assert rc == 0 and text.startswith("ConfigMap default/ray-job-code-sample (v1)")


# ---- model URIs are checked as the hub checks them ------------------------------------------
def test_a_bad_model_uri_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    text = (EX / "workloads/inferenceservice-chat.yaml").read_text()
    w = tmp_path / "isvc.yaml"
    w.write_text(text.replace("s3://models/llama-3.1-8b-instruct/", "s3:/models/llama"))
    line = 1 + next(i for i, t in enumerate(w.read_text().splitlines()) if "storageUri" in t)
    with pytest.raises(InputError) as info:
        plan("-f", str(w), "-p", str(EX / "inference-two-regions.yaml"))
    err = info.value
    assert (err.file, err.line, err.path) == (str(w), line, "spec.predictor.model.storageUri")
    assert str(err).startswith(f"{w}:{line}: spec.predictor.model.storageUri: invalid model "
                               "URI 's3:/models/llama': malformed: 's3' must be followed by "
                               "'://' (write s3://models/llama)")


def test_every_bad_model_uri_is_reported(tmp_path: Path) -> None:
    w = tmp_path / "isvc.yaml"
    w.write_text("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
                 "metadata: {name: chat, namespace: serving, labels: {app: chat}}\n"
                 "spec:\n  predictor:\n    model:\n      modelFormat: {name: sklearn}\n"
                 "      storageUri: S3://models/x\n"
                 "    sklearn:\n      storageUri: gs://b\n")
    with pytest.raises(InputErrors) as info:
        plan("-f", str(w), "-p", str(EX / "inference-two-regions.yaml"))
    got = [(e.line, e.path) for e in info.value.errors]
    assert got == [(8, "spec.predictor.model.storageUri"),
                   (10, "spec.predictor.sklearn.storageUri")]
    assert "scheme 'S3' must be lowercase" in str(info.value)


def test_a_good_model_uri_is_planned() -> None:
    rc, _text = plan("-f", str(EX / "workloads/inferenceservice-chat.yaml"),
                     "-p", str(EX / "inference-two-regions.yaml"))
    assert rc == 0
