"""ConfigMaps, Secrets and ServiceAccounts a workload references, their copies, pod labels."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from federation.errors import FedctlError
from federation.interpreters.interpreter import Interpreters, UnsupportedKind
from federation.interpreters.spec import ComponentRule, KindSpec
from federation.model.labels import (
    BINDING_LABEL,
    DEPENDENCY_LABEL,
    MANAGED_BY_LABEL,
    REFERENCED_BY_ANNOTATION,
)
from federation.syncer.dependencies import (
    Dependency,
    DependencyError,
    TokenSecretNotPropagatable,
    label_pod_templates,
    merge_referrers,
    parse_referrers,
    referenced,
    render_dependency,
    service_account_pull_secrets,
)

NOTEBOOK = KindSpec(group="kubeflow.org", kind="Notebook", source="test",
                    components=(ComponentRule(name="main", pod_spec="spec.template.spec"),))
INTERP = Interpreters([NOTEBOOK])
NS = "ml"


# ---- fixtures ----------------------------------------------------------------------------
def pod_spec(p: str) -> dict[str, Any]:
    """A pod spec naming one object through every supported reference, all prefixed ``p``."""
    return {
        "serviceAccountName": f"{p}-sa",
        "imagePullSecrets": [{"name": f"{p}-pull"}],
        "volumes": [
            {"name": "a", "configMap": {"name": f"{p}-cm-vol"}},
            {"name": "b", "secret": {"secretName": f"{p}-sec-vol"}},
            {"name": "c", "projected": {"sources": [
                {"configMap": {"name": f"{p}-cm-proj"}},
                {"secret": {"name": f"{p}-sec-proj"}},
                {"serviceAccountToken": {"path": "token", "audience": "vault"}},
                {"downwardAPI": {"items": []}},
            ]}},
            {"name": "d", "emptyDir": {}},
        ],
        "initContainers": [{"name": "init", "image": "busybox",
                            "envFrom": [{"configMapRef": {"name": f"{p}-cm-init"}}]}],
        "containers": [{
            "name": "main", "image": "app:1",
            "env": [
                {"name": "PLAIN", "value": "x"},
                {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": f"{p}-cm-key",
                                                                 "key": "k"}}},
                {"name": "SEC", "valueFrom": {"secretKeyRef": {"name": f"{p}-sec-key",
                                                               "key": "k"}}},
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
            "envFrom": [{"secretRef": {"name": f"{p}-sec-envfrom"}}],
        }],
    }


def expected(*prefixes: str, ns: str = NS) -> set[Dependency]:
    out: set[Dependency] = set()
    for p in prefixes:
        out |= {Dependency("ConfigMap", ns, f"{p}-{n}")
                for n in ("cm-vol", "cm-proj", "cm-init", "cm-key")}
        out |= {Dependency("Secret", ns, f"{p}-{n}")
                for n in ("sec-vol", "sec-proj", "pull", "sec-key", "sec-envfrom")}
        out.add(Dependency("ServiceAccount", ns, f"{p}-sa"))
    return out


def main_container(p: str) -> set[Dependency]:
    """What ``pod_spec(p)``'s main container (not its init container) references."""
    return {Dependency("ConfigMap", NS, f"{p}-cm-key"), Dependency("Secret", NS, f"{p}-sec-key"),
            Dependency("Secret", NS, f"{p}-sec-envfrom")}


def meta(name: str = "w") -> dict[str, Any]:
    return {"name": name, "namespace": NS, "labels": {"app": name}}


def template(p: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": p}}, "spec": pod_spec(p)}


def deployment() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(),
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "dep"}},
                     "template": template("dep")}}


def statefulset() -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(),
            "spec": {"replicas": 3, "serviceName": "db",
                     "selector": {"matchLabels": {"app": "sts"}}, "template": template("sts")}}


def job() -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta(),
            "spec": {"parallelism": 2, "template": template("job")}}


def pytorchjob() -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "metadata": meta(),
            "spec": {"pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "template": template("master")},
                "Worker": {"replicas": 4, "template": template("worker")}}}}


