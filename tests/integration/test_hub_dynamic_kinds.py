"""Every kind the hub can interpret is watched, as kinds appear while it runs.

The hub resolves its template kinds through API discovery and follows the CRDs of the
hub and of every member, and the interpreter ConfigMaps on the hub: a declarative
interpreter and a CRD installed after the hub started make the kind watched (hub) or
schedulable (member) without a restart; a kind served at two versions routes each
template to the members serving its version.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.crds import ensure_crds
from federation.dev.localfleet import FleetState
from federation.hub.controller import Hub, HubConfig
from federation.hub.interpreter_watch import DETAIL, LABEL, NAMESPACE

from .helpers import eventually
from .hubkit import READY_SECONDS, G, V, create_policy, namespace, policy, running_hub

MX_INTERPRETER = """\
apiVersion: fedctl.dev/v1alpha1
kind: WorkloadInterpreter
metadata: {name: mxjobs}
spec:
  target: {group: kubeflow.org, kind: MXJob}
  gang: true
  divisible: false
  components:
    - each: spec.mxReplicaSpecs.*
      replicas: replicas
      podSpec: template.spec
      absent: remove
  health:
    conditions: {Succeeded: Succeeded, Failed: Failed, Running: Running}
"""


def crd(group: str, kind: str, plural: str, version: str = "v1") -> dict[str, Any]:
    """A namespaced CRD that keeps any spec (an operator's CRD as far as the hub cares)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"kind": kind, "plural": plural, "singular": kind.lower(),
                           "listKind": f"{kind}List"},
                 "versions": [{"name": version, "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {
                                   "type": "object",
                                   "x-kubernetes-preserve-unknown-fields": True}}}]}}


def replica(n: int) -> dict[str, Any]:
    return {"replicas": n, "template": {"spec": {"containers": [{
        "name": "c", "image": "registry.example/train:1",
        "resources": {"requests": {"cpu": "100m"}}}]}}}


@contextlib.asynccontextmanager
async def crds_on(apis: list[Any], body: dict[str, Any]) -> AsyncIterator[None]:
    """The CRD installed on each cluster (Established) for the block, removed after."""
    for api in apis:
        await ensure_crds(api, [body])
    try:
        yield
    finally:
        for api in apis:
            with contextlib.suppress(ApiException):
                await k8s.ApiextensionsV1Api(api).delete_custom_resource_definition(
                    body["metadata"]["name"])


async def get(api: Any, group: str, version: str, ns: str, plural: str,
              name: str) -> dict[str, Any] | None:
    try:
        got: dict[str, Any] = await k8s.CustomObjectsApi(api).get_namespaced_custom_object(
            group, version, ns, plural, name)
        return got
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


async def binding(api: Any, ns: str, name: str, kind: str) -> dict[str, Any] | None:
    """The ResourceBinding of template ``kind``/``name`` (found by its resource, whatever
    the binding's name)."""
    found = await k8s.CustomObjectsApi(api).list_namespaced_custom_object(
        G, V, ns, "resourcebindings")
    for b in found.get("items") or []:
        res = (b.get("spec") or {}).get("resource") or {}
        if res.get("name") == name and res.get("kind") == kind:
            return dict(b)
    return None


async def scheduled(api: Any, ns: str, name: str, kind: str) -> dict[str, Any] | None:
    b = await binding(api, ns, name, kind)
    conds = {c["type"]: c for c in ((b or {}).get("status") or {}).get("conditions") or []}
    return conds.get("Scheduled")


@contextlib.asynccontextmanager
async def interpreter_configmap(api: Any, name: str, data: dict[str, str]
                                ) -> AsyncIterator[None]:
    """A ConfigMap labelled as interpreters in fedctl-system for the block, deleted after."""
    core = k8s.CoreV1Api(api)
    with contextlib.suppress(ApiException):  # 409: there already
        await core.create_namespace({"metadata": {"name": NAMESPACE}})
    await core.create_namespaced_config_map(NAMESPACE, {
        "metadata": {"name": name, "labels": {LABEL: "true"}}, "data": data})
    try:
        yield
    finally:
        with contextlib.suppress(ApiException):
            await core.delete_namespaced_config_map(name, NAMESPACE)


