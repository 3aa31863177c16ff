"""SIGKILL of the hub mid-staging: nothing partial is ever visible, and the restarted hub
finishes the staging without copying again what was already complete.

A real ``fedctl hub run`` process stages a version of a few hundred MiB of random data
from the fleet's MLflow registry (its MinIO artifact store) into member2's MinIO and the
edge member3's fake-gcs-server. While a cluster is Copying it is killed with SIGKILL; each
destination then holds the version's manifest only with every file it lists present and
verified. A second hub process reads the subscription's status back, finishes, verifies
both stores and switches the InferenceService copies to their mirrors; every object that
was complete at either store when the first hub died is still the same object (same
S3 LastModified, same GCS generation): it was not copied again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
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

from distributors import manifest as mf
from distributors.base import Store
from distributors.store import open_store
from distributors.sync import Syncer
from distributors.verify import verify_version
from federation.cli.artifacts import config_from_endpoint
from federation.dev.localfleet import FleetState
from tests.integration.hubkit import G, V, create_policy, namespace, policy
from tests.integration.test_model_distribution import (
    ISVC,
    apply,
    artifact_store_ref,
    copy_uri,
    isvc,
    subscription,
)
from tests.integration.test_registry_mlflow import Mlflow, registry_of, s3_client

MiB = 1024 * 1024
FILES = {f"weights/shard-{i}.bin": 96 * MiB for i in range(4)}  # 384 MiB in all
DESTS = {"member2": "s3-a", "member3": "gcs-a"}


@pytest.fixture
async def mlflow(fleet_state: FleetState) -> AsyncIterator[Mlflow]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield Mlflow(registry_of(fleet_state).url, session)


def start_hub(state: FleetState, tmp: Path, name: str) -> subprocess.Popen[bytes]:
    """``fedctl hub run`` alone (no lease). Both runs share the cache directory and the
    upload journal directory ($XDG_STATE_HOME), as a hub restarted on its machine does."""
    fedctl = Path(sys.executable).with_name("fedctl")
    cmd = [str(fedctl)] if fedctl.exists() else [sys.executable, "-m",
                                                  "federation.cli.main"]
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - owned by the process
    return subprocess.Popen(
        [*cmd, "--log-level", "info", "hub", "run", "--kubeconfig", state.kubeconfig,
         "--context", "hub", "--cache-dir", str(tmp / "cache"), "--http-port", "-1",
         "--no-leader-elect"],
        env={**os.environ, "XDG_STATE_HOME": str(tmp / "state")},
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def upload_big_version(state: FleetState, prefix: str) -> None:
    ep = state.store(registry_of(state).artifact_store).endpoint
    s3 = s3_client(ep)
    for name, size in FILES.items():
        s3.put_object(Bucket=ep.bucket, Key=f"{prefix}/{name}", Body=os.urandom(size))


def delete_prefix(state: FleetState, prefix: str) -> None:
    ep = state.store(registry_of(state).artifact_store).endpoint
    s3 = s3_client(ep)
    listed = s3.list_objects_v2(Bucket=ep.bucket, Prefix=prefix + "/")
    for obj in listed.get("Contents", []):
        s3.delete_object(Bucket=ep.bucket, Key=obj["Key"])


def snapshot(state: FleetState, store: Store, model: str, version: str) -> dict[str, str]:
    """Every data object of the version on ``store`` -> what changes when it is rewritten
    (S3: LastModified, which an identical rewrite changes while its ETag does not; GCS:
    the generation). Only complete objects are ever listed: S3 multipart and GCS
    resumable uploads show nothing until they are finished."""
    prefix = mf.data_prefix(model, version) + "/"
    metas = list(store.list(prefix))
    if store.provider != "s3":
        return {m.key: m.fingerprint for m in metas}
    ep = state.store(store.name).endpoint
    s3 = s3_client(ep)
    return {m.key: s3.head_object(Bucket=ep.bucket, Key=m.key)["LastModified"].isoformat()
            for m in metas}


def nothing_partial(store: Store, model: str, version: str) -> bool:
    """The version is either not published on ``store`` or complete and verified there;
    returns whether it is published."""
    if Syncer().read_manifest(store, model, version) is None:
        return False
    report = verify_version(store, model, version, deep=True)
    assert report.ok, f"{store.name}: published with problems: {report.problems}"
    return True


async def eventually(check: Callable[[], Awaitable[Any]], *, timeout: float,
                     interval: float = 1.0, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what} not reached in {timeout:.0f} s; last: {last!r}")


async def test_hub_killed_mid_staging_finishes_after_restart(
        joined: FleetState, member_api: dict[str, Any], mlflow: Mlflow,
        tmp_path: Path) -> None:
    hub_api = member_api["hub"]
    reg = registry_of(joined)
    bucket = joined.store(reg.artifact_store).endpoint.bucket
    model = f"big-{uuid.uuid4().hex[:6]}"
    origin = f"origin/{model}/v1"
    stores = {c: open_store(config_from_endpoint(joined.store(s).endpoint))
              for c, s in DESTS.items()}
    procs: list[subprocess.Popen[bytes]] = []
    version = ""
    try:
        await asyncio.to_thread(upload_big_version, joined, origin)
        await mlflow.call("POST", "registered-models/create", {"name": model})
        version = await mlflow.version(model, f"s3://{bucket}/{origin}")
        await mlflow.alias(model, "production", version)

        ns = await namespace(hub_api)
        await apply(hub_api, "modelsources", {
            "apiVersion": f"{G}/{V}", "kind": "ModelSource",
            "metadata": {"name": "mlflow", "namespace": ns},
            "spec": {"mlflow": {"trackingUri": reg.url,
                                "artifactStore": artifact_store_ref(joined)},
                     "pollIntervalSeconds": 2}})
        await create_policy(hub_api, policy(
            ns, "big", {"clusterAffinity": {"clusterNames": list(DESTS)},
                        "clusterTolerations": [{"key": "fedctl.dev/edge",
                                                "operator": "Exists"}],
                        "replicaScheduling": {"type": "Duplicated"}},
            kinds=(ISVC,)))
        await apply(hub_api, "modelsubscriptions", {
            "apiVersion": f"{G}/{V}", "kind": "ModelSubscription",
            "metadata": {"name": "big", "namespace": ns},
            "spec": {"source": "mlflow", "model": model, "channel": "production",
                     "clusters": {"names": list(DESTS)},
                     "workloads": [{"apiVersion": ISVC[0], "kind": ISVC[1],
                                    "name": "big"}]}})
        await k8s.CustomObjectsApi(hub_api).create_namespaced_custom_object(
            "serving.kserve.io", "v1beta1", ns, "inferenceservices",
            isvc(ns, "big", f"models:/{model}@production"))

        async def status() -> dict[str, Any]:
            return dict((await subscription(hub_api, ns, "big")).get("status") or {})

        async def mid_copy() -> dict[str, Any] | None:
            for c in (await status()).get("clusters") or []:
                if c.get("state") == "Copying" and \
                        0 < int(c.get("bytesDone") or 0) < int(c.get("bytesTotal") or 0):
                    return dict(c)
            return None

        first = start_hub(joined, tmp_path, "first")
        procs.append(first)
        try:
            copying = await eventually(mid_copy, timeout=180, interval=0.2,
                                       what="a cluster Copying with bytes done")
        finally:
            first.send_signal(signal.SIGKILL)  # mid-copy: no clean shutdown
            first.wait(10)
        killed = await status()
        assert first.returncode == -signal.SIGKILL, (first.returncode, copying)

        # nothing partial: a manifest only with every file it lists there and verified
        published = {c: await asyncio.to_thread(nothing_partial, s, model, version)
                     for c, s in stores.items()}
        assert not all(published.values()), \
            f"staging was already complete when the hub was killed: {killed}"
        before = {c: await asyncio.to_thread(snapshot, joined, s, model, version)
                  for c, s in stores.items()}
        # a cluster's bytesDone grows only when a whole file is stored there, so the
        # cluster seen mid-copy holds at least one complete object the restart must keep
        assert before[copying["cluster"]], (copying, before)

        second = start_hub(joined, tmp_path, "second")
        procs.append(second)

        async def finished() -> dict[str, Any] | None:
            assert second.poll() is None, f"second hub exited {second.returncode}"
            st = await status()
            done = st.get("switchedVersion") == version and all(
                c.get("state") == "Verified" for c in st.get("clusters") or [])
            return st if done else None

        st = await eventually(finished, timeout=300, what=f"switch to {version}")
        by = {c["cluster"]: c for c in st["clusters"]}
        assert set(by) == set(DESTS)
        assert by["member2"]["uri"] == f"s3://models/{model}/{version}"
        assert by["member3"]["uri"] == f"gs://models/{model}/{version}"
        for c, s in stores.items():
            report = await asyncio.to_thread(verify_version, s, model, version, deep=True)
            assert report.ok, f"{c}: {report.problems}"
            assert sorted(f.path for f in report.manifest.files) == sorted(FILES)
        for member in DESTS:
            await eventually(_on_mirror(member_api[member], ns, by[member]["uri"]),
                             timeout=60, what=f"{member} copy on its mirror")

        # nothing complete at the kill was copied again
        after = {c: await asyncio.to_thread(snapshot, joined, s, model, version)
                 for c, s in stores.items()}
        for c, objs in before.items():
            for key, mark in objs.items():
                assert after[c].get(key) == mark, \
                    f"{c}: {key} was rewritten after the restart ({mark} -> " \
                    f"{after[c].get(key)}); at the kill: {killed}; published: {published}"
    finally:
        for p in procs:
            stop(p)
        await asyncio.to_thread(delete_prefix, joined, origin)
        for s in stores.values():
            if version:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(Syncer().delete_version, s, model, version)
            s.close()


def _on_mirror(api: Any, ns: str, uri: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await copy_uri(api, ns, "big") == uri

    return check