def isvc() -> dict[str, Any]:
    predictor = {**pod_spec("pred"), "minReplicas": 2,
                 "model": {"modelFormat": {"name": "huggingface"},
                           "storageUri": "s3://models/llm",
                           "env": [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {
                               "name": "pred-model-sec", "key": "token"}}}]}}
    del predictor["containers"]  # a model-only predictor: the model is its container
    return {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": meta(),
            "spec": {"predictor": predictor, "transformer": pod_spec("tr")}}


def jobset() -> dict[str, Any]:
    def rjob(name: str) -> dict[str, Any]:
        return {"name": name, "replicas": 2,
                "template": {"spec": {"parallelism": 2, "template": template(name)}}}
    return {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": meta(),
            "spec": {"replicatedJobs": [rjob("leader"), rjob("workers")]}}


def raycluster() -> dict[str, Any]:
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta(),
            "spec": {"headGroupSpec": {"template": template("head")},
                     "workerGroupSpecs": [{"groupName": "gpu", "replicas": 2,
                                           "template": template("gpu")}]}}


def notebook() -> dict[str, Any]:
    return {"apiVersion": "kubeflow.org/v1", "kind": "Notebook", "metadata": meta(),
            "spec": {"template": template("nb")}}


def trainjob() -> dict[str, Any]:
    return {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
            "metadata": meta(),
            "spec": {"runtimeRef": {"name": "torch-distributed"},
                     "trainer": {"numNodes": 2, "image": "train:1",
                                 "env": [{"name": "WANDB_KEY", "valueFrom": {"secretKeyRef": {
                                     "name": "wandb", "key": "key"}}}]}}}


CASES = [
    ("Deployment", deployment, expected("dep")),
    ("StatefulSet", statefulset, expected("sts")),
    ("Job", job, expected("job")),
    ("PyTorchJob", pytorchjob, expected("master", "worker")),
    # model container env + the predictor's inline pod spec (no containers) + transformer
    ("InferenceService", isvc,
     (expected("pred") - main_container("pred")) | expected("tr")
     | {Dependency("Secret", NS, "pred-model-sec")}),
    ("JobSet", jobset, expected("leader", "workers")),
    ("RayCluster", raycluster, expected("head", "gpu")),
    ("declarative Notebook", notebook, expected("nb")),
    ("TrainJob (container only)", trainjob, {Dependency("Secret", NS, "wandb")}),
]


# ---- referenced --------------------------------------------------------------------------
@pytest.mark.parametrize(("build", "want"), [(b, w) for _, b, w in CASES],
                         ids=[c[0] for c in CASES])
def test_referenced_finds_every_reference_of_every_pod_spec(build: Any,
                                                            want: set[Dependency]) -> None:
    obj = build()
    before = copy.deepcopy(obj)
    got = referenced(obj, INTERP)
    assert set(got) == want
    assert len(got) == len(want)  # no duplicates
    assert got == sorted(got)
    assert obj == before  # read only


def test_isvc_predictor_without_model_still_reads_its_pod_spec() -> None:
    obj = isvc()
    del obj["spec"]["predictor"]["model"]
    del obj["spec"]["transformer"]
    obj["spec"]["predictor"]["containers"] = [{"name": "kserve-container", "image": "x",
                                               "envFrom": [{"secretRef": {"name": "s3"}}]}]
    got = set(referenced(obj, INTERP))
    assert got == (expected("pred") - main_container("pred")) | {Dependency("Secret", NS, "s3")}


def test_namespace_is_the_workloads_and_defaults_to_default() -> None:
    obj = deployment()
    obj["metadata"]["namespace"] = "team-a"
    assert {d.namespace for d in referenced(obj, INTERP)} == {"team-a"}
    del obj["metadata"]["namespace"]
    assert {d.namespace for d in referenced(obj, INTERP)} == {"default"}