async def test_interpreter_and_crd_installed_while_the_hub_runs_propagate(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    """The hub starts knowing nothing of MXJob. Its interpreter arrives as a ConfigMap
    (next to one that does not parse: reported, nothing else affected): the kind is
    reported as not served. Installing the CRD on the hub and on member2 while it runs is
    then enough for an MXJob template to be placed and copied there."""
    hub_api = member_api["hub"]
    hub = Hub(HubConfig(kubeconfig=Path(joined.kubeconfig), context="hub",
                        cache_dir=tmp_path / "cache"))
    task = asyncio.create_task(hub.run())
    suffix = uuid.uuid4().hex[:4]
    try:
        await asyncio.wait_for(hub.ready.wait(), READY_SECONDS)
        assert "kubeflow.org/MXJob" not in hub.missing_kinds
        async with interpreter_configmap(hub_api, f"mx-{suffix}",
                                         {"mxjob.yaml": MX_INTERPRETER}), \
                interpreter_configmap(hub_api, f"bad-{suffix}",
                                      {"bad.yaml": "kind: WorkloadInterpreter\n"}):
            await eventually(lambda: _missing(hub, "kubeflow.org/MXJob"), timeout=30,
                             what="MXJob interpreter from the ConfigMap")
            assert "kubeflow.org/MXJob" in hub.metrics.readiness_details["kinds not served"]
            assert (f"configmap {NAMESPACE}/bad-{suffix}/bad.yaml:1"
                    in hub.metrics.readiness_details[DETAIL])
            await _mxjob_propagates(hub, member_api)
        # the interpreter ConfigMap deleted: the kind is no longer known
        await eventually(_not(lambda: _missing(hub, "kubeflow.org/MXJob")), timeout=30,
                         what="MXJob interpreter gone")
        assert hub.metrics.readiness_details[DETAIL] == ""
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _mxjob_propagates(hub: Hub, member_api: dict[str, Any]) -> None:
    """The MXJob CRD installed on the hub and member2: an MXJob template is watched,
    copied to member2 and removed again; the CRD removed, the kind is reported again."""
    hub_api = member_api["hub"]
    mx = crd("kubeflow.org", "MXJob", "mxjobs")
    async with crds_on([hub_api, member_api["member2"]], mx):
        await eventually(lambda: _watched(hub, ("kubeflow.org/v1", "MXJob")),
                         timeout=30, what="MXJob watched by the hub")
        assert "kubeflow.org/MXJob" not in hub.missing_kinds
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(ns, "mx", {},
                                            kinds=(("kubeflow.org/v1", "MXJob"),)))
        await k8s.CustomObjectsApi(hub_api).create_namespaced_custom_object(
            "kubeflow.org", "v1", ns, "mxjobs", {
                "apiVersion": "kubeflow.org/v1", "kind": "MXJob",
                "metadata": {"name": "mx", "namespace": ns, "labels": {"app": "mx"}},
                "spec": {"mxReplicaSpecs": {"Scheduler": replica(1),
                                            "Worker": replica(2)}}})
        copy = await eventually(
            lambda: get(member_api["member2"], "kubeflow.org", "v1", ns, "mxjobs", "mx"),
            timeout=60, what="MXJob copied to member2")
        assert copy["spec"]["mxReplicaSpecs"]["Worker"]["replicas"] == 2
        # member1 and member3 do not serve MXJob: nothing was tried there
        b = await eventually(lambda: binding(hub_api, ns, "mx", "MXJob"), timeout=20,
                             what="the MXJob's binding")
        assert [c["name"] for c in (b or {})["spec"]["clusters"]] == ["member2"]
        await k8s.CustomObjectsApi(hub_api).delete_namespaced_custom_object(
            "kubeflow.org", "v1", ns, "mxjobs", "mx")
        await eventually(_none(lambda: get(member_api["member2"], "kubeflow.org", "v1",
                                           ns, "mxjobs", "mx")),
                         timeout=60, what="MXJob copy removed")
    # the CRD removed from the hub: the kind is reported again, its watch stopped
    await eventually(lambda: _missing(hub, "kubeflow.org/MXJob"), timeout=30,
                     what="MXJob reported as not served")
    assert ("kubeflow.org/v1", "MXJob") not in hub.templates


