"""A kind the hub serves at two versions (MPIJob kubeflow.org/v1 and v2beta1) is watched
at both; each template belongs to the version its author wrote it in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from federation.clusters.watch import Reflector
from federation.hub.bindings import TemplateKey
from federation.hub.controller import Hub, HubConfig

V1, V2 = "kubeflow.org/v1", "kubeflow.org/v2beta1"


async def _never(**_: Any) -> Any:
    raise AssertionError("no apiserver in this test")


def _mpijob(name: str, read_as: str, written_in: str, gen: int = 1) -> dict[str, Any]:
    """The object as the watch of ``read_as`` sees it (the apiserver converts it)."""
    return {"apiVersion": read_as, "kind": "MPIJob",
            "metadata": {"name": name, "namespace": "ml", "generation": gen,
                         "managedFields": [
                             {"manager": "kubectl", "operation": "Update",
                              "apiVersion": written_in, "time": f"2026-01-0{gen}T00:00:00Z"},
                             {"manager": "fedctl", "operation": "Update",
                              "apiVersion": V2, "time": "2026-02-01T00:00:00Z"}]},
            "spec": {}}


def _watch(hub: Hub, api_version: str) -> Reflector[dict[str, Any]]:
    refl: Reflector[dict[str, Any]] = Reflector(
        api_version, _never, on_change=hub._template_changed(api_version, "MPIJob"),
        transform=hub._template_form("kubeflow.org", "MPIJob"))
    hub.templates[(api_version, "MPIJob")] = refl
    return refl


def _event(hub: Hub, refl: Reflector[dict[str, Any]], event: str,
           raw: dict[str, Any]) -> None:
    """What the reflector does with a watch event: transform, store, notify."""
    kept = hub._template_form("kubeflow.org", "MPIJob")(dict(raw))
    key = f"ml/{raw['metadata']['name']}"
    if event == "DELETED":
        refl.store.pop(key, None)
    else:
        refl.store[key] = kept
    hub._template_changed(refl.name, "MPIJob")(event, kept)


async def _queued(hub: Hub) -> set[TemplateKey]:
    out = set()
    while len(hub.queue):
        key = await hub.queue.get()
        hub.queue.done(key)
        out.add(key)
    return out


async def test_each_template_belongs_to_the_version_it_was_written_in() -> None:
    hub = Hub(HubConfig(kubeconfig=Path("/nonexistent")))
    hub._multi = {("kubeflow.org", "MPIJob"): "v2beta1"}
    w1, w2 = _watch(hub, V1), _watch(hub, V2)
    for refl in (w1, w2):
        _event(hub, refl, "ADDED", _mpijob("a", refl.name, V1))
        _event(hub, refl, "ADDED", _mpijob("b", refl.name, V2))
    a1, b2 = TemplateKey(V1, "MPIJob", "ml", "a"), TemplateKey(V2, "MPIJob", "ml", "b")
    assert sorted(hub.template_keys(), key=str) == sorted([a1, b2], key=str)
    assert await _queued(hub) == {a1, b2}
    tmpl = hub.template(a1)
    assert tmpl is not None and tmpl["apiVersion"] == V1
    assert hub.template(TemplateKey(V2, "MPIJob", "ml", "a")) is None
    # its author rewrites "a" in v2beta1: the v1 key lets go of it, the v2beta1 one has it
    for refl in (w1, w2):
        _event(hub, refl, "MODIFIED", _mpijob("a", refl.name, V2, gen=2))
    a2 = TemplateKey(V2, "MPIJob", "ml", "a")
    assert await _queued(hub) == {a1, a2}
    assert hub.template(a1) is None and hub.template(a2) is not None


async def test_a_kind_served_at_one_version_needs_no_author() -> None:
    hub = Hub(HubConfig(kubeconfig=Path("/nonexistent")))
    w1 = _watch(hub, V1)
    _event(hub, w1, "ADDED", {"apiVersion": V1, "kind": "MPIJob",
                              "metadata": {"name": "c", "namespace": "ml"}})
    assert hub.template_keys() == [TemplateKey(V1, "MPIJob", "ml", "c")]


async def test_a_second_version_served_later_leaves_existing_templates_with_theirs() -> None:
    hub = Hub(HubConfig(kubeconfig=Path("/nonexistent")))
    w1 = _watch(hub, V1)
    _event(hub, w1, "ADDED", _mpijob("a", V1, V1))
    # the CRD now serves v2beta1 too, preferred: "a" was written in v1 and stays there
    hub._multi = {("kubeflow.org", "MPIJob"): "v2beta1"}
    w2 = _watch(hub, V2)
    _event(hub, w2, "ADDED", _mpijob("a", V2, V1))
    assert hub.template_keys() == [TemplateKey(V1, "MPIJob", "ml", "a")]
    for refl in (w2, w1):
        _event(hub, refl, "DELETED", _mpijob("a", refl.name, V1))
    assert hub._authored == {} and hub.template_keys() == []
