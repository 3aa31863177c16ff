"""ModelSync against fakes: registry, stager and hub writes behind the module's Protocols."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from federation.hub.model_status import WorkloadRef
from federation.hub.model_stores import StoreResolver
from federation.hub.model_sync import ModelSource, ModelSync, Progress, StageJob, StagingMember
from federation.registry.ports import ModelVersionInfo, NotFound, RegistryUnavailable


class FakeRegistry:
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {"production": "2"}
        self.down = False
        self.resolves = 0

    def _info(self, version: str) -> ModelVersionInfo:
        return ModelVersionInfo("fraud", version, f"s3://mlflow/fraud/{version}")

    async def resolve(self, model: str, channel: str) -> ModelVersionInfo:
        self.resolves += 1
        if self.down:
            raise RegistryUnavailable("mlflow at http://127.0.0.1:1: connection refused")
        if channel not in self.aliases:
            raise NotFound(f"MLflow model {model!r} has no alias {channel!r}")
        return self._info(self.aliases[channel])

    async def get_version(self, model: str, version: str) -> ModelVersionInfo:
        return self._info(version)

    async def close(self) -> None:
        pass


class FakeRegistries:
    def __init__(self, reg: FakeRegistry) -> None:
        self.reg = reg
        self.sources: list[str] = []

    async def registry(self, source: ModelSource) -> FakeRegistry:
        return self.reg

    async def refresh(self, sources: Sequence[ModelSource]) -> None:
        self.sources = [s.key for s in sources]

    def webhook_secret(self, source_key: str) -> bytes | None:
        return b"s3cret" if source_key in self.sources else None

    async def close(self) -> None:
        pass


class FakeStager:
    """Verifies every target, except clusters listed in ``fail`` (StoreUnreachable)."""

    def __init__(self) -> None:
        self.jobs: list[StageJob] = []
        self.fail: set[str] = set()

    async def stage(self, job: StageJob, on_progress: Callable[[Progress], None]) -> None:
        self.jobs.append(job)
        for t in job.targets:
            on_progress(Progress(t.cluster, "Copying", 5, 10))
            if t.cluster in self.fail:
                on_progress(Progress(t.cluster, "Failed", 5, 10, "StoreUnreachable",
                                     "connection refused"))
            else:
                on_progress(Progress(t.cluster, "Verified", 10, 10))


class FakeWrites:
    def __init__(self) -> None:
        self.subs: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[str, str]] = []

    async def subscription_status(self, namespace: str, name: str,
                                  status: dict[str, Any]) -> None:
        self.subs[f"{namespace}/{name}"] = status

    async def source_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.sources[f"{namespace}/{name}"] = status

    async def event(self, obj: Mapping[str, Any], reason: str, message: str,
                    warning: bool = False) -> None:
        self.events.append((reason, message))


def member(name: str, *, edge: bool = False, gpus: frozenset[str] = frozenset()) -> StagingMember:
    return StagingMember(name=name, labels={"tier": "edge" if edge else "cloud"},
                      region="eu" if edge else "us", provider="onprem", zone="",
                      edge=edge, gpu_products=gpus,
                      stores=({"name": f"{name}-disk", "provider": "file",
                               "region": "eu" if edge else "us", "root": f"/srv/{name}"},))


SUB = {"apiVersion": "fedctl.dev/v1alpha1", "kind": "ModelSubscription",
       "metadata": {"name": "fraud", "namespace": "ml", "generation": 1},
       "spec": {"source": "mlflow", "model": "fraud", "channel": "production",
                "clusters": {"selector": {"matchExpressions": [
                    {"key": "tier", "operator": "Exists"}]}},
                "workloads": [{"apiVersion": "serving.kserve.io/v1beta1",
                               "kind": "InferenceService", "name": "fraud"}],
                "variants": [{"name": "int8", "match": {"edge": True},
                              "build": {"converter": "onnx-int8", "input": "model.onnx"}}]}}
SOURCE = {"metadata": {"name": "mlflow", "namespace": "ml"},
          "spec": {"mlflow": {"trackingUri": "http://127.0.0.1:5000"},
                   "pollIntervalSeconds": 30}}


class Rig:
    def __init__(self, members: list[StagingMember]) -> None:
        self.subs: dict[str, dict[str, Any]] = {"ml/fraud": dict(SUB)}
        self.sources = {"ml/mlflow": SOURCE}
        self.members = members
        self.registry = FakeRegistry()
        self.stager = FakeStager()
        self.writes = FakeWrites()
        self.enqueued: list[WorkloadRef] = []
        self.cached: Mapping[str, frozenset[str]] = {}

        async def no_secret(ns: str, name: str) -> None:
            return None

        self.sync = ModelSync(
            subscriptions=lambda: self.subs, sources=lambda: self.sources,
            members=lambda: self.members, affinity=lambda ns, pp: None,
            stores=StoreResolver(no_secret), registries=FakeRegistries(self.registry),
            stager=self.stager, writes=self.writes, enqueue=self.enqueued.append,
            set_cached=self._set_cached, clock=lambda: 1_800_000_000.0)

    def _set_cached(self, cached: Mapping[str, frozenset[str]]) -> None:
        self.cached = cached


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def cond(status: Mapping[str, Any], kind: str) -> tuple[str, str]:
    c = next(c for c in status["conditions"] if c["type"] == kind)
    return c["status"], c["reason"]


@pytest.mark.asyncio
async def test_a_new_version_is_staged_everywhere_then_switched() -> None:
    rig = Rig([member("cloud-1", gpus=frozenset({"A100-80GB"})), member("edge-1", edge=True)])
    task = asyncio.create_task(rig.sync.run())
    try:
        await until(lambda: rig.writes.subs.get("ml/fraud", {}).get("switchedVersion") == "2")
        job = rig.stager.jobs[0]
        assert {(t.cluster, t.variant) for t in job.targets} == {("cloud-1", "default"),
                                                                 ("edge-1", "int8")}
        status = rig.writes.subs["ml/fraud"]
        assert cond(status, "Ready") == ("True", "Switched")
        assert status["observedGeneration"] == 1
        edge = next(c for c in status["clusters"] if c["cluster"] == "edge-1")
        assert edge["uri"] == "file:///srv/edge-1/fraud--int8/2"
        assert edge["servingUri"] == edge["uri"] and edge["state"] == "Verified"
        assert [w.name for w in rig.enqueued] == ["fraud"]
        assert "models:/fraud@production" in rig.cached["edge-1"]
        values = rig.sync.field_values("serving.kserve.io/v1beta1", "InferenceService", "ml",
                                       "fraud", [], "edge-1")
        assert values == [("spec.predictor.model.storageUri", edge["uri"])]
        assert rig.writes.events[0][0] == "Switched"
        assert rig.writes.sources["ml/mlflow"]["conditions"][0]["status"] == "True"
        # the next look finds everything verified: nothing is copied again
        rig.sync.changed()
        await asyncio.sleep(0.1)
        assert len(rig.stager.jobs) == 1
        # deleted: its workloads are queued to go back to the template's URI
        del rig.subs["ml/fraud"]
        rig.sync.changed()
        await until(lambda: len(rig.enqueued) == 2)
        assert rig.sync.field_values("serving.kserve.io/v1beta1", "InferenceService", "ml",
                                     "fraud", [], "edge-1") == []
        assert rig.cached == {}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_failed_cluster_blocks_the_switch_until_it_is_staged() -> None:
    rig = Rig([member("cloud-1"), member("edge-1", edge=True)])
    rig.stager.fail = {"edge-1"}
    task = asyncio.create_task(rig.sync.run())
    try:
        await until(lambda: "Ready" in str(rig.writes.subs.get("ml/fraud"))
                    and cond(rig.writes.subs["ml/fraud"], "Ready")[1] == "StagingFailed")
        status = rig.writes.subs["ml/fraud"]
        assert status["switchedVersion"] == ""
        edge = next(c for c in status["clusters"] if c["cluster"] == "edge-1")
        assert (edge["state"], edge["reason"]) == ("Failed", "StoreUnreachable")
        assert rig.enqueued == [] and "servingUri" not in edge
        # the store is back: the next look copies only what is not verified
        rig.stager.fail = set()
        rig.sync.changed()
        await until(lambda: rig.writes.subs["ml/fraud"]["switchedVersion"] == "2")
        assert [t.cluster for t in rig.stager.jobs[-1].targets] == ["edge-1"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_registry_down_is_reported_and_retried() -> None:
    rig = Rig([member("cloud-1")])
    rig.registry.down = True
    task = asyncio.create_task(rig.sync.run())
    try:
        await until(lambda: "ml/fraud" in rig.writes.subs)
        status = rig.writes.subs["ml/fraud"]
        assert cond(status, "SourceReachable") == ("False", "RegistryUnavailable")
        assert rig.stager.jobs == []
        await until(lambda: rig.writes.sources.get("ml/mlflow", {}).get("conditions", [{}])[0]
                    .get("status") == "False")
        rig.registry.down = False
        rig.sync.changed()
        await until(lambda: rig.writes.subs["ml/fraud"]["switchedVersion"] == "2")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_selecting_no_cluster_is_a_condition() -> None:
    rig = Rig([])
    task = asyncio.create_task(rig.sync.run())
    try:
        await until(lambda: "ml/fraud" in rig.writes.subs)
        assert cond(rig.writes.subs["ml/fraud"], "ClustersSelected") == ("False", "NoClusters")
        assert rig.stager.jobs == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_restarted_hub_continues_from_status() -> None:
    rig = Rig([member("cloud-1"), member("edge-1", edge=True)])
    rig.subs["ml/fraud"] = dict(SUB, status={
        "desiredVersion": "2", "switchedVersion": "1", "clusters": [
            {"cluster": "cloud-1", "store": "cloud-1-disk", "variant": "default",
             "version": "2", "state": "Verified", "uri": "file:///srv/cloud-1/fraud/2",
             "servingVersion": "1", "servingUri": "file:///srv/cloud-1/fraud/1"},
            {"cluster": "edge-1", "store": "edge-1-disk", "variant": "int8", "version": "2",
             "state": "Copying", "uri": "file:///srv/edge-1/fraud--int8/2",
             "servingVersion": "1", "servingUri": "file:///srv/edge-1/fraud--int8/1"}]})
    task = asyncio.create_task(rig.sync.run())
    try:
        await until(lambda: rig.writes.subs.get("ml/fraud", {}).get("switchedVersion") == "2")
        assert [t.cluster for t in rig.stager.jobs[0].targets] == ["edge-1"]
        status = rig.writes.subs["ml/fraud"]
        assert status["lastGoodVersion"] == "1"
        # the versions a store must keep: served, last good, being staged
        assert rig.stager.jobs[0].in_use["edge-1"] == {"1", "2"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_looks_wait_for_the_hub_ready_but_state_is_read_back_at_once() -> None:
    # a restarted hub lists its members one by one: a look before they are all known
    # would plan without the missing ones and switch with them never staged
    rig = Rig([member("cloud-1")])
    rig.subs["ml/fraud"] = dict(SUB, status={
        "desiredVersion": "1", "switchedVersion": "1", "clusters": [
            {"cluster": "cloud-1", "store": "cloud-1-disk", "variant": "default",
             "version": "1", "state": "Verified", "uri": "file:///srv/cloud-1/fraud/1",
             "servingVersion": "1", "servingUri": "file:///srv/cloud-1/fraud/1"}]})
    ready = asyncio.Event()
    task = asyncio.create_task(rig.sync.run(ready=ready))
    try:
        await until(lambda: "ml/fraud" in rig.sync.states)
        await asyncio.sleep(0.2)
        assert rig.stager.jobs == [] and "ml/fraud" not in rig.writes.subs
        # workloads already render from the state read back
        assert rig.sync.field_values("serving.kserve.io/v1beta1", "InferenceService", "ml",
                                     "fraud", [], "cloud-1") == [
            ("spec.predictor.model.storageUri", "file:///srv/cloud-1/fraud/1")]
        rig.members = [member("cloud-1"), member("edge-1", edge=True)]
        ready.set()
        await until(lambda: rig.writes.subs.get("ml/fraud", {}).get("switchedVersion") == "2")
        assert {t.cluster for t in rig.stager.jobs[0].targets} == {"cloud-1", "edge-1"}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_webhook_wakes_the_subscription_of_its_model_only() -> None:
    rig = Rig([member("cloud-1")])
    task = asyncio.create_task(rig.sync.run())
    try:
        await until(lambda: rig.writes.subs.get("ml/fraud", {}).get("switchedVersion") == "2")
        rig.registry.aliases["production"] = "3"
        assert rig.sync.webhook_secret("ml/mlflow") == b"s3cret"
        assert rig.sync.webhook_secret("ml/other") is None
        assert not rig.sync.registry_event("ml/mlflow", "other-model")
        assert rig.sync.registry_event("ml/mlflow", "fraud")
        await until(lambda: rig.writes.subs["ml/fraud"]["switchedVersion"] == "3")
        assert rig.writes.subs["ml/fraud"]["lastGoodVersion"] == "2"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
async def test_a_missing_alias_is_reported_then_found() -> None:
    rig = Rig([member("cloud-1")])
    del rig.registry.aliases["production"]
    task = asyncio.create_task(rig.sync.run())
    try:
        await until(lambda: "ml/fraud" in rig.writes.subs)
        assert cond(rig.writes.subs["ml/fraud"], "SourceReachable") == ("False", "NotFound")
        rig.registry.aliases["production"] = "2"
        rig.sync.changed()
        await until(lambda: rig.writes.subs["ml/fraud"]["switchedVersion"] == "2")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