def _pod(spec: dict[str, Any]) -> dict[str, Any]:
    spec.setdefault("containers", [{"name": "c", "image": "x"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta("p"), "spec": spec}


def test_optional_flag_per_reference_kind() -> None:
    spec = {
        "volumes": [
            {"name": "a", "configMap": {"name": "cm-vol", "optional": True}},
            {"name": "b", "secret": {"secretName": "sec-vol", "optional": True}},
            {"name": "c", "projected": {"sources": [
                {"configMap": {"name": "cm-proj", "optional": True}},
                {"secret": {"name": "sec-proj", "optional": False}}]}},
        ],
        "containers": [{"name": "c", "image": "x",
                        "env": [{"name": "A", "valueFrom": {"configMapKeyRef": {
                            "name": "cm-key", "key": "k", "optional": True}}},
                                {"name": "B", "valueFrom": {"secretKeyRef": {
                                    "name": "sec-key", "key": "k"}}}],
                        "envFrom": [{"configMapRef": {"name": "cm-from", "optional": True}},
                                    {"secretRef": {"name": "sec-from", "optional": True}}]}],
    }
    got = {(d.kind, d.name): d.optional for d in referenced(_pod(spec), INTERP)}
    assert got == {
        ("ConfigMap", "cm-vol"): True, ("Secret", "sec-vol"): True,
        ("ConfigMap", "cm-proj"): True, ("Secret", "sec-proj"): False,
        ("ConfigMap", "cm-key"): True, ("Secret", "sec-key"): False,
        ("ConfigMap", "cm-from"): True, ("Secret", "sec-from"): True,
    }


def test_one_required_reference_makes_a_dependency_required() -> None:
    spec = {"volumes": [{"name": "a", "configMap": {"name": "shared", "optional": True}}],
            "containers": [{"name": "c", "image": "x",
                            "envFrom": [{"configMapRef": {"name": "shared"}}]}]}
    assert referenced(_pod(spec), INTERP) == [Dependency("ConfigMap", NS, "shared", False)]
    # whichever comes first
    spec = {"volumes": [{"name": "a", "configMap": {"name": "shared"}}],
            "containers": [{"name": "c", "image": "x",
                            "envFrom": [{"configMapRef": {"name": "shared", "optional": True}}]}]}
    assert referenced(_pod(spec), INTERP) == [Dependency("ConfigMap", NS, "shared", False)]
    # ... and an image pull secret is never optional, even if a volume of it is
    spec = {"volumes": [{"name": "a", "secret": {"secretName": "reg", "optional": True}}],
            "imagePullSecrets": [{"name": "reg"}]}
    assert referenced(_pod(spec), INTERP) == [Dependency("Secret", NS, "reg", False)]


def test_deduplicated_across_containers_and_components_and_sorted() -> None:
    obj = pytorchjob()
    for role in ("Master", "Worker"):
        spec = obj["spec"]["pytorchReplicaSpecs"][role]["template"]["spec"]
        spec.clear()
        spec.update({
            "serviceAccountName": "trainer",
            "volumes": [{"name": "cfg", "configMap": {"name": "zeta"}},
                        {"name": "p", "projected": {"sources": [
                            {"configMap": {"name": "zeta"}}, {"secret": {"name": "creds"}}]}}],
            "containers": [{"name": n, "image": "x",
                            "envFrom": [{"configMapRef": {"name": "alpha"}},
                                        {"secretRef": {"name": "creds"}}]}
                           for n in ("a", "b")],
        })
    assert referenced(obj, INTERP) == [
        Dependency("ConfigMap", NS, "alpha"), Dependency("ConfigMap", NS, "zeta"),
        Dependency("Secret", NS, "creds"), Dependency("ServiceAccount", NS, "trainer")]


@pytest.mark.parametrize(("spec", "want"), [
    ({"serviceAccountName": "default"}, []),
    ({"serviceAccount": "default"}, []),
    ({}, []),
    ({"serviceAccount": "legacy"}, ["legacy"]),
    ({"serviceAccountName": "new", "serviceAccount": "legacy"}, ["new"]),
    ({"serviceAccountName": "", "serviceAccount": "legacy"}, ["legacy"]),
], ids=["name-default", "deprecated-default", "none", "deprecated", "name-wins",
        "empty-name-falls-back"])
def test_service_account(spec: dict[str, Any], want: list[str]) -> None:
    got = referenced(_pod(spec), INTERP)
    assert [d.name for d in got if d.kind == "ServiceAccount"] == want
    assert all(d.kind == "ServiceAccount" for d in got)


def test_ephemeral_containers_are_read() -> None:
    spec = {"ephemeralContainers": [{"name": "debug", "image": "busybox",
                                     "env": [{"name": "T", "valueFrom": {"secretKeyRef": {
                                         "name": "debug-token", "key": "t"}}}]}]}
    assert referenced(_pod(spec), INTERP) == [Dependency("Secret", NS, "debug-token")]


def test_malformed_references_are_skipped_not_fatal() -> None:
    spec = {"volumes": [None, "x", {"name": "a", "configMap": None},
                        {"name": "b", "secret": {"secretName": 7}},
                        {"name": "c", "projected": {"sources": None}},
                        {"name": "d", "configMap": {"name": ""}}],
            "imagePullSecrets": [{}, "reg"],
            "containers": [{"name": "c", "image": "x", "env": [None, {"name": "A"},
                                                              {"valueFrom": None}],
                            "envFrom": "oops"}, "not-a-container"]}
    assert referenced(_pod(spec), INTERP) == []


def test_unsupported_kind_is_an_error() -> None:
    with pytest.raises(UnsupportedKind):
        referenced({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta()},
                   INTERP)


def test_service_account_pull_secrets() -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "t", "namespace": NS},
          "imagePullSecrets": [{"name": "b"}, {"name": "a"}, {"name": "b"}, {}],
          "secrets": [{"name": "t-token-abcde"}]}
    assert service_account_pull_secrets(sa) == [Dependency("Secret", NS, "a"),
                                                Dependency("Secret", NS, "b")]
    assert service_account_pull_secrets({"kind": "ConfigMap"}) == []


