"""What a reconcile makes of failures and of finished jobs.

A failure that fails the same way until something changes (403, schema rejection, kind
not installed, an invalid template) is a condition naming where, not a retry; one that
may pass on its own is retried through the queue's backoff; no room is retried when the
fleet changes; a finished job gives its capacity back and is never placed again.
"""

from __future__ import annotations

from typing import Any

import pytest

from federation.hub.bindings import TemplateKey, holds_of
from federation.hub.reconcile import Reconciler, _freed
from federation.interpreters.interpreter import Interpreters
from federation.scheduling.reservations import Hold, Ledger
from federation.syncer.apply import ApplyResult, error_reason
from policies.models import PropagationPolicy
from policies.parse import load_policies

from .fakes import Fleet, HubServer, OneCluster, Rejecting, WatchedFleet

JOB = TemplateKey("batch/v1", "Job", "ml", "train")
DEPLOY = TemplateKey("apps/v1", "Deployment", "ml", "web")
GPU = (("A100-80GB", 4, 0, 0), 1)


API_VERSIONS = {"Job": "batch/v1", "Deployment": "apps/v1",
                "InferenceService": "serving.kserve.io/v1beta1"}


def _policy(kind: str) -> PropagationPolicy:
    (p,) = load_policies(f"""
apiVersion: fedctl.dev/v1alpha1
kind: PropagationPolicy
metadata: {{name: p, namespace: ml}}
spec:
  resourceSelectors: [{{apiVersion: {API_VERSIONS[kind]}, kind: {kind}}}]
""")
    assert isinstance(p, PropagationPolicy)
    return p


def _job() -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "train", "namespace": "ml", "uid": "u-job",
                         "finalizers": ["fedctl.dev/cleanup"]},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "c", "image": "train:1",
                 "resources": {"limits": {"nvidia.com/gpu": "4"}}}]}}}}


def _deployment(replicas: int = 1) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ml", "uid": "u-web",
                         "finalizers": ["fedctl.dev/cleanup"]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "app:1"}]}}}}


def _placer(target: str | None) -> OneCluster:
    """Places on ``target`` (None: no room for the job's 4 GPUs)."""
    return OneCluster(target, no_room="no cluster has 4 free A100-80GB GPUs")


def _reconciler(hub: HubServer, fleet: Fleet, sched: OneCluster, tmpl: dict[str, Any],
                events: list[tuple[str, bool, str]], ledger: Ledger | None = None
                ) -> Reconciler:
    async def record(obj: dict[str, Any], *, reason: str, message: str,
                     warning: bool = False) -> None:
        events.append((reason, warning, message))

    return Reconciler(hub=hub, members=fleet,
                      interpreters=Interpreters(), scheduler=sched,
                      policies=lambda: [_policy(tmpl["kind"])], overrides=list,
                      template=lambda _k: tmpl, binding=lambda _k: hub.binding,
                      record=record, ledger=ledger)


def _cond(hub: HubServer, type_: str) -> dict[str, Any]:
    assert hub.binding is not None
    conds = hub.binding["status"]["conditions"]
    found: dict[str, Any] = next(c for c in conds if c["type"] == type_)
    return found


@pytest.mark.parametrize(("status", "message", "reason", "retryable"), [
    (403, "deployments.apps is forbidden: User cannot create", "Forbidden", False),
    (422, 'Deployment.apps "web" is invalid: spec.replicas: Invalid value', "SchemaRejected",
     False),
    (500, '.spec.foo: field not declared in schema', "SchemaRejected", False),
    (400, 'strict decoding error: unknown field "spec.foo"', "SchemaRejected", False),
    (409, "the object has been modified", "ApplyFailed", True),
    (429, "too many requests", "ApplyFailed", True),
    (503, "etcd leader changed", "ApplyFailed", True),
])
def test_api_errors_are_classified(status: int, message: str, reason: str,
                                   retryable: bool) -> None:
    assert error_reason(status, message) == (reason, retryable)


async def test_a_schema_rejection_is_a_terminal_condition_naming_the_cluster() -> None:
    hub, fleet, events = HubServer(), Fleet(["m1"]), list[tuple[str, bool, str]]()
    rejecting = Rejecting(ApplyResult(
        "m1", "k", "error", 'cluster m1 answered HTTP 422: Deployment.apps "web" is '
        "invalid: spec.template.spec.containers[0].image: Required value",
        retryable=False, reason="SchemaRejected"))
    fleet.records["m1"].applier = rejecting
    rec = _reconciler(hub, fleet, _placer("m1"), _deployment(), events)

    first = await rec.reconcile(DEPLOY)
    assert not first.retry and first.requeue is None and first.stuck_on == ("m1",)
    second = await rec.reconcile(DEPLOY)  # the status reconcile the first one asked for
    assert not second.retry and second.requeue is None and not second.status_due
    applied = _cond(hub, "Applied")
    assert applied["status"] == "False" and applied["reason"] == "SchemaRejected"
    assert applied["message"].startswith("m1: cluster m1 answered HTTP 422")
    assert "containers[0].image: Required value" in applied["message"]
    assert ("SchemaRejected", True, applied["message"]) in events
    assert hub.binding["status"]["clusters"][0]["applied"] == "error"  # type: ignore[index]


async def test_a_retryable_failure_goes_back_through_the_backoff() -> None:
    hub, fleet, events = HubServer(), Fleet(["m1"]), list[tuple[str, bool, str]]()
    fleet.records["m1"].applier = Rejecting(ApplyResult(
        "m1", "k", "error", "cluster m1 answered HTTP 503: etcd leader changed",
        retryable=True, reason="ApplyFailed"))
    rec = _reconciler(hub, fleet, _placer("m1"), _deployment(), events)
    out = await rec.reconcile(DEPLOY)
    assert out.retry and out.requeue is None and out.stuck_on == ()


