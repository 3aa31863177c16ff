"""The decision record a binding's status holds: trimmed, deterministic, bounded."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from federation.model.cluster import ClusterSnapshot, Taint
from federation.model.demand import Demand
from federation.model.placement import Decision
from federation.scheduling.decision_record import (
    MAX_REASONS,
    MAX_TEXT,
    decision_digest,
    decision_record,
    recorder,
)
from federation.scheduling.explain import decision_to_dict
from policies.models import GpuPolicy, Placement, ReplicaScheduling
from tests.unit.scheduling.fixtures import cluster, demand, schedule
from tests.unit.scheduling.test_properties import clusters, demands, policies

PROPS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fleet() -> list[ClusterSnapshot]:
    """3 feasible H100 clusters, 4 with only L4 (filtered), 2 tainted (filtered)."""
    out = [cluster(f"h{i}", price=2.0 + i) for i in range(3)]
    out += [cluster(f"l{i}", gpu="L4-24GB") for i in range(4)]
    out += [cluster(f"t{i}", taints=(Taint("maintenance"),)) for i in range(2)]
    return out


def gpu_demand() -> Demand:
    return demand(replicas=2, gpus=8)


H100_CHEAPEST = Placement(
    replica_scheduling=ReplicaScheduling(type="Divided", division="CheapestFirst"),
    gpu=GpuPolicy(products=("H100",)))


def placed_decision() -> Decision:
    return schedule(fleet(), gpu_demand(), H100_CHEAPEST)


def test_top_clusters_in_full_and_the_rest_counted() -> None:
    dec = placed_decision()
    assert dec.schedulable
    rec = decision_record(dec, prices="p@1", egress="e@1", top=4)
    full = decision_to_dict(dec)
    assert rec["clusterCount"] == 9
    assert [c["cluster"] for c in rec["clusters"]][:1] == [dec.placement.clusters[0]]
    assert len(rec["clusters"]) == 4
    # the shown entries are the plan's entries for those clusters, unchanged
    by_name = {c["cluster"]: c for c in full["clusters"]}
    for c in rec["clusters"]:
        assert c == by_name[c["cluster"]]
    # placed first, then feasible by score, then filtered
    order = [(c["replicas"] > 0, c["feasible"]) for c in rec["clusters"]]
    assert order == sorted(order, reverse=True)
    rest = rec["notShown"]
    assert rest["placed"] + rest["feasible"] + rest["filtered"] == 5
    assert sum(r["clusters"] for r in rest["byReason"]) == rest["filtered"]
    assert rec["prices"] == {"catalog": "p@1", "egress": "e@1"}
    assert rec["message"] == dec.message and rec["schedulable"] is True


def test_same_decision_same_record_other_versions_other_digest() -> None:
    a = decision_record(placed_decision(), prices="p@1", egress="e@1")
    b = decision_record(placed_decision(), prices="p@1", egress="e@1")
    assert a == b
    assert json.loads(json.dumps(a)) == a  # survives the API server's JSON unchanged
    c = decision_record(placed_decision(), prices="p@2", egress="e@1")
    assert c["digest"] != a["digest"]
    assert {k: v for k, v in c.items() if k not in ("digest", "prices")} == {
        k: v for k, v in a.items() if k not in ("digest", "prices")}


def test_digest_sees_clusters_the_record_leaves_out() -> None:
    dec = placed_decision()
    other = schedule([*fleet(), cluster("z-extra", gpu="L4-24GB")], gpu_demand(),
                     H100_CHEAPEST)
    a = decision_record(dec, prices="p", egress="e", top=2)
    b = decision_record(other, prices="p", egress="e", top=2)
    assert a["clusters"] == b["clusters"]
    assert a["digest"] != b["digest"]


def test_unschedulable_record_counts_reasons() -> None:
    dec = schedule([cluster(f"l{i}", gpu="L4-24GB") for i in range(12)],
                   demand(replicas=1, gpus=8, kind="Deployment"),
                   Placement(gpu=GpuPolicy(products=("H100",))))
    assert not dec.schedulable
    rec = decision_record(dec, prices="p", egress="e", top=5)
    assert rec["schedulable"] is False and rec["placedCount"] == 0
    assert len(rec["clusters"]) == 5
    assert rec["notShown"]["filtered"] == 7
    [reason] = rec["notShown"]["byReason"]
    assert reason["clusters"] == 7 and "H100" in reason["reason"]


def test_top_zero_and_negative() -> None:
    rec = decision_record(placed_decision(), prices="p", egress="e", top=0)
    assert rec["clusters"] == [] and rec["notShown"]["placed"] == 1
    with pytest.raises(ValueError, match="top must be >= 0"):
        decision_record(placed_decision(), prices="p", egress="e", top=-1)


def test_recorder_reads_versions_at_call_time() -> None:
    versions = {"p": "p@1"}
    explain = recorder(lambda: versions["p"], lambda: "e@1", top=1)
    first = explain(placed_decision())
    versions["p"] = "p@2"
    second = explain(placed_decision())
    assert first["prices"]["catalog"] == "p@1" and second["prices"]["catalog"] == "p@2"
    assert len(second["clusters"]) == 1


@PROPS
@given(clusters(max_size=12), demands(), policies(), st.integers(0, 6))
def test_record_is_deterministic_bounded_and_complete(
        cs: list[ClusterSnapshot], d: Demand, p: Placement, top: int) -> None:
    dec = schedule(cs, d, p)
    rec = decision_record(dec, prices="p", egress="e", top=top)
    again = decision_record(schedule(list(reversed(cs)), d, p), prices="p", egress="e",
                            top=top)
    assert rec == again
    assert json.loads(json.dumps(rec, allow_nan=False)) == rec
    assert len(rec["clusters"]) == min(top, len(cs))
    rest = rec["notShown"]
    assert len(rest["byReason"]) <= MAX_REASONS + 1
    assert len(rec["clusters"]) + rest["placed"] + rest["feasible"] + rest["filtered"] == len(cs)
    assert rec["placedCount"] == len(dec.placement.assignments)
    assert all(len(r["reason"]) <= MAX_TEXT for r in rest["byReason"])
    assert len(rec["message"]) <= MAX_TEXT
    assert rec["digest"] == decision_digest(dec, "p", "e")


def test_size_does_not_grow_with_the_fleet() -> None:
    small = [cluster(f"c{i}", taints=(Taint(f"t{i % 20}"),)) for i in range(30)]
    big = [cluster(f"c{i:04d}", taints=(Taint(f"t{i % 20}"),)) for i in range(1000)]
    s = decision_record(schedule(small, gpu_demand()), prices="p", egress="e")
    b = decision_record(schedule(big, gpu_demand()), prices="p", egress="e")
    assert len(b["notShown"]["byReason"]) == MAX_REASONS + 1  # 20 taints: the rest "other"
    assert b["notShown"]["byReason"][-1]["reason"] == "other reasons"
    assert len(json.dumps(b)) < 2 * len(json.dumps(s))
    assert len(json.dumps(b)) < 8000


def test_lazy_rows_and_built_diagnoses_give_one_record() -> None:
    from dataclasses import replace

    from federation.model.placement import Diagnosis

    dec = placed_decision()
    assert dec.diagnosis.rows  # the scheduler's lazy form
    built = replace(dec, diagnosis=Diagnosis(dec.diagnosis.clusters, dec.diagnosis.summary,
                                             dec.diagnosis.weights))
    assert not built.diagnosis.rows
    assert decision_record(built, prices="p", egress="e") == decision_record(
        dec, prices="p", egress="e")