# ---- render_dependency -------------------------------------------------------------------
SERVER_META = {"uid": "0b1c", "resourceVersion": "812", "creationTimestamp": "2026-01-01T00:00:00Z",
               "managedFields": [{"manager": "kubectl"}], "generation": 1,
               "ownerReferences": [{"kind": "Deployment", "name": "x", "uid": "u"}],
               "selfLink": "/api/v1/x"}


def source(kind: str, **body: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind,
            "metadata": {"name": "cfg", "namespace": NS, **copy.deepcopy(SERVER_META),
                         "labels": {"app": "llm", BINDING_LABEL: "stale", "fedctl.dev/x": "1"},
                         "annotations": {
                             "kubectl.kubernetes.io/last-applied-configuration": "{}",
                             "fedctl.dev/cluster": "east", REFERENCED_BY_ANNOTATION: "old",
                             "team": "ml"}},
            "status": {"anything": True}, **body}


def want_meta(referrers: str) -> dict[str, Any]:
    return {"name": "cfg", "namespace": NS,
            "labels": {"app": "llm", MANAGED_BY_LABEL: "fedctl", DEPENDENCY_LABEL: "true"},
            "annotations": {"team": "ml", REFERENCED_BY_ANNOTATION: referrers}}


def test_render_configmap_keeps_only_name_labels_annotations_and_data() -> None:
    src = source("ConfigMap", data={"a": "1"}, binaryData={"b": "AA=="}, immutable=True)
    out = render_dependency(src, ["ml.chat", "ml.bert", "ml.chat"])
    assert out == {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": want_meta("ml.bert,ml.chat"),
                   "data": {"a": "1"}, "binaryData": {"b": "AA=="}, "immutable": True}
    assert BINDING_LABEL not in out["metadata"]["labels"]
    out["data"]["a"] = "changed"
    assert src["data"]["a"] == "1"  # a copy, not a view


def test_render_secret_keeps_type_and_data() -> None:
    src = source("Secret", type="kubernetes.io/dockerconfigjson",
                 data={".dockerconfigjson": "e30="}, stringData={"extra": "x"})
    assert render_dependency(src, {"ml.chat"}) == {
        "apiVersion": "v1", "kind": "Secret", "metadata": want_meta("ml.chat"),
        "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30="},
        "stringData": {"extra": "x"}}


