from __future__ import annotations

from federation.hub.model_status import (
    Serving,
    Stage,
    SubscriptionState,
    WorkloadRef,
    cached_uris,
    field_values,
    from_status,
    model_refs,
    to_status,
)


def target(cluster: str, version: str = "2", variant: str = "default") -> Stage:
    return Stage(cluster=cluster, store=f"{cluster}-s3", variant=variant, version=version,
                 uri=f"s3://{cluster}/fraud/{version}")


def staged(*clusters: str, version: str = "2") -> SubscriptionState:
    s = SubscriptionState()
    s.plan(version, [target(c, version) for c in clusters])
    return s


def test_switch_waits_for_every_cluster_verified() -> None:
    s = staged("a", "b")
    s.update("a", state="Verified")
    assert not s.switch() and s.switched is None and s.serving == {}
    s.update("b", state="Failed", reason="StoreUnreachable")
    assert not s.switch() and [f.cluster for f in s.failed()] == ["b"]
    s.update("b", state="Verified", reason="")
    assert s.switch()
    assert s.switched == "2" and s.last_good is None
    assert s.serving["b"].uri == "s3://b/fraud/2"


def test_a_new_version_keeps_the_old_one_serving_and_remembers_last_good() -> None:
    s = staged("a")
    s.update("a", state="Verified")
    s.switch()
    s.plan("3", [target("a", "3")])
    assert s.serving["a"].version == "2" and s.stages["a"].state == "Pending"
    assert s.in_use("a") == {"2", "3"}
    s.update("a", state="Verified")
    s.switch()
    assert (s.switched, s.last_good, s.serving["a"].version) == ("3", "2", "3")
    assert s.in_use("a") == {"2", "3"}


def test_replanning_the_same_version_keeps_progress_unless_the_target_moved() -> None:
    s = staged("a", "b")
    s.update("a", state="Verified")
    s.plan("2", [target("a"), target("b", variant="int8"), target("c")])
    assert s.stages["a"].state == "Verified"
    assert s.stages["b"].variant == "int8" and set(s.stages) == {"a", "b", "c"}


def test_status_round_trip_restarts_copies_in_flight() -> None:
    s = staged("a", "b")
    s.update("a", state="Verified", bytes_done=10, bytes_total=10)
    s.update("b", state="Copying", bytes_done=3, bytes_total=10)
    s.serving["a"] = Serving("1", "s3://a/fraud/1")
    s.switched = "1"
    assert s.set_condition("Ready", "False", "Staging", "1/2 verified", "t0")
    assert not s.set_condition("Ready", "False", "Staging", "1/2 verified", "t1")
    status = to_status(s, 4)
    assert status["observedGeneration"] == 4
    back = from_status(status)
    assert back.stages["a"] == s.stages["a"]
    assert back.stages["b"].state == "Pending"  # re-checked after a restart
    assert back.serving["a"].version == "1" and back.switched == "1"
    assert back.conditions["Ready"].since == "t0"


def test_cached_uris_name_the_verified_versions() -> None:
    s = staged("a", "b")
    s.update("a", state="Verified")
    got = cached_uris("fraud", "production", s)
    assert set(got) == {"a"}
    assert {"models:/fraud/2", "models:/fraud@production", "models:/fraud",
            "s3://a/fraud/2"} <= got["a"]


def test_field_values_only_after_a_switch_and_only_on_subscribed_clusters() -> None:
    s = staged("a")
    w = WorkloadRef("serving.kserve.io/v1beta1", "InferenceService", "ml", "fraud",
                    "spec.predictor.model.storageUri")
    refs = model_refs("fraud", "production")
    args = ("serving.kserve.io/v1beta1", "InferenceService", "ml", "fraud")
    assert field_values(s, [w], refs, *args, [], "a") == []
    s.update("a", state="Verified")
    s.switch()
    assert field_values(s, [w], refs, *args, [], "a") == [
        ("spec.predictor.model.storageUri", "s3://a/fraud/2")]
    assert field_values(s, [w], refs, *args, [], "elsewhere") == []
    # another template naming the model by URI gets its path replaced
    uris = [(("spec", "x", "storageUri"), "models:/fraud@production"),
            (("spec", "y", "storageUri"), "s3://other/model")]
    assert field_values(s, [w], refs, "apps/v1", "Deployment", "ml", "d", uris, "a") == [
        (("spec", "x", "storageUri"), "s3://a/fraud/2")]