async def test_an_invalid_template_names_the_field() -> None:
    hub, fleet, events = HubServer(), Fleet(["m1"]), list[tuple[str, bool, str]]()
    sched = _placer("m1")
    rec = _reconciler(hub, fleet, sched, _deployment(replicas=-2), events)
    out = await rec.reconcile(DEPLOY)
    assert not out.scheduled and not out.retry and out.requeue is None
    bad = _cond(hub, "Scheduled")
    assert bad["reason"] == "InvalidTemplate"
    assert bad["message"].startswith("spec.replicas: "), bad["message"]
    assert "-2" in bad["message"]
    assert sched.calls == 0 and fleet.records["m1"].applier.applied == []


async def test_a_bad_model_uri_is_an_invalid_template_and_nothing_is_applied() -> None:
    hub, fleet, events = HubServer(), Fleet(["m1"]), list[tuple[str, bool, str]]()
    sched = _placer("m1")
    isvc = {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "llm", "namespace": "ml", "uid": "u-isvc",
                         "finalizers": ["fedctl.dev/cleanup"]},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"},
                                             "storageUri": "s3:/models/llm"}}}}
    rec = _reconciler(hub, fleet, sched, isvc, events)
    out = await rec.reconcile(TemplateKey("serving.kserve.io/v1beta1", "InferenceService",
                                          "ml", "llm"))
    assert not out.scheduled and not out.retry and out.requeue is None
    bad = _cond(hub, "Scheduled")
    assert bad["reason"] == "InvalidTemplate"
    assert "spec.predictor.model.storageUri" in bad["message"], bad["message"]
    assert "s3://" in bad["message"]
    assert sched.calls == 0 and fleet.records["m1"].applier.applied == []
    assert ("InvalidTemplate", True, bad["message"]) in events


async def test_unschedulable_waits_for_the_fleet_not_a_timer() -> None:
    hub, fleet, events = HubServer(), Fleet(["m1"]), list[tuple[str, bool, str]]()
    rec = _reconciler(hub, fleet, _placer(None), _job(), events)
    for _ in range(2):  # the binding, then its status
        out = await rec.reconcile(JOB)
        assert out.unschedulable and not out.retry and out.requeue is None
    assert "no cluster has 4 free" in _cond(hub, "Scheduled")["message"]


async def test_a_finished_job_gives_its_capacity_back_and_is_never_placed_again() -> None:
    hub, fleet, events = HubServer(), WatchedFleet(["m1", "m2"]), list[tuple[str, bool, str]]()
    ledger = Ledger()
    sched = _placer("m1")
    rec = _reconciler(hub, fleet, sched, _job(), events, ledger)
    await rec.reconcile(JOB)
    (sent,) = fleet.records["m1"].applier.applied
    running = {**sent, "metadata": {**sent["metadata"], "generation": 1},
               "status": {"active": 1}}
    fleet.copies["m1"] = running
    await rec.reconcile(JOB)
    assert len(fleet.records["m1"].applier.applied) == 1  # unchanged: not sent again
    assert hub.binding is not None and holds_of(hub.binding)["m1"].gpus == 4
    assert ledger.holds(JOB.label)["m1"].gpus == 4

    # the member reports the job complete
    fleet.copies["m1"] = {**sent, "metadata": {**sent["metadata"], "generation": 1},
                          "status": {"succeeded": 1, "conditions": [
                              {"type": "Complete", "status": "True"}]}}
    out = await rec.reconcile(JOB)
    assert out.released and out.scheduled and not out.unschedulable
    assert ledger.holds(JOB.label) == {}
    assert holds_of(hub.binding) == {}  # a restarted hub holds nothing either
    assert hub.binding["spec"]["finished"] == "Succeeded"
    assert hub.binding["spec"]["clusterNames"] == "m1"
    assert _cond(hub, "Scheduled")["reason"] == "Finished"

    # its pods and copy are gone, and m1 is down: nothing is placed anywhere again
    del fleet.copies["m1"]
    fleet.down.add("m1")
    sched.target = "m2"
    calls = sched.calls
    again = await rec.reconcile(JOB)
    assert not again.released and again.clusters == ("m1",)
    assert sched.calls == calls and fleet.records["m2"].applier.applied == []
    assert len(fleet.records["m1"].applier.applied) == 1
    assert ledger.holds(JOB.label) == {}


async def test_a_job_still_running_keeps_its_hold() -> None:
    hub, fleet, events = HubServer(), WatchedFleet(["m1"]), list[tuple[str, bool, str]]()
    ledger = Ledger()
    rec = _reconciler(hub, fleet, _placer("m1"), _job(), events, ledger)
    await rec.reconcile(JOB)
    (sent,) = fleet.records["m1"].applier.applied
    fleet.copies["m1"] = {**sent, "status": {"active": 1}}
    out = await rec.reconcile(JOB)
    assert not out.released and ledger.holds(JOB.label)["m1"].gpus == 4
    assert "finished" not in (hub.binding or {}).get("spec", {})


def test_freed_is_any_shape_given_back() -> None:
    four = Hold((GPU,))
    two = Hold(((GPU[0], 1),))
    assert _freed({"m1": four}, {})
    assert _freed({"m1": Hold(((GPU[0], 2),))}, {"m1": two})
    assert not _freed({"m1": two}, {"m1": Hold(((GPU[0], 2),))})
    assert not _freed({}, {"m1": four})
    assert _freed({"m1": four}, {"m2": four})  # moved: m1 has room now
