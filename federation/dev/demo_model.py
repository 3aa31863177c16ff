"""The demo's model part: a version registered in the fleet's MLflow reaches every cluster.

After the workload landings, ``fedctl dev demo`` writes a small ONNX model (a MatMul + Add
made with ``onnx.helper``, a few KiB), uploads it to the registry's artifact bucket,
registers it as a version of ``fraud-detector`` in the fleet's MLflow and puts the
``production`` alias on it. It then applies ``policies/examples/model-subscription.yaml``
with the local fleet's registry URL and store endpoint filled in, without the webhook (the
in-process hub serves no HTTP) and with ``pollIntervalSeconds: 2``, and waits until the hub
has staged the version in every subscribed cluster's store (the edge sites get the
onnx-int8 build) and switched. Then it registers a second version, moves the alias and
waits for that switch too. Each step returns the subscription as the hub left it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from federation.dev.localfleet import FleetState
from federation.dev.objectstores import StoreEndpoint
from federation.errors import FleetError
from policies.models import GROUP, VERSION

EXAMPLE = Path(__file__).resolve().parents[2] / "policies" / "examples" / \
    "model-subscription.yaml"
POLL_SECONDS = 2  # the in-process hub has no webhook endpoint: the poll finds versions
ALIAS = "production"
API = "/api/2.0/mlflow"
PREFIX = "demo-origin"  # where the demo's versions live in the registry's bucket


@dataclass(frozen=True, slots=True)
class ModelStep:
    """One registered version and the subscription once it was switched (or timed out)."""

    title: str
    version: str
    subscription: dict[str, Any]
    switched: bool


# ---- pure ---------------------------------------------------------------------------------
def example_model_documents(root: Path = EXAMPLE) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ModelSource, ModelSubscription) of the example file."""
    docs = [d for d in yaml.safe_load_all(root.read_text()) if d]
    by_kind = {d["kind"]: d for d in docs}
    return by_kind["ModelSource"], by_kind["ModelSubscription"]


def for_local_fleet(source: Mapping[str, Any], tracking_uri: str, store: StoreEndpoint,
                    poll_seconds: int = POLL_SECONDS) -> dict[str, Any]:
    """The example ModelSource pointed at the local fleet's registry: its URL, its artifact
    store's endpoint (both chosen when the fleet started) and the Secret ``clusters join``
    wrote for that store; no webhook, a short poll."""
    doc = copy.deepcopy(dict(source))
    spec = doc["spec"]
    spec["mlflow"] = {
        "trackingUri": tracking_uri,
        "artifactStore": {
            "name": f"{store.name}-registry", "provider": store.provider,
            "region": store.region or "us-east-1", "bucket": store.bucket, "prefix": "",
            "endpoint": store.endpoint,
            "secretRef": {"name": f"fedctl-store-{store.name}", "namespace": "fedctl-system"}},
    }
    spec["pollIntervalSeconds"] = poll_seconds
    return doc


