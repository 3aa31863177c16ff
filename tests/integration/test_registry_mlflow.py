"""The fleet's real MLflow server: webhooks signed as MLflow signs them, alias and latest
resolution, source URIs in the fleet's MinIO, and the poller (also across an outage)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import boto3
import pytest
from aiohttp import web

from federation.dev import mlflow as mlf
from federation.dev.localfleet import FleetState, LocalFleet, RegistryState
from federation.dev.objectstores import StoreEndpoint
from federation.registry.mlflow import MlflowRegistry
from federation.registry.poll import RegistryPoller
from federation.registry.ports import ModelVersionInfo
from federation.registry.webhook import RegistryEvent, make_webhook_route

API = "/api/2.0/mlflow"


class Mlflow:
    """Just enough of MLflow's REST API to act as a data scientist would."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session

    async def call(self, method: str, endpoint: str, body: dict[str, Any] | None = None,
                   params: dict[str, str] | None = None) -> dict[str, Any]:
        async with self.session.request(method, f"{self.url}{API}/{endpoint}", json=body,
                                        params=params) as resp:
            doc: dict[str, Any] = await resp.json(content_type=None)
            assert resp.status == 200, f"{method} {endpoint}: {resp.status} {doc}"
            return doc

    async def version(self, model: str, source: str, run_id: str = "") -> str:
        body = {"name": model, "source": source}
        if run_id:
            body["run_id"] = run_id
        doc = await self.call("POST", "model-versions/create", body)
        return str(doc["model_version"]["version"])

    async def alias(self, model: str, alias: str, version: str) -> None:
        await self.call("POST", "registered-models/alias",
                        {"name": model, "alias": alias, "version": version})


def s3_client(store: StoreEndpoint) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=store.endpoint, aws_access_key_id=store.access_key,
        aws_secret_access_key=store.secret_key, region_name=store.region or "us-east-1")


def registry_of(state: FleetState) -> RegistryState:
    assert state.registry is not None, "tests/integration/fleet.yaml declares modelRegistry"
    return state.registry


@pytest.fixture
async def mlflow(fleet_state: FleetState) -> AsyncIterator[Mlflow]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield Mlflow(registry_of(fleet_state).url, session)


