"""Staging against the fleet's real stores: a registry-shaped prefix in MinIO staged to
MinIO (server-side), two fake-gcs-server stores in one region (one relay) and a disk,
verified; the registry's bucket read once per streamed region; a re-run copies nothing."""

from __future__ import annotations

import contextlib
import os
import threading
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from botocore.config import Config

from distributors.base import ReadStream, Store, StoreConfig
from distributors.store import TransferSettings, open_store
from distributors.sync import Syncer, SyncOptions
from distributors.verify import verify_version
from federation.cli.artifacts import config_from_endpoint
from federation.dev.localfleet import LocalFleet
from federation.staging.plan import ClusterFacts, plan_targets
from federation.staging.source import SourceView, artifact_key
from federation.staging.types import SubscriptionPlanInput
from federation.staging.worker import ClusterProgress, SourceSpec, StagingWorker, State

pytestmark = pytest.mark.integration
SMALL_PARTS = TransferSettings(multipart_threshold=5 * 1024 * 1024,
                               chunk_size=5 * 1024 * 1024, concurrency=4)


class Counting:
    """Delegates to a store; counts streamed reads of data keys."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.reads: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        if not key.startswith(".fedctl"):
            self.reads[key] += 1
        return self._inner.open_read(key, start, end)


def _mirror_bucket(s3: StoreConfig) -> None:
    client = boto3.session.Session().client(
        "s3", endpoint_url=s3.endpoint, aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key, region_name=s3.region,
        config=Config(s3={"addressing_style": "path"}))
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket="mirror")


def test_stage_to_real_stores(local_fleet: LocalFleet, tmp_path: Path) -> None:
    cfgs = {s.endpoint.name: config_from_endpoint(s.endpoint)
            for s in local_fleet.load().stores}
    s3, gcs, disk = cfgs["s3-a"], cfgs["gcs-a"], cfgs["disk-a"]
    _mirror_bucket(s3)
    run = uuid.uuid4().hex[:10]
    model = f"m-{run}"
    stores = {
        "c-s3": replace(s3, name="c-s3", bucket="mirror", prefix=f"stage-{run}", region="r1"),
        "c-gcs1": replace(gcs, name="c-gcs1", prefix=f"stage-{run}/a", region="r2"),
        "c-gcs2": replace(gcs, name="c-gcs2", prefix=f"stage-{run}/b", region="r2",
                          edge=True),
        "c-disk": replace(disk, name="c-disk", prefix=f"stage-{run}", region="r3"),
    }
    clusters = [ClusterFacts(f"cluster-{n}", {}, c.region, c.edge, frozenset(), (c,))
                for n, c in stores.items()]
    # The registry's files, as MLflow writes them (no manifest).
    files = {"MLmodel": b"flavors: {}\n", "model/weights.bin": os.urandom(11 * 1024 * 1024),
             "model/config.json": b"{}"}
    origin = Counting(open_store(s3, SMALL_PARTS))
    prefix = artifact_key(s3, f"s3://{s3.bucket}/reg-{run}/1/abc/artifacts/model")
    for rel, data in files.items():
        origin.write_bytes(f"{prefix}/{rel}", data)
    Syncer().source_manifest(SourceView(cast(Store, origin), prefix, model, "1"), model, "1")
    origin.reads.clear()

    def opener(cfg: StoreConfig) -> Store:
        return cast(Store, origin) if cfg.name == s3.name else open_store(cfg, SMALL_PARTS)

    targets, problems = plan_targets(SubscriptionPlanInput(model=model), clusters, "1")
    assert not problems
    worker = StagingWorker(scratch_dir=tmp_path / "scratch", open_store=opener,
                           syncer_options=SyncOptions(resume_dir=tmp_path / "journal"))
    seen: list[ClusterProgress] = []
    res = worker.stage(SourceSpec(s3, prefix), model, "1", targets, (), seen.append,
                       threading.Event())
    assert res.ok, res.clusters
    # r1 copies server-side inside MinIO; r2 (one relay, then a GCS rewrite) and r3 stream
    for rel in files:
        assert origin.reads[f"{prefix}/{rel}"] == 2, origin.reads
    for name, cfg in stores.items():
        store = open_store(cfg, SMALL_PARTS)
        report = verify_version(store, model, "1")
        assert report.ok, (name, report.problems)
        assert store.read_bytes(f"{model}/1/model/weights.bin") == files["model/weights.bin"]
        store.close()
    assert res.clusters["cluster-c-s3"].uri == f"s3://mirror/stage-{run}/{model}/1"
    assert res.clusters["cluster-c-gcs2"].uri == f"gs://{gcs.bucket}/stage-{run}/b/{model}/1"
    copying = [p for p in seen if p.cluster == "cluster-c-disk" and p.state is State.COPYING]
    assert copying and copying[0].bytes_total == sum(len(d) for d in files.values())
    # idempotent: a second run reads nothing from the registry and stays Verified
    origin.reads.clear()
    res = worker.stage(SourceSpec(s3, prefix), model, "1", targets, (), lambda p: None,
                       threading.Event())
    assert res.ok and sum(origin.reads.values()) == 0
    origin.close()