def test_render_service_account_drops_token_secrets() -> None:
    src = source("ServiceAccount", secrets=[{"name": "cfg-token-x1"}],
                 imagePullSecrets=[{"name": "reg"}], automountServiceAccountToken=False)
    assert render_dependency(src, ["ml.a"]) == {
        "apiVersion": "v1", "kind": "ServiceAccount", "metadata": want_meta("ml.a"),
        "imagePullSecrets": [{"name": "reg"}], "automountServiceAccountToken": False}


def test_render_minimal_object_and_fields_of_other_kinds_are_not_copied() -> None:
    src = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"},
           "type": "Opaque", "secrets": [{"name": "t"}]}
    assert render_dependency(src, ["n.w"]) == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "n",
                     "labels": {MANAGED_BY_LABEL: "fedctl", DEPENDENCY_LABEL: "true"},
                     "annotations": {REFERENCED_BY_ANNOTATION: "n.w"}}}


def test_service_account_token_secret_is_rejected() -> None:
    src = source("Secret", type="kubernetes.io/service-account-token", data={"token": "eA=="})
    with pytest.raises(TokenSecretNotPropagatable) as err:
        render_dependency(src, ["ml.chat"])
    assert isinstance(err.value, FedctlError)
    assert "Secret ml/cfg" in str(err.value)
    assert "kubernetes.io/service-account-token" in str(err.value)
    assert "serviceAccountName" in str(err.value)  # the hint says what to do instead


@pytest.mark.parametrize(("obj", "referrers", "match"), [
    ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}, ["a"],
     "cannot propagate apps/v1/Deployment"),
    ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}}, ["a"],
     "cannot propagate v1/Service"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, ["a"], "without metadata.name"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, [],
     "referenced by no binding"),
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, ["a,b"],
     "invalid binding name"),
], ids=["deployment", "service", "no-name", "no-referrer", "comma"])
def test_render_rejects(obj: dict[str, Any], referrers: list[str], match: str) -> None:
    with pytest.raises(DependencyError, match=match):
        render_dependency(obj, referrers)


# ---- merge_referrers ---------------------------------------------------------------------
@pytest.mark.parametrize(("existing", "add", "remove", "want"), [
    (None, {"b", "a"}, set(), "a,b"),
    ("", {"a"}, set(), "a"),
    ("a,c", {"b"}, set(), "a,b,c"),
    ("a,b,c", set(), {"b"}, "a,c"),
    ("a", set(), {"a"}, ""),
    ("a", set(), {"zz"}, "a"),
    ("c, a,,a ", set(), set(), "a,c"),  # tolerated and canonicalised
    ("a", {"b"}, {"b"}, "a"),  # remove wins
])
def test_merge_referrers_examples(existing: str | None, add: set[str], remove: set[str],
                                  want: str) -> None:
    assert merge_referrers(existing, add, remove) == want


@pytest.mark.parametrize("bad", ["", "a,b", "a b", " a"])
def test_merge_referrers_rejects_unsafe_names(bad: str) -> None:
    with pytest.raises(DependencyError, match="invalid binding name"):
        merge_referrers("x", {bad}, set())


BINDINGS = st.frozensets(st.from_regex(r"[a-z0-9][a-z0-9.\-]{0,20}", fullmatch=True),
                         max_size=8)


@given(BINDINGS, BINDINGS)
def test_add_then_remove_returns_the_original_set(original: frozenset[str],
                                                  extra: frozenset[str]) -> None:
    added = set(extra - original)
    start = merge_referrers(None, set(original), set())
    grown = merge_referrers(start, added, set())
    assert parse_referrers(grown) == original | added
    assert merge_referrers(grown, set(), added) == start
    assert parse_referrers(start) == original


@given(BINDINGS, BINDINGS, BINDINGS)
def test_merge_is_set_algebra_and_canonical(existing: frozenset[str], add: frozenset[str],
                                            remove: frozenset[str]) -> None:
    shuffled = ",".join(sorted(existing, reverse=True))
    out = merge_referrers(shuffled, set(add), set(remove))
    assert parse_referrers(out) == (existing | add) - remove
    assert out == ",".join(sorted(parse_referrers(out)))
    assert merge_referrers(out, set(), set()) == out  # idempotent


