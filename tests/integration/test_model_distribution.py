"""Model distribution end to end on the real local fleet: the fleet's MLflow registry, its
MinIO artifact store, the members' own stores (MinIO for member2, fake-gcs-server for the
edge member3) and a hub process serving the registry webhook.

A version registered in MLflow and put on the ``production`` alias is staged in every
subscribed member's store (the edge gets the INT8 build of the ONNX model made by the
converter), verified there, and the InferenceService copies are switched to their local
mirrors; the next version arrives by webhook (the poll interval is too long to be what
found it) and the previous one is remembered as last good. With no webhook, the poll finds
a version.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio import client as k8s

from distributors.store import open_store
from distributors.verify import verify_version
from federation.cli.artifacts import config_from_endpoint
from federation.dev import mlflow as mlf
from federation.dev.localfleet import FleetState
from federation.hub.controller import HubConfig
from federation.hub.process import HubProcess, ProcessConfig
from tests.integration.hubkit import G, V, create_policy, namespace, policy
from tests.integration.test_registry_mlflow import Mlflow, registry_of, s3_client
from tests.unit.staging.onnx_models import write_gemm_model

ISVC = ("serving.kserve.io/v1beta1", "InferenceService")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def hub_process(state: FleetState, tmp_path: Path) -> AsyncIterator[int]:
    """A hub process (HTTP endpoints, webhook) leading alone; yields its HTTP port."""
    port = free_port()
    proc = HubProcess(ProcessConfig(
        hub=HubConfig(kubeconfig=Path(state.kubeconfig), context="hub",
                      cache_dir=tmp_path / "cache"),
        http_port=port, leader_elect=False))
    stop = asyncio.Event()
    task = asyncio.create_task(proc.run(stop))
    try:
        deadline = time.monotonic() + 120
        while not (proc.hub is not None and proc.hub.ready.is_set()):
            if task.done():
                task.result()
                raise RuntimeError("the hub stopped before it was ready")
            assert time.monotonic() < deadline, "hub not ready after 120 s"
            await asyncio.sleep(0.2)
        yield port
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 180.0,
                     what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(1)
    raise AssertionError(f"{what} not reached in {timeout:.0f} s; last: {last!r}; "
                         f"copies seen: {SEEN}")


def upload_version(state: FleetState, prefix: str, tmp: Path, seed: int) -> None:
    """An ONNX model directory (weights, config, tokenizer) in the registry's bucket."""
    reg = registry_of(state)
    ep = state.store(reg.artifact_store).endpoint
    write_gemm_model(tmp / "model.onnx", seed=seed)
    files = {"model.onnx": (tmp / "model.onnx").read_bytes(),
             "config.json": json.dumps({"seed": seed}).encode(),
             "tokenizer/vocab.txt": b"a\nb\nc\n" * 100}
    s3 = s3_client(ep)
    for name, body in files.items():
        s3.put_object(Bucket=ep.bucket, Key=f"{prefix}/{name}", Body=body)


def artifact_store_ref(state: FleetState) -> dict[str, Any]:
    reg = registry_of(state)
    ep = state.store(reg.artifact_store).endpoint
    return {"name": f"{reg.artifact_store}-registry", "provider": "s3",
            "region": ep.region or "us-east-1", "bucket": ep.bucket, "prefix": "",
            "endpoint": ep.endpoint,
            "secretRef": {"name": f"fedctl-store-{reg.artifact_store}",
                          "namespace": "fedctl-system"}}


async def apply(hub_api: Any, plural: str, body: dict[str, Any]) -> None:
    await k8s.CustomObjectsApi(hub_api).create_namespaced_custom_object(
        G, V, body["metadata"]["namespace"], plural, body)


async def subscription(hub_api: Any, ns: str, name: str) -> dict[str, Any]:
    return dict(await k8s.CustomObjectsApi(hub_api).get_namespaced_custom_object(
        G, V, ns, "modelsubscriptions", name))


def isvc(ns: str, name: str, uri: str) -> dict[str, Any]:
    return {"apiVersion": ISVC[0], "kind": ISVC[1],
            "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"},
                                             "storageUri": uri}}}}


async def copy_uri(api: Any, ns: str, name: str) -> str | None:
    try:
        obj = await k8s.CustomObjectsApi(api).get_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", ns, "inferenceservices", name)
    except k8s.exceptions.ApiException as exc:
        SEEN[f"{ns}/{name}"] = f"HTTP {exc.status}"
        return None
    SEEN[f"{ns}/{name}"] = obj["spec"]
    return str(obj["spec"]["predictor"]["model"]["storageUri"])


