"""Policy API: parsing, defaults, validation errors with file:line:fieldpath."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.errors import InputErrors
from policies.models import MemberCluster, OverridePolicy, PropagationPolicy
from policies.parse import load_policies, load_policy_file

EXAMPLES = Path(__file__).resolve().parents[3] / "policies" / "examples"

HEAD = """\
apiVersion: fedctl.dev/v1alpha1
kind: PropagationPolicy
metadata: {name: p, namespace: ml}
spec:
  resourceSelectors:
    - {apiVersion: apps/v1, kind: Deployment}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(InputErrors) as info:
        load_policies(text, "p.yaml")
    return [str(e) for e in info.value.errors]


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_examples_parse(name: str) -> None:
    objs = load_policy_file(EXAMPLES / name)
    assert objs


def test_defaults_are_applied() -> None:
    (p,) = load_policies(HEAD, "p.yaml")
    assert isinstance(p, PropagationPolicy)
    assert p.metadata.namespace == "ml" and not p.cluster_scoped
    pl = p.spec.placement
    assert pl.replica_scheduling.type == "Divided"
    assert pl.replica_scheduling.division == "Aggregated"
    assert pl.replica_scheduling.rounding == "Webster"
    assert pl.cost.budget_per_hour is None and pl.cost.spot_allowed is False
    assert p.spec.failover.cluster_not_ready_seconds == 10
    assert pl.weights()["cost"] == 1.0 and pl.weights()["binpack"] == 0.0
    assert pl.gang_mode("PyTorchJob") == "SingleCluster"
    assert pl.gang_mode("Deployment") == "None"


def test_namespace_defaults_for_namespaced_kinds() -> None:
    (p,) = load_policies(HEAD.replace("namespace: ml", "labels: {a: b}"))
    assert p.metadata.namespace == "default"


def test_train_example_values() -> None:
    (p,) = load_policy_file(EXAMPLES / "train-h100-near-data.yaml")
    assert isinstance(p, PropagationPolicy)
    pl = p.spec.placement
    assert pl.gpu is not None and pl.gpu.per_replica == 8
    assert "H100-80GB" in pl.gpu.allowed_products()
    assert pl.data.datasets[0].size == 20 * 1024**4
    assert pl.weights()["cost"] == 2.0


def test_edge_example_has_override_policy() -> None:
    objs = load_policy_file(EXAMPLES / "edge.yaml")
    kinds = [type(o) for o in objs]
    assert kinds == [PropagationPolicy, OverridePolicy]
    assert objs[1].spec.override_rules[0].overriders.storage_uri is not None


def test_member_cluster_zone_defaults_to_region() -> None:
    text = (EXAMPLES / "membercluster.yaml").read_text().replace("  zone: us-east-1a\n", "")
    (mc,) = load_policies(text)
    assert isinstance(mc, MemberCluster)
    assert mc.spec.zone == "us-east-1" and mc.spec.secret_ref.namespace == "fedctl-system"


@pytest.mark.parametrize(("body", "expected"), [
    # unknown field with did-you-mean, on the right line
    ("  placement:\n    replicaScheduling: {divison: CheapestFirst}\n",
     "p.yaml:8: spec.placement.replicaScheduling.divison: unknown field 'divison' "
     "(did you mean 'division'?)"),
    ("  placment: {}\n",
     "p.yaml:7: spec.placment: unknown field 'placment' (did you mean 'placement'?)"),
    # wrong types
    ("  priority: high\n", "p.yaml:7: spec.priority: expected an integer, got string"),
    ("  placement:\n    cost: {spotAllowed: yes please}\n",
     "p.yaml:8: spec.placement.cost.spotAllowed: expected true or false, got string"),
    ("  placement:\n    gpu: {products: H100}\n",
     "p.yaml:8: spec.placement.gpu.products: expected a list, got string"),
    # negative numbers and bounds
    ("  placement:\n    cost: {budgetPerHour: -5}\n",
     "p.yaml:8: spec.placement.cost.budgetPerHour: must be >= 0, got -5"),
    ("  placement:\n    spreadConstraints:\n      - {spreadBy: region, minGroups: 0}\n",
     "p.yaml:9: spec.placement.spreadConstraints[0].minGroups: must be >= 1, got 0"),
    ("  placement:\n    gpu: {perReplica: 0}\n",
     "p.yaml:8: spec.placement.gpu.perReplica: must be >= 1, got 0"),
    # enums with did-you-mean
    ("  placement:\n    replicaScheduling: {type: Duplicate}\n",
     "p.yaml:8: spec.placement.replicaScheduling.type: invalid value 'Duplicate' "
     "(did you mean 'Duplicated'?)"),
    # unknown GPU product
    ("  placement:\n    gpu: {products: [H10O]}\n",
     "p.yaml:8: spec.placement.gpu.products[0]: unknown GPU product 'H10O'"),
    # quantities
    ("  placement:\n    gpu: {minMemory: lots}\n",
     "p.yaml:8: spec.placement.gpu.minMemory: invalid quantity 'lots'"),
    # impossible combinations
    ("  placement:\n    gpu: {products: [L4], preference: [H100]}\n",
     "p.yaml:8: spec.placement.gpu.preference[0]: preferred product 'H100' is not among the "
     "allowed products"),
    ("  placement:\n    gpu: {products: [T4], minMemory: 40Gi}\n",
     "p.yaml:8: spec.placement.gpu.minMemory: no allowed GPU product has that much memory"),
    ("  placement:\n    gang: {mode: SingleCluster}\n    spreadConstraints:\n"
     "      - {spreadBy: region, minGroups: 2}\n",
     "p.yaml:10: spec.placement.spreadConstraints[0].minGroups: a SingleCluster gang cannot "
     "spread over 2 regions"),
    ("  placement:\n    replicaScheduling: {division: Weighted}\n",
     "p.yaml:8: spec.placement.replicaScheduling.weights: division Weighted needs weights"),
    ("  placement:\n    clusterAffinity: {clusterNames: [a]}\n"
     "    clusterAffinities: [{affinityName: x}]\n",
     "p.yaml:9: spec.placement.clusterAffinities: set clusterAffinity or clusterAffinities, "
     "not both"),
    ("  placement:\n    clusterAffinities: [{providers: [aws]}]\n",
     "p.yaml:8: spec.placement.clusterAffinities[0].affinityName: each ordered term needs an "
     "affinityName"),
    ("  placement:\n    scoreWeights: {cots: 2}\n",
     "p.yaml:8: spec.placement.scoreWeights.cots: unknown score plugin 'cots' "
     "(did you mean 'cost'?)"),
    ("  placement:\n    cost: {weight: 2}\n    scoreWeights: {cost: 3}\n",
     "p.yaml:8: spec.placement.cost.weight: cost.weight (2) contradicts scoreWeights.cost (3)"),
    ("  placement:\n    data:\n      sovereignty: {regions: [eu-*]}\n      datasets:\n"
     "        - {name: d, uri: 's3://b/d', region: us-east-1}\n",
     "p.yaml:11: spec.placement.data.datasets[0].region: dataset 'd' lives in us-east-1, "
     "outside the sovereignty regions (eu-*)"),
    ("  placement:\n    data:\n      datasets:\n        - {name: d, uri: not-a-uri, "
     "region: r}\n",
     "p.yaml:10: spec.placement.data.datasets[0].uri: invalid value 'not-a-uri'"),
    ("  placement:\n    clusterTolerations: [{operator: Exists, value: x}]\n",
     "p.yaml:8: spec.placement.clusterTolerations[0].value: operator Exists takes no value"),
])
def test_errors_name_file_line_and_field(body: str, expected: str) -> None:
    errs = errors_of(HEAD + body)
    assert any(e.startswith(expected) for e in errs), errs