async def test_webhook_delivery_verifies_and_alias_resolves(fleet_state: FleetState,
                                                            mlflow: Mlflow) -> None:
    reg = registry_of(fleet_state)
    model = f"fraud-{uuid.uuid4().hex[:8]}"
    store = fleet_state.store(reg.artifact_store).endpoint
    await asyncio.to_thread(s3_client(store).put_object, Bucket=store.bucket,
                            Key=f"origin/{model}/1/model.onnx", Body=b"onnx bytes")
    await mlflow.call("POST", "registered-models/create", {"name": model})
    v1 = await mlflow.version(model, f"s3://{store.bucket}/origin/{model}/1")

    # The hub's side: a webhook route on loopback. Two sources: "good" knows the secret
    # MLflow signs with; "bad" expects another one.
    good, bad = secrets.token_hex(16), secrets.token_hex(16)
    events: list[tuple[str, RegistryEvent]] = []
    statuses: list[tuple[str, int]] = []
    arrived = asyncio.Event()

    async def on_event(key: str, event: RegistryEvent) -> None:
        events.append((key, event))
        arrived.set()

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        resp: web.StreamResponse = await handler(request)
        statuses.append((request.path, resp.status))
        return resp

    app = web.Application(middlewares=[record])
    keys = {"itest/good": good.encode(), "itest/bad": b"not-" + bad.encode()}
    make_webhook_route(app, "/webhooks/mlflow/{namespace}/{source}", keys.get, on_event)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    hooks = []
    try:
        for name, secret in (("good", good), ("bad", bad)):
            doc = await mlflow.call("POST", "webhooks", {
                "name": f"{model}-{name}",
                "url": f"http://127.0.0.1:{port}/webhooks/mlflow/itest/{name}",
                "events": [{"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}],
                "secret": secret})
            hooks.append(doc["webhook"]["webhook_id"])
        await asyncio.sleep(mlf.WEBHOOK_CACHE_TTL + 1)  # the server's webhook list cache
        await mlflow.alias(model, "production", v1)
        await asyncio.wait_for(arrived.wait(), 30)
        for _ in range(100):  # the rejected delivery goes out in parallel
            if ("/webhooks/mlflow/itest/bad", 401) in statuses:
                break
            await asyncio.sleep(0.1)
    finally:
        for hook in hooks:
            await mlflow.call("DELETE", f"webhooks/{hook}")
        await runner.cleanup()

    assert [(k, e.entity, e.action, e.model, e.version, e.alias) for k, e in events] == [
        ("itest/good", "model_version_alias", "created", model, v1, "production")]
    assert ("/webhooks/mlflow/itest/good", 200) in statuses
    assert ("/webhooks/mlflow/itest/bad", 401) in statuses

    registry = MlflowRegistry(reg.url, artifacts_destination=reg.artifacts_destination)
    try:
        info = await registry.resolve(model, "production")
        assert (info.model, info.version, info.aliases) == (model, v1, ("production",))
        assert info.source_uri == f"s3://{store.bucket}/origin/{model}/1"
        assert (await registry.resolve(model, "latest")).version == v1
    finally:
        await registry.close()


async def test_run_artifact_source_maps_into_the_artifact_store(fleet_state: FleetState,
                                                                mlflow: Mlflow) -> None:
    """A version whose source is a run's ``mlflow-artifacts:`` URI resolves to the S3 key
    the server's artifact proxy wrote into MinIO."""
    reg = registry_of(fleet_state)
    model = f"runmodel-{uuid.uuid4().hex[:8]}"
    run = (await mlflow.call("POST", "runs/create", {"experiment_id": "0"}))["run"]["info"]
    artifact_uri = run["artifact_uri"]
    assert artifact_uri.startswith("mlflow-artifacts:/")
    path = artifact_uri[len("mlflow-artifacts:/"):].lstrip("/")
    async with mlflow.session.put(
            f"{reg.url}/api/2.0/mlflow-artifacts/artifacts/{path}/model/weights.bin",
            data=b"w" * 1000) as resp:
        assert resp.status == 200, await resp.text()
    await mlflow.call("POST", "registered-models/create", {"name": model})
    version = await mlflow.version(model, f"{artifact_uri}/model", run_id=run["run_id"])

    registry = MlflowRegistry(reg.url, artifacts_destination=reg.artifacts_destination)
    try:
        info = await registry.get_version(model, version)
    finally:
        await registry.close()
    store = fleet_state.store(reg.artifact_store).endpoint
    bucket, _, prefix = info.source_uri.removeprefix("s3://").partition("/")
    assert bucket == store.bucket
    listed = await asyncio.to_thread(s3_client(store).list_objects_v2, Bucket=bucket,
                                     Prefix=prefix + "/")
    assert [o["Key"] for o in listed.get("Contents", [])] == [f"{prefix}/weights.bin"]


async def test_poller_sees_an_alias_move_and_an_outage(local_fleet: LocalFleet,
                                                       fleet_state: FleetState,
                                                       mlflow: Mlflow) -> None:
    reg = registry_of(fleet_state)
    model = f"polled-{uuid.uuid4().hex[:8]}"
    await mlflow.call("POST", "registered-models/create", {"name": model})
    v1 = await mlflow.version(model, f"s3://models/origin/{model}/1")
    v2 = await mlflow.version(model, f"s3://models/origin/{model}/2")
    await mlflow.alias(model, "production", v1)

    changes: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    status: asyncio.Queue[bool] = asyncio.Queue()

    async def on_change(_m: str, channel: str, info: ModelVersionInfo) -> None:
        await changes.put((channel, info.version))

    async def on_status(ok: bool, _message: str) -> None:
        await status.put(ok)

    registry = MlflowRegistry(reg.url, timeout=3)
    poller = RegistryPoller(registry, [(model, "production"), (model, "latest")],
                            interval=0.3, on_change=on_change, on_status=on_status,
                            backoff_initial=0.2, backoff_max=1.0)
    task = asyncio.create_task(poller.run())
    try:
        first = {await asyncio.wait_for(changes.get(), 30) for _ in range(2)}
        assert first == {("production", v1), ("latest", v2)}
        assert await asyncio.wait_for(status.get(), 10) is True
        await mlflow.alias(model, "production", v2)  # no webhook: only the poll sees it
        assert await asyncio.wait_for(changes.get(), 30) == ("production", v2)

        await asyncio.to_thread(local_fleet.stop_registry)
        assert await asyncio.wait_for(status.get(), 30) is False
        assert poller.reachable is False
        await local_fleet.start_registry()
        while await asyncio.wait_for(status.get(), 60) is False:
            pass  # further failed attempts until the server answers
        assert poller.reachable is True
        assert changes.empty()  # nothing moved while it was down
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await registry.close()
