"""The in-memory hub and member of ``bench/hub_scale.py`` answer as an apiserver would,
so the benchmark's reconciles take the paths they take in production."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from bench.inmemory import (
    DEPLOYMENT_STATUS,
    FakeCost,
    InMemoryApplier,
    InMemoryHub,
    merge_patch,
)
from federation.clusters.watch import Reflector
from federation.model.labels import BINDING_LABEL

Obj = dict[str, Any]
DEPLOY = ("apps/v1", "Deployment")
BINDING = ("fedctl.dev/v1alpha1", "ResourceBinding")


async def _never(*_: Any, **__: Any) -> Any:
    raise AssertionError("no list or watch in these tests")


def _refl(objs: dict[str, Obj]) -> Reflector[Any]:
    refl: Reflector[Any] = Reflector("test", _never)
    refl.store.update(objs)
    return refl


def _stamp(meta: Obj) -> Obj:
    return {**meta, "uid": "u-1", "generation": 1}


def _hub() -> tuple[InMemoryHub, Reflector[Any], Reflector[Any], FakeCost]:
    tmpl = {"metadata": {"name": "web", "namespace": "a", "resourceVersion": "5"},
            "spec": {"replicas": 2}, "status": {"replicas": 2}}
    templates, bindings = _refl({"a/web": tmpl}), _refl({})
    cost = FakeCost()
    hub = InMemoryHub({DEPLOY: templates, BINDING: bindings},
                      {DEPLOY: "deployments", BINDING: "resourcebindings"}, dict, _stamp,
                      cost, status_fields={DEPLOY: DEPLOYMENT_STATUS})
    return hub, templates, bindings, cost


def test_merge_patch_removes_nulls_and_merges_maps() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": None}, "d": [2]}) == {
        "a": {"c": 2}, "d": [2]}


async def test_binding_apply_then_status_patch_lands_in_the_store() -> None:
    hub, _, bindings, cost = _hub()
    res = await hub.resources.get(api_version=BINDING[0], kind=BINDING[1])
    body = {"apiVersion": BINDING[0], "kind": BINDING[1],
            "metadata": {"name": "web", "namespace": "a", "labels": {BINDING_LABEL: "x"}},
            "spec": {"clusterNames": "c1"}}
    written = await hub.server_side_apply(res, body=body, name="web", namespace="a")
    assert written["metadata"]["uid"] == "u-1" and written["metadata"]["resourceVersion"]
    again = await hub.server_side_apply(res, body={**body, "spec": {"clusterNames": "c2"}},
                                        name="web", namespace="a")
    assert again["metadata"]["generation"] == 2
    path = res.path(name="web", namespace="a")
    await hub.request("patch", f"{path}/status", body={"status": {"phase": "Running"}})
    assert bindings.store["a/web"]["status"] == {"phase": "Running"}
    assert bindings.store["a/web"]["spec"] == {"clusterNames": "c2"}
    assert hub.writes == {"ResourceBinding apply": 2, "ResourceBinding status": 1}
    assert cost.calls["hub apply"] == 2 and cost.total_ns() >= 0


async def test_a_deployment_status_keeps_only_its_schema_fields() -> None:
    hub, templates, _, _ = _hub()
    res = await hub.resources.get(api_version=DEPLOY[0], kind=DEPLOY[1])
    path = res.path(name="web", namespace="a")
    assert path == "/apis/apps/v1/namespaces/a/deployments/web"
    out = await hub.request("patch", f"{path}/status",
                            body={"status": {"readyReplicas": 2, "clusters": [{"n": 1}]}})
    assert out["status"] == {"replicas": 2, "readyReplicas": 2}
    assert templates.store["a/web"]["metadata"]["resourceVersion"] != "5"


async def test_missing_objects_answer_404() -> None:
    hub, _, _, _ = _hub()
    res = await hub.resources.get(api_version=BINDING[0], kind=BINDING[1])
    with pytest.raises(ApiException) as exc:
        await hub.delete(res, name="gone", namespace="a")
    assert exc.value.status == 404


async def test_member_apply_updates_the_copy_cache_and_tells_the_watch() -> None:
    copies = _refl({})
    events: list[tuple[str, str]] = []

    def serve(obj: Obj, before: Obj | None) -> Obj:
        gen = (before or {}).get("metadata", {}).get("generation", 0) + 1
        return {**obj, "metadata": {**obj["metadata"], "generation": gen}}

    applier = InMemoryApplier("c1", {DEPLOY: copies}, serve, dict,
                              lambda ev, c, *_: events.append((ev, c)), FakeCost())
    obj = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "a", "labels": {BINDING_LABEL: "x"}}}
    first = await applier.apply(obj)
    second = await applier.apply(obj)
    assert (first.action, second.action) == ("created", "updated")
    assert second.object is not None and second.object["metadata"]["generation"] == 2
    assert [o["metadata"]["name"] for o in await applier.list_bound(*DEPLOY, "x")] == ["web"]
    assert (await applier.delete(*DEPLOY, "web", "a")).action == "deleted"
    assert (await applier.delete(*DEPLOY, "web", "a")).action == "absent"
    assert events == [("ADDED", "c1"), ("MODIFIED", "c1"), ("DELETED", "c1")]
    other = await applier.apply({**obj, "kind": "PyTorchJob",
                                 "apiVersion": "kubeflow.org/v1"})
    assert other.reason == "KindNotInstalled" and not other.ok
