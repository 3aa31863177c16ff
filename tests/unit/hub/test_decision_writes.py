"""What one reconcile writes to the hub when a decision changes.

The decision and its failover state (``pendingCleanup``, ``cleanupSince``, ``resume``)
go into the binding's spec at once; the status writes that follow from it (binding
status, the template's aggregate, condition Events) wait for the next reconcile, and are
never put off twice in a row.
"""

from __future__ import annotations

from typing import Any

from federation.hub.bindings import TemplateKey
from federation.hub.reconcile import Reconciler, failover_state
from federation.interpreters.interpreter import Interpreters
from policies.models import PropagationPolicy
from policies.parse import load_policies

from .fakes import Fleet, HubServer, OneCluster

KEY = TemplateKey("apps/v1", "Deployment", "ml", "web")


def _policy() -> PropagationPolicy:
    (p,) = load_policies("""
apiVersion: fedctl.dev/v1alpha1
kind: PropagationPolicy
metadata: {name: web, namespace: ml}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment}]
""")
    assert isinstance(p, PropagationPolicy)
    return p


TEMPLATE: dict[str, Any] = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "ml", "uid": "u-1",
                 "finalizers": ["fedctl.dev/cleanup"]},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "c", "image": "app:1"}]}}},
}


def _reconciler(hub: HubServer, fleet: Fleet, scheduler: OneCluster,
                events: list[str]) -> Reconciler:
    async def record(obj: dict[str, Any], *, reason: str, message: str,
                     warning: bool = False) -> None:
        events.append(reason)

    return Reconciler(hub=hub, members=fleet,
                      interpreters=Interpreters(), scheduler=scheduler,
                      policies=lambda: [_policy()], overrides=list,
                      template=lambda _k: {**TEMPLATE, "status": hub.template_status},
                      binding=lambda _k: hub.binding,
                      record=record)


async def test_a_new_decision_is_recorded_now_and_its_status_one_reconcile_later() -> None:
    hub, fleet, events = HubServer(), Fleet(["m1", "m2"]), list[str]()
    rec = _reconciler(hub, fleet, OneCluster("m1", score=1.5), events)

    first = await rec.reconcile(KEY)
    assert first.status_due and first.clusters == ("m1",)
    assert hub.writes == ["binding spec"]  # the copy is applied, the decision recorded
    assert events == [] and len(fleet.records["m1"].applier.applied) == 1

    second = await rec.reconcile(KEY)
    assert not second.status_due
    assert hub.writes == ["binding spec", "binding status", "template status"]
    assert sorted(events) == ["Applied", "Scheduled"]
    assert hub.binding is not None
    assert [c["name"] for c in hub.binding["status"]["clusters"]] == ["m1"]

    third = await rec.reconcile(KEY)  # nothing changed: nothing written
    assert not third.status_due and len(hub.writes) == 3


async def test_a_failover_writes_its_fencing_state_with_the_decision() -> None:
    hub, fleet, events = HubServer(), Fleet(["m1", "m2"]), list[str]()
    sched = OneCluster("m1", score=1.5)
    rec = _reconciler(hub, fleet, sched, events)
    await rec.reconcile(KEY)
    await rec.reconcile(KEY)
    hub.writes.clear()
    events.clear()

    fleet.down.add("m1")
    sched.target = "m2"
    moved = await rec.reconcile(KEY)
    assert moved.status_due and moved.clusters == ("m2",)
    assert hub.writes == ["binding spec"]
    assert events == ["FailedOver"]  # the move itself is told at once
    assert hub.binding is not None
    spec = hub.binding["spec"]
    assert spec["pendingCleanup"] == ["m1"] and spec["cleanupSince"]
    assert [c["name"] for c in spec["clusters"]] == ["m2"]
    # what a restarted hub reads back
    assert failover_state(hub.binding)["pendingCleanup"] == ["m1"]

    after = await rec.reconcile(KEY)
    assert not after.status_due
    # the new copy is ready: the template's aggregate is what it was, so not rewritten
    assert hub.writes == ["binding spec", "binding status"]
    assert "pendingCleanup" not in hub.binding["status"]

    fleet.down.clear()  # m1 answers again: the old copy is fenced, the spec forgets it
    back = await rec.reconcile(KEY)
    assert "pendingCleanup" not in hub.binding["spec"]
    assert back.status_due is True  # a spec change; its status follows
    assert not (await rec.reconcile(KEY)).status_due


async def test_status_is_never_put_off_twice_in_a_row() -> None:
    hub, fleet, events = HubServer(), Fleet(["m1", "m2"]), list[str]()
    sched = OneCluster("m1", score=1.5)
    rec = _reconciler(hub, fleet, sched, events)
    assert (await rec.reconcile(KEY)).status_due
    sched.target = "m2"  # the decision changes again before the status was written
    again = await rec.reconcile(KEY)
    assert not again.status_due
    assert hub.writes == ["binding spec", "binding spec", "binding status",
                          "template status"]


def test_failover_state_of_a_binding_an_older_hub_wrote() -> None:
    old = {"spec": {"clusters": []},
           "status": {"pendingCleanup": ["m1"], "resume": {"location": "s3://c/"}}}
    assert failover_state(old) == {"pendingCleanup": ["m1"], "cleanupSince": None,
                                   "resume": {"location": "s3://c/"}}
    new = {"spec": {"pendingCleanup": ["m2"]}, "status": {"pendingCleanup": ["m1"]}}
    assert failover_state(new)["pendingCleanup"] == ["m2"]
    assert failover_state(None) == {"pendingCleanup": None, "cleanupSince": None,
                                    "resume": None}

