from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributors.base import StoreConfig
from federation.staging.plan import (
    ClusterFacts,
    choose_variant,
    mirror_uri,
    plan_targets,
    staged_name,
)
from federation.staging.types import (
    SubscriptionPlanInput,
    VariantBuild,
    VariantMatch,
    VariantRule,
)
from policies.models import LabelSelector

S3 = StoreConfig("eu-s3", "s3", region="eu", bucket="models", prefix="mirror/",
                 endpoint="http://127.0.0.1:9000")
GCS = StoreConfig("us-gcs", "gcs", region="us", bucket="b")
DISK = StoreConfig("edge-disk", "file", region="eu", root="/srv/models", prefix="fed")


def cluster(name: str, *, labels: dict[str, str] | None = None, edge: bool = False,
            gpus: tuple[str, ...] = (), stores: tuple[StoreConfig, ...] = (S3,)
            ) -> ClusterFacts:
    return ClusterFacts(name=name, labels=labels or {}, region="eu", edge=edge,
                        gpu_products=frozenset(gpus), stores=stores)


VARIANTS = (
    VariantRule("int8", VariantMatch(edge=True),
                build=VariantBuild("onnx-int8", "model.onnx")),
    VariantRule("t4", VariantMatch(gpu_products=("T4-16GB", "L4-24GB"))),
    VariantRule("cpu", VariantMatch(cpu_only=True,
                                    labels=LabelSelector(match_labels=(("tier", "cheap"),)))),
)


@pytest.mark.parametrize(("facts", "variant"), [
    (cluster("e", edge=True, gpus=("T4-16GB",)), "int8"),  # first match wins
    (cluster("g", gpus=("L4-24GB", "H100-80GB")), "t4"),
    (cluster("h", gpus=("H100-80GB",)), "default"),
    (cluster("c", labels={"tier": "cheap"}), "cpu"),
    (cluster("c2", labels={"tier": "cheap"}, gpus=("H100-80GB",)), "default"),
    (cluster("n", labels={"tier": "gold"}), "default"),
])
def test_first_matching_variant_else_default(facts: ClusterFacts, variant: str) -> None:
    assert choose_variant(VARIANTS, facts).name == variant


def test_empty_match_matches_every_cluster() -> None:
    assert choose_variant((VariantRule("all"),), cluster("x", edge=True)).name == "all"


def test_staged_name() -> None:
    assert staged_name("fraud", "default") == "fraud"
    assert staged_name("fraud", "int8") == "fraud--int8"


@pytest.mark.parametrize(("store", "uri"), [
    (S3, "s3://models/mirror/fraud--int8/2"),
    (GCS, "gs://b/fraud--int8/2"),
    (DISK, "file:///srv/models/fed/fraud--int8/2"),
])
def test_mirror_uri_includes_bucket_and_prefix(store: StoreConfig, uri: str) -> None:
    assert mirror_uri(store, "fraud--int8", "2") == uri


def test_mirror_uri_rejects_unknown_provider() -> None:
    with pytest.raises(ValueError, match="unknown provider 'ftp'"):
        mirror_uri(StoreConfig("x", "ftp"), "m", "1")


def test_plan_targets_and_problems() -> None:
    spec = SubscriptionPlanInput(model="fraud", variants=VARIANTS)
    clusters = [cluster("edge-1", edge=True, stores=(DISK, S3)),
                cluster("cloud", gpus=("H100-80GB",), stores=(GCS,)),
                cluster("bare", stores=())]
    targets, problems = plan_targets(spec, clusters, "2")
    assert [(t.cluster, t.store.name, t.variant, t.staged_model, t.uri) for t in targets] == [
        ("edge-1", "edge-disk", "int8", "fraud--int8", "file:///srv/models/fed/fraud--int8/2"),
        ("cloud", "us-gcs", "default", "fraud", "gs://b/fraud/2")]
    assert [(p.cluster, p.reason) for p in problems] == [("bare", "NoObjectStore")]
    assert "cluster bare has no objectStores" in problems[0].message


def test_named_store_missing_is_a_problem() -> None:
    spec = SubscriptionPlanInput(model="fraud", store="edge-disk")
    targets, problems = plan_targets(spec, [cluster("a", stores=(DISK,)),
                                            cluster("b", stores=(S3, GCS))], "1")
    assert [t.cluster for t in targets] == ["a"]
    assert problems[0].reason == "StoreNotFound"
    assert problems[0].message == ("cluster b has no object store 'edge-disk' (spec.store; "
                                   "it has: eu-s3, us-gcs)")


_names = st.text("abcdefgh", min_size=1, max_size=6)


@given(st.lists(st.tuples(_names, st.booleans(), st.integers(0, 2),
                          st.sampled_from(["", "tier=a", "tier=b"])),
                min_size=0, max_size=8, unique_by=lambda t: t[0]),
       st.sampled_from(["", "eu-s3", "us-gcs"]))
def test_every_cluster_is_a_target_or_a_problem(
        rows: list[tuple[str, bool, int, str]], store: str) -> None:
    pool = (S3, GCS, DISK)
    clusters = [cluster(n, edge=e, stores=pool[:k],
                        labels=dict([lab.split("=")]) if lab else {})
                for n, e, k, lab in rows]
    spec = SubscriptionPlanInput(model="m", store=store, variants=VARIANTS)
    targets, problems = plan_targets(spec, clusters, "7")
    assert sorted([t.cluster for t in targets] + [p.cluster for p in problems]) == \
        sorted(c.name for c in clusters)
    for t in targets:
        assert t.uri.endswith(f"/{t.staged_model}/7")
        assert t.store.name == (store or next(c for c in clusters
                                              if c.name == t.cluster).stores[0].name)
        facts = next(c for c in clusters if c.name == t.cluster)
        assert t.variant == choose_variant(VARIANTS, facts).name


def test_plan_input_from_the_shipped_example() -> None:
    from pathlib import Path

    import policies
    from federation.staging.types import plan_input
    from policies.models import ModelSubscription
    from policies.parse import load_policy_file

    path = Path(policies.__file__).parent / "examples" / "model-subscription.yaml"
    [sub] = [o for o in load_policy_file(path) if isinstance(o, ModelSubscription)]
    spec = plan_input(sub.spec)
    assert spec.model == "fraud-detector" and spec.keep == 3
    assert (spec.per_source, spec.per_region) == (4, 2)
    assert [v.name for v in spec.variants] == ["int8", "default"]
    assert spec.variants[0].build == VariantBuild("onnx-int8", "model.onnx")
    targets, _ = plan_targets(spec, [cluster("edge", edge=True), cluster("dc")], "2")
    assert [(t.cluster, t.staged_model) for t in targets] == [
        ("edge", "fraud-detector--int8"), ("dc", "fraud-detector")]
