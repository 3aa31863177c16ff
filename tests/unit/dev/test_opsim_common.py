"""The operator simulator's shared pieces: patches, conditions, plans, owner index, queue."""

from __future__ import annotations

import asyncio

from federation.dev.opsim.common import (
    SPEC_HASH_ANNOTATION,
    Observed,
    for_kube_scheduler,
    kind_key,
    merge_patch,
    plan_children,
    set_condition,
    suffix,
    with_spec_hash,
)
from federation.dev.opsim.index import OwnerIndex, OwnerRef
from federation.dev.opsim.registry import OPERATORS
from federation.hub.queue import WorkQueue
from federation.interpreters.interpreter import Interpreters

from .helpers import LATER, NOW, observe


def test_merge_patch_is_minimal_and_deletes_with_null() -> None:
    old = {"a": 1, "b": {"x": 1, "y": 2}, "c": [1], "gone": "x"}
    new = {"a": 1, "b": {"x": 1, "y": 3, "z": None}, "c": [1, 2], "d": {"e": 1}}
    assert merge_patch(old, new) == {"b": {"y": 3, "z": None}, "c": [1, 2], "d": {"e": 1},
                                     "gone": None}
    assert merge_patch(new, new) is None
    assert merge_patch({}, {}) is None
    assert merge_patch({"a": {"b": 1}}, {"a": {}}) == {"a": {"b": None}}


def test_set_condition_moves_times_only_on_change() -> None:
    conds = set_condition([], "Ready", "False", "Waiting", "m", NOW, update_time=True)
    assert conds == [{"type": "Ready", "status": "False", "reason": "Waiting", "message": "m",
                      "lastTransitionTime": NOW, "lastUpdateTime": NOW}]
    assert set_condition(conds, "Ready", "False", "Waiting", "m", LATER) == conds
    reworded = set_condition(conds, "Ready", "False", "Other", "m2", LATER, update_time=True)
    assert reworded[0]["lastTransitionTime"] == NOW
    assert reworded[0]["lastUpdateTime"] == LATER
    flipped = set_condition(conds, "Ready", "True", "Up", "", LATER)
    assert flipped[0]["lastTransitionTime"] == LATER and flipped[0]["status"] == "True"
    assert conds[0]["status"] == "False"  # the input is not modified


def test_suffix_is_stable_and_looks_like_kubernetes_random_strings() -> None:
    assert suffix("uid", "gpu", "0") == suffix("uid", "gpu", "0")
    assert suffix("uid", "gpu", "0") != suffix("uid", "gpu", "1")
    assert len(suffix("x")) == 5 and set(suffix("x")) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_only_the_default_scheduler_is_kept() -> None:
    assert "schedulerName" not in for_kube_scheduler({"schedulerName": "volcano"})
    assert for_kube_scheduler({"schedulerName": "default-scheduler"}) == {
        "schedulerName": "default-scheduler"}


def test_plan_creates_missing_prunes_extras_and_rolls_changed_deployments() -> None:
    def pod(name: str) -> dict[str, object]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}}

    def dep(image: str) -> dict[str, object]:
        return with_spec_hash({"apiVersion": "apps/v1", "kind": "Deployment",
                               "metadata": {"name": "d"}, "spec": {"image": image}})

    gone = {**pod("old"), "metadata": {"name": "old", "deletionTimestamp": NOW}}
    plan = plan_children([pod("a"), pod("b"), dep("v2")],
                         observe(pod("a"), pod("c"), gone, dep("v1")))
    assert [c["metadata"]["name"] for c in plan.create] == ["b"]
    assert [c["metadata"]["name"] for c in plan.delete] == ["c"]  # not the terminating one
    ((target, patch),) = plan.patch
    assert target["spec"] == {"image": "v1"}
    assert patch["spec"] == {"image": "v2"}
    assert patch["metadata"]["annotations"][SPEC_HASH_ANNOTATION] == dep("v2")["metadata"][
        "annotations"][SPEC_HASH_ANNOTATION]
    frozen = plan_children([pod("a"), pod("b")], observe(pod("c")), prune=(), create=False)
    assert frozen.create == () and frozen.delete == ()
    assert plan_children([], Observed()).create == ()


def test_every_simulated_kind_but_rayservice_has_an_interpreter() -> None:
    interp = Interpreters()
    missing = [k for k in OPERATORS
               if not interp.supports({"apiVersion": f"{k.split('/')[0]}/v1",
                                       "kind": k.split("/")[1]})]
    assert set(missing) <= {"ray.io/RayService"}  # the hub has no RayService interpreter
    assert kind_key({"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job"}) == (
        "batch.volcano.sh/Job")
    assert kind_key({"apiVersion": "v1", "kind": "Pod"}) == "Pod"


def test_owner_index_follows_adds_moves_and_deletes() -> None:
    idx = OwnerIndex()

    def pod(owner_uid: str | None) -> dict[str, object]:
        refs = [{"apiVersion": "kubeflow.org/v1", "kind": "PyTorchJob", "name": "train",
                 "uid": owner_uid, "controller": True}] if owner_uid else []
        return {"metadata": {"name": "p", "namespace": "ml", "ownerReferences": refs}}

    owner = idx.update("Pod", "ml/p", "ADDED", pod("u1"))
    assert owner == OwnerRef("kubeflow.org/PyTorchJob", "ml", "train", "u1")
    assert idx.children("u1") == {("Pod", "ml/p")}
    idx.update("Pod", "ml/p", "MODIFIED", pod("u2"))
    assert idx.children("u1") == frozenset() and idx.children("u2") == {("Pod", "ml/p")}
    # A relist reports a vanished object by key only: the index still knows its owner.
    gone = idx.update("Pod", "ml/p", "DELETED", {"metadata": {"name": "p",
                                                              "namespace": "ml"}})
    assert gone is not None and gone.uid == "u2"
    assert idx.children("u2") == frozenset()
    assert idx.update("Pod", "ml/q", "ADDED", pod(None)) is None


async def test_key_queue_dedups_and_never_hands_one_key_to_two_workers() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("a")
    q.add("b")
    assert len(q) == 2
    first = await q.get()
    assert first == "a"
    q.add("a")  # while "a" is being worked on: remembered, not queued
    assert await q.get() == "b"
    assert len(q) == 0
    q.done("a")  # ...and queued again once its worker is done
    assert await asyncio.wait_for(q.get(), 1) == "a"
    q.done("a")
    q.done("b")
    q.add_after("c", 0.01)
    assert await asyncio.wait_for(q.get(), 1) == "c"
    q.add_after("d", 60)
    q.close()  # cancels pending timers


def test_the_per_operator_logic_does_no_io() -> None:
    """Everything in federation/dev/opsim but the API writer and the queue is pure."""
    import ast
    from pathlib import Path

    import federation.dev.opsim as pkg

    root = Path(pkg.__file__).parent
    for path in sorted(root.glob("*.py")):
        if path.stem in ("kube", "queue"):
            continue
        tree = ast.parse(path.read_text())
        mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        mods |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        bad = {m for m in mods if m.split(".")[0] in ("kubernetes_asyncio", "aiohttp",
                                                      "asyncio", "subprocess", "socket")
               or m in ("federation.dev.opsim.kube", "federation.clusters")}
        assert not bad, f"{path.name} imports {bad}"