# ---- label_pod_templates -----------------------------------------------------------------
LABELS = {BINDING_LABEL: "ml.w", "fedctl.dev/cluster-group": "a"}
TEMPLATE_PATHS: list[tuple[str, Any, list[tuple[str | int, ...]]]] = [
    ("Deployment", deployment, [("spec", "template", "metadata", "labels")]),
    ("StatefulSet", statefulset, [("spec", "template", "metadata", "labels")]),
    ("Job", job, [("spec", "template", "metadata", "labels")]),
    ("PyTorchJob", pytorchjob,
     [("spec", "pytorchReplicaSpecs", r, "template", "metadata", "labels")
      for r in ("Master", "Worker")]),
    ("InferenceService", isvc, [("spec", "predictor", "labels"),
                                ("spec", "transformer", "labels")]),
    ("JobSet", jobset,
     [("spec", "replicatedJobs", i, "template", "spec", "template", "metadata", "labels")
      for i in (0, 1)]),
    ("RayCluster", raycluster,
     [("spec", "headGroupSpec", "template", "metadata", "labels"),
      ("spec", "workerGroupSpecs", 0, "template", "metadata", "labels")]),
    ("declarative Notebook", notebook, [("spec", "template", "metadata", "labels")]),
    ("Pod", lambda: _pod({}), [("metadata", "labels")]),
]


def _get(obj: Any, path: tuple[str | int, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def _set(obj: Any, path: tuple[str | int, ...], value: Any) -> None:
    _get(obj, path[:-1])[path[-1]] = value


@pytest.mark.parametrize(("build", "label_paths"), [(b, p) for _, b, p in TEMPLATE_PATHS],
                         ids=[c[0] for c in TEMPLATE_PATHS])
def test_label_pod_templates(build: Any, label_paths: list[tuple[str | int, ...]]) -> None:
    obj = build()
    before = copy.deepcopy(obj)
    label_pod_templates(obj, INTERP, LABELS)
    for path in label_paths:
        old = _get(before, path) if _has(before, path) else {}
        assert _get(obj, path) == {**old, **LABELS}
    # nothing else changed: putting the old label maps back gives the original object
    for path in label_paths:
        if _has(before, path):
            _set(obj, path, _get(before, path))
        else:
            del _get(obj, path[:-1])[path[-1]]
    assert obj == before


def _has(obj: Any, path: tuple[str | int, ...]) -> bool:
    try:
        _get(obj, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def test_label_pod_templates_keeps_existing_labels_and_selectors() -> None:
    obj = deployment()
    label_pod_templates(obj, INTERP, {"fedctl.dev/binding": "ml.w", "app": "overridden"})
    assert obj["spec"]["template"]["metadata"]["labels"] == {"app": "overridden",
                                                             "fedctl.dev/binding": "ml.w"}
    assert obj["spec"]["selector"] == {"matchLabels": {"app": "dep"}}
    assert obj["metadata"]["labels"] == {"app": "w"}  # the workload's own labels untouched


def test_label_pod_templates_isvc_does_not_invent_pod_metadata() -> None:
    obj = isvc()
    label_pod_templates(obj, INTERP, LABELS)
    assert "metadata" not in obj["spec"]["predictor"]
    assert obj["spec"]["predictor"]["labels"] == LABELS
    assert "explainer" not in obj["spec"]  # absent components stay absent


def test_label_pod_templates_creates_missing_template_metadata() -> None:
    obj = job()
    del obj["spec"]["template"]["metadata"]
    label_pod_templates(obj, INTERP, LABELS)
    assert obj["spec"]["template"]["metadata"] == {"labels": LABELS}


def test_label_pod_templates_leaves_kinds_without_pod_template_alone() -> None:
    obj = trainjob()
    before = copy.deepcopy(obj)
    label_pod_templates(obj, INTERP, LABELS)
    assert obj == before


# ---- purity ------------------------------------------------------------------------------
def test_module_is_in_the_pure_rendering_contract() -> None:
    root = Path(__file__).resolve().parents[3]
    contracts = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"]
    pure = next(c for c in contracts if c["name"] == "Rendering for members is pure")
    assert "federation.syncer.dependencies" in pure["source_modules"]
    assert {"kubernetes_asyncio", "asyncio", "aiohttp"} <= set(pure["forbidden_modules"])