def onnx_model_bytes(seed: int) -> bytes:
    """A small FP32 ONNX model: y = x @ w + b with a 64x32 weight (about 9 KiB)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w = rng.standard_normal((64, 32)).astype(np.float32)
    b = rng.standard_normal((32,)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]),
         helper.make_node("Add", ["h", "b"], ["y"])],
        "fraud",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 32])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def version_files(seed: int) -> dict[str, bytes]:
    return {"model.onnx": onnx_model_bytes(seed),
            "config.json": json.dumps({"seed": seed, "inputs": 64, "outputs": 32}).encode()}


def switched_to(sub: Mapping[str, Any], version: str) -> bool:
    return bool((sub.get("status") or {}).get("switchedVersion") == version)


# ---- I/O ----------------------------------------------------------------------------------
def upload(store: StoreEndpoint, prefix: str, files: Mapping[str, bytes]) -> str:
    """Put ``files`` under ``prefix`` in the store's bucket; the version's source URI."""
    import boto3
    from botocore.config import Config

    s3 = boto3.session.Session().client(
        "s3", endpoint_url=store.endpoint, aws_access_key_id=store.access_key,
        aws_secret_access_key=store.secret_key, region_name=store.region or "us-east-1",
        config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=30))
    for name, body in files.items():
        s3.put_object(Bucket=store.bucket, Key=f"{prefix}/{name}", Body=body)
    return f"s3://{store.bucket}/{prefix}"


class Registry:
    """The few MLflow REST calls a data scientist's client makes."""

    def __init__(self, url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.session = url, session

    async def _call(self, endpoint: str, body: dict[str, Any],
                    ok: tuple[str, ...] = ()) -> dict[str, Any]:
        async with self.session.post(f"{self.url}{API}/{endpoint}", json=body) as resp:
            doc: dict[str, Any] = await resp.json(content_type=None)
            if resp.status != 200 and doc.get("error_code") not in ok:
                raise FleetError(f"MLflow {self.url}: POST {endpoint} answered HTTP "
                                 f"{resp.status}: {doc.get('message') or doc}",
                                 hint="`fedctl dev status` shows the registry's state")
            return doc

    async def register(self, model: str, source: str) -> str:
        """A new version of ``model`` (created if needed) from ``source``; its number."""
        await self._call("registered-models/create", {"name": model},
                         ok=("RESOURCE_ALREADY_EXISTS",))
        doc = await self._call("model-versions/create", {"name": model, "source": source})
        return str(doc["model_version"]["version"])

    async def alias(self, model: str, alias: str, version: str) -> None:
        await self._call("registered-models/alias",
                         {"name": model, "alias": alias, "version": version})


async def _subscription(hub_api: Any, ns: str, name: str) -> dict[str, Any]:
    try:
        return dict(await k8s.CustomObjectsApi(hub_api).get_namespaced_custom_object(
            GROUP, VERSION, ns, "modelsubscriptions", name))
    except ApiException as exc:
        if exc.status == 404:
            return {}
        raise


async def wait_switched(hub_api: Any, ns: str, name: str, version: str,
                        timeout: float) -> tuple[dict[str, Any], bool]:
    """The subscription once the hub switched it to ``version``, or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        sub = await _subscription(hub_api, ns, name)
        if switched_to(sub, version) or time.monotonic() >= deadline:
            return sub, switched_to(sub, version)
        await asyncio.sleep(1)


async def run_model_demo(hub_api: Any, state: FleetState,
                         apply: Callable[[dict[str, Any]], Awaitable[None]],
                         timeout: float = 120.0) -> list[ModelStep]:
    """Version 1 on the alias, subscribed and switched; then version 2 and its switch."""
    if state.registry is None:
        raise FleetError("the local fleet runs no model registry",
                         hint="declare modelRegistry in the fleet file "
                              "(clusters.example.yaml does)")
    reg = state.registry
    store = state.store(reg.artifact_store).endpoint
    source, sub = example_model_documents()
    model = str(sub["spec"]["model"])
    ns, name = str(sub["metadata"]["namespace"]), str(sub["metadata"]["name"])
    steps: list[ModelStep] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        registry = Registry(reg.url, session)
        for seed in (1, 2):
            uri = await asyncio.to_thread(upload, store, f"{PREFIX}/{model}/{uuid.uuid4().hex}",
                                          version_files(seed))
            version = await registry.register(model, uri)
            await registry.alias(model, ALIAS, version)
            if seed == 1:
                await apply(for_local_fleet(source, reg.url, store))
                await apply(sub)
            got, ok = await wait_switched(hub_api, ns, name, version, timeout)
            what = (f"with alias @{ALIAS}; ModelSource {ns}/{source['metadata']['name']} and "
                    f"ModelSubscription {ns}/{name} applied" if seed == 1
                    else f"alias @{ALIAS} moved to it")
            steps.append(ModelStep(f"{model} version {version} registered in MLflow, {what}",
                                   version, got, ok))
            if not ok:
                break
    return steps