def test_resource_selector_errors() -> None:
    errs = errors_of(HEAD.replace("    - {apiVersion: apps/v1, kind: Deployment}\n",
                                  "    - {apiVersion: apps/v1, kind: Deployment, "
                                  "namespace: other}\n    - {kind: Job}\n"))
    assert any("spec.resourceSelectors[0].namespace: a namespaced policy selects only in its "
               "own namespace (ml)" in e for e in errs)
    assert any("spec.resourceSelectors[1]: missing required field 'apiVersion'" in e
               for e in errs)


def test_empty_selectors_rejected() -> None:
    errs = errors_of(HEAD.replace("    - {apiVersion: apps/v1, kind: Deployment}\n", "  []\n")
                     .replace("resourceSelectors:\n  []", "resourceSelectors: []"))
    assert any("resourceSelectors: needs at least 1 item" in e for e in errs)


def test_header_errors() -> None:
    errs = errors_of(HEAD.replace("kind: PropagationPolicy", "kind: PropagatonPolicy"))
    assert errs == ["p.yaml:2: kind: unknown kind 'PropagatonPolicy' "
                    "(did you mean 'PropagationPolicy'?)"]
    errs = errors_of(HEAD.replace("fedctl.dev/v1alpha1", "fedctl.dev/v1"))
    assert errs[0].startswith("p.yaml:1: apiVersion: unsupported apiVersion")
    errs = errors_of(HEAD.replace("kind: PropagationPolicy", "kind: ClusterPropagationPolicy"))
    assert errs[0].startswith("p.yaml:3: metadata.namespace: this kind is cluster-scoped")
    errs = errors_of(HEAD.replace("name: p,", "name: Bad_Name,"))
    assert errs[0].startswith("p.yaml:3: metadata.name: invalid name 'Bad_Name'")


def test_invalid_yaml() -> None:
    from federation.errors import InputError

    with pytest.raises(InputError) as info:
        load_policies(HEAD + "  placement: [\n", "p.yaml")
    assert str(info.value).startswith("p.yaml:")
    assert "invalid YAML" in str(info.value)


def test_nothing_half_loaded_and_all_documents_reported() -> None:
    good = HEAD
    bad = HEAD.replace("name: p,", "name: q,") + "  priority: x\n"
    worse = HEAD.replace("name: p,", "name: r,") + "  placement: {gpu: {perReplica: -1}}\n"
    with pytest.raises(InputErrors) as info:
        load_policies(good + "---\n" + bad + "---\n" + worse, "p.yaml")
    msgs = [str(e) for e in info.value.errors]
    assert len(msgs) == 2
    assert msgs[0].startswith("p.yaml:14: spec.priority")
    assert msgs[1].startswith("p.yaml:22: spec.placement.gpu.perReplica")


def test_duplicate_objects_rejected() -> None:
    errs = errors_of(HEAD + "---\n" + HEAD)
    assert errs == ["p.yaml:10: metadata.name: duplicate PropagationPolicy 'p' "
                    "(first defined at line 1)"]


def test_errors_are_collected_not_first_only() -> None:
    errs = errors_of(HEAD + "  priority: x\n  placement:\n    cost: {budgetPerHour: -1}\n")
    assert len(errs) == 2