async def test_crd_installed_on_a_member_after_it_joined_makes_the_kind_schedulable(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    """XGBoostJob has a built-in interpreter; the hub serves it, no member does: its
    template is unschedulable until member1 gets the CRD, then placed there (no restart)."""
    hub_api = member_api["hub"]
    xgb = crd("kubeflow.org", "XGBoostJob", "xgboostjobs")
    async with crds_on([hub_api], xgb), running_hub(joined, tmp_path) as hub:
        assert ("kubeflow.org/v1", "XGBoostJob") in hub.templates
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(ns, "xgb", {},
                                            kinds=(("kubeflow.org/v1", "XGBoostJob"),)))
        name = f"xgb-{uuid.uuid4().hex[:4]}"
        await k8s.CustomObjectsApi(hub_api).create_namespaced_custom_object(
            "kubeflow.org", "v1", ns, "xgboostjobs", {
                "apiVersion": "kubeflow.org/v1", "kind": "XGBoostJob",
                "metadata": {"name": name, "namespace": ns, "labels": {"app": "xgb"}},
                "spec": {"xgbReplicaSpecs": {"Master": replica(1), "Worker": replica(1)}}})

        async def refused() -> dict[str, Any] | None:
            cond = await scheduled(hub_api, ns, name, "XGBoostJob")
            return cond if cond and cond["status"] == "False" else None

        cond = await eventually(refused, timeout=60, what="XGBoostJob unschedulable")
        assert "XGBoostJob" in cond["message"]
        async with crds_on([member_api["member1"]], xgb):
            copy = await eventually(
                lambda: get(member_api["member1"], "kubeflow.org", "v1", ns, "xgboostjobs",
                            name),
                # the member's CRD watch triggers discovery: no restart, no 30 s poll
                timeout=20, what="XGBoostJob placed on member1 once it serves the kind")
            assert copy["spec"]["xgbReplicaSpecs"]["Worker"]["replicas"] == 1
            await k8s.CustomObjectsApi(hub_api).delete_namespaced_custom_object(
                "kubeflow.org", "v1", ns, "xgboostjobs", name)
            await eventually(_none(lambda: get(member_api["member1"], "kubeflow.org", "v1",
                                               ns, "xgboostjobs", name)),
                             timeout=60, what="XGBoostJob copy removed")


async def test_mpijob_templates_route_to_the_members_serving_their_version(
        joined: FleetState, member_api: dict[str, Any], tmp_path: Path) -> None:
    """The hub serves MPIJob as kubeflow.org/v1 and v2beta1; member1 serves only v1,
    member2 only v2beta1. Each template is copied, in its own version, to the member
    serving that version."""
    hub_api = member_api["hub"]
    custom = k8s.CustomObjectsApi(hub_api)
    async with running_hub(joined, tmp_path):
        ns = await namespace(hub_api)
        await create_policy(hub_api, policy(
            ns, "mpi", {}, kinds=(("kubeflow.org/v1", "MPIJob"),
                                  ("kubeflow.org/v2beta1", "MPIJob"))))
        spec = {"slotsPerWorker": 1, "runPolicy": {"cleanPodPolicy": "Running"},
                "mpiReplicaSpecs": {"Launcher": replica(1), "Worker": replica(1)}}
        for version in ("v1", "v2beta1"):
            await custom.create_namespaced_custom_object(
                "kubeflow.org", version, ns, "mpijobs", {
                    "apiVersion": f"kubeflow.org/{version}", "kind": "MPIJob",
                    "metadata": {"name": f"mpi-{version}", "namespace": ns,
                                 "labels": {"app": "mpi"}}, "spec": spec})
        for version, member in (("v1", "member1"), ("v2beta1", "member2")):
            await eventually(
                lambda v=version, m=member: get(member_api[m], "kubeflow.org", v, ns,
                                                "mpijobs", f"mpi-{v}"),
                timeout=60, what=f"MPIJob {version} on {member}")
            # (the binding is written after the copy is applied: it may lag a moment)
            b = await eventually(lambda v=version: binding(hub_api, ns, f"mpi-{v}", "MPIJob"),
                                 timeout=20, what=f"the binding of MPIJob {version}")
            assert b["spec"]["resource"]["apiVersion"] == f"kubeflow.org/{version}"
            assert [c["name"] for c in b["spec"]["clusters"]] == [member]


async def _watched(hub: Hub, key: tuple[str, str]) -> bool:
    refl = hub.templates.get(key)
    return refl is not None and refl.synced.is_set()


async def _missing(hub: Hub, kind: str) -> bool:
    return kind in hub.missing_kinds


def _not(check: Any) -> Any:
    async def negated() -> bool:
        return not await check()
    return negated


def _none(check: Any) -> Any:
    async def gone() -> bool:
        return await check() is None
    return gone