@pytest.fixture
async def mlflow(fleet_state: FleetState) -> AsyncIterator[Mlflow]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield Mlflow(registry_of(fleet_state).url, session)


async def test_registry_version_is_staged_per_variant_and_switched(
        joined: FleetState, member_api: dict[str, Any], mlflow: Mlflow,
        tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    reg = registry_of(joined)
    bucket = joined.store(reg.artifact_store).endpoint.bucket
    model = f"fraud-{uuid.uuid4().hex[:6]}"
    for v in (1, 2):
        await asyncio.to_thread(upload_version, joined, f"origin/{model}/v{v}",
                                tmp_path / f"v{v}", v)
    await mlflow.call("POST", "registered-models/create", {"name": model})
    v1 = await mlflow.version(model, f"s3://{bucket}/origin/{model}/v1")
    await mlflow.alias(model, "production", v1)

    async with hub_process(joined, tmp_path) as port:
        ns = await namespace(hub_api)
        hook_secret = secrets.token_hex(16)
        await k8s.CoreV1Api(hub_api).create_namespaced_secret(ns, {
            "metadata": {"name": "mlflow-webhook"}, "stringData": {"secret": hook_secret}})
        doc = await mlflow.call("POST", "webhooks", {
            "name": f"{model}-hub",
            "url": f"http://127.0.0.1:{port}/webhooks/mlflow/{ns}/mlflow",
            "events": [{"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"}],
            "secret": hook_secret})
        hook = doc["webhook"]["webhook_id"]
        try:
            await apply(hub_api, "modelsources", {
                "apiVersion": f"{G}/{V}", "kind": "ModelSource",
                "metadata": {"name": "mlflow", "namespace": ns},
                "spec": {"mlflow": {"trackingUri": reg.url,
                                    "webhookSecretRef": {"name": "mlflow-webhook",
                                                         "key": "secret"},
                                    "artifactStore": artifact_store_ref(joined)},
                         # long enough that only the webhook can find version 2 in time
                         "pollIntervalSeconds": 3600}})
            await create_policy(hub_api, policy(
                ns, "fraud", {"clusterAffinity": {"clusterNames": ["member2", "member3"]},
                              "clusterTolerations": [{"key": "fedctl.dev/edge",
                                                      "operator": "Exists"}],
                              "replicaScheduling": {"type": "Duplicated"}},
                kinds=(ISVC,)))
            await apply(hub_api, "modelsubscriptions", {
                "apiVersion": f"{G}/{V}", "kind": "ModelSubscription",
                "metadata": {"name": "fraud", "namespace": ns},
                "spec": {"source": "mlflow", "model": model, "channel": "production",
                         "clusters": {"names": ["member2", "member3"]},
                         "workloads": [{"apiVersion": ISVC[0], "kind": ISVC[1],
                                        "name": "fraud"}],
                         "variants": [{"name": "int8", "match": {"edge": True},
                                       "build": {"converter": "onnx-int8",
                                                 "input": "model.onnx"}}]}})
            await k8s.CustomObjectsApi(hub_api).create_namespaced_custom_object(
                "serving.kserve.io", "v1beta1", ns, "inferenceservices",
                isvc(ns, "fraud", f"models:/{model}@production"))

            async def switched_to(v: str) -> dict[str, Any] | None:
                sub = await subscription(hub_api, ns, "fraud")
                st = sub.get("status") or {}
                return st if st.get("switchedVersion") == v else None

            st = await eventually(lambda: switched_to(v1), what=f"switch to {v1}")
            by = {c["cluster"]: c for c in st["clusters"]}
            assert (by["member2"]["variant"], by["member3"]["variant"]) == ("default", "int8")
            assert all(c["state"] == "Verified" for c in by.values())
            assert by["member2"]["uri"] == f"s3://models/{model}/{v1}"
            assert by["member3"]["uri"] == f"gs://models/{model}--int8/{v1}"
            # each member's store holds its variant, verified against its manifest
            s2 = open_store(config_from_endpoint(joined.store("s3-a").endpoint))
            s3 = open_store(config_from_endpoint(joined.store("gcs-a").endpoint))
            try:
                r2 = await asyncio.to_thread(verify_version, s2, model, v1, deep=True)
                r3 = await asyncio.to_thread(verify_version, s3, f"{model}--int8", v1,
                                             deep=True)
                assert r2.ok and r3.ok
                fp32 = await asyncio.to_thread(s2.read_bytes, f"{model}/{v1}/model.onnx")
                int8 = await asyncio.to_thread(s3.read_bytes,
                                               f"{model}--int8/{v1}/model.onnx")
                assert fp32 == (tmp_path / "v1" / "model.onnx").read_bytes()
                assert len(int8) < len(fp32)  # the INT8 build, not a copy
            finally:
                s2.close()
                s3.close()
            binds = await k8s.CustomObjectsApi(hub_api).list_namespaced_custom_object(
                G, V, ns, "resourcebindings")
            SEEN["bindings"] = [b.get("status") for b in binds["items"]]
            for member, uri in (("member2", by["member2"]["uri"]),
                                ("member3", by["member3"]["uri"])):
                await eventually(lambda m=member, u=uri: _is(copy_uri(member_api[m], ns,
                                                                      "fraud"), u),
                                 timeout=60, what=f"{member} copy on its mirror")

            # version 2 arrives by webhook (the poll interval is an hour)
            await asyncio.sleep(mlf.WEBHOOK_CACHE_TTL + 1)  # MLflow's webhook list cache
            v2 = await mlflow.version(model, f"s3://{bucket}/origin/{model}/v2")
            await mlflow.alias(model, "production", v2)
            st = await eventually(lambda: switched_to(v2), what=f"switch to {v2}")
            assert st["lastGoodVersion"] == v1
            await eventually(lambda: _is(copy_uri(member_api["member3"], ns, "fraud"),
                                         f"gs://models/{model}--int8/{v2}"),
                             what="member3 copy on version 2")
            src = await k8s.CustomObjectsApi(hub_api).get_namespaced_custom_object(
                G, V, ns, "modelsources", "mlflow")
            assert src["status"]["lastWebhookTime"]
        finally:
            await mlflow.call("DELETE", f"webhooks/{hook}")


async def _is(value: Awaitable[Any], want: Any) -> bool | str:
    got = await value
    return True if got == want else ""


SEEN: dict[str, Any] = {}


async def test_without_a_webhook_the_poll_finds_the_version(
        joined: FleetState, member_api: dict[str, Any], mlflow: Mlflow,
        tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    reg = registry_of(joined)
    bucket = joined.store(reg.artifact_store).endpoint.bucket
    model = f"poll-{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(upload_version, joined, f"origin/{model}/v1", tmp_path, 3)
    await mlflow.call("POST", "registered-models/create", {"name": model})
    async with hub_process(joined, tmp_path):
        ns = await namespace(hub_api)
        await apply(hub_api, "modelsources", {
            "apiVersion": f"{G}/{V}", "kind": "ModelSource",
            "metadata": {"name": "mlflow", "namespace": ns},
            "spec": {"mlflow": {"trackingUri": reg.url,
                                "artifactStore": artifact_store_ref(joined)},
                     "pollIntervalSeconds": 2}})
        await apply(hub_api, "modelsubscriptions", {
            "apiVersion": f"{G}/{V}", "kind": "ModelSubscription",
            "metadata": {"name": "poll", "namespace": ns},
            "spec": {"source": "mlflow", "model": model, "channel": "production",
                     "clusters": {"names": ["member2"]}}})

        async def status() -> dict[str, Any]:
            return dict((await subscription(hub_api, ns, "poll")).get("status") or {})

        # no alias yet: the registry says so, nothing is staged
        st = await eventually(lambda: _has_condition(status(), "SourceReachable", "False"),
                              what="SourceReachable=False")
        assert not st.get("switchedVersion")
        v1 = await mlflow.version(model, f"s3://{bucket}/origin/{model}/v1")
        await mlflow.alias(model, "production", v1)
        st = await eventually(lambda: _switched(status(), v1), what="poll picks v1 up")
        assert st["clusters"][0]["uri"] == f"s3://models/{model}/{v1}"

        # the CLI reads the same status
        def models(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "federation.cli.main", "models", *args, "-n", ns,
                 "--kubeconfig", joined.kubeconfig, "--context", "hub"],
                capture_output=True, text=True, timeout=120, check=False)

        listed = await asyncio.to_thread(models, "list")
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.splitlines()[1].split()[:7] == [
            ns, "poll", model, "production", v1, v1, "1/1"], listed.stdout
        got = await asyncio.to_thread(models, "get", "poll")
        assert ["member2", "s3-a", "default", v1, "Verified", v1,
                f"s3://models/{model}/{v1}"] in [ln.split() for ln in got.stdout.splitlines()]


async def _has_condition(status: Awaitable[dict[str, Any]], kind: str,
                         value: str) -> dict[str, Any] | None:
    st = await status
    ok = any(c.get("type") == kind and c.get("status") == value
             for c in st.get("conditions") or [])
    return st if ok else None


async def _switched(status: Awaitable[dict[str, Any]], version: str) -> dict[str, Any] | None:
    st = await status
    return st if st.get("switchedVersion") == version else None
