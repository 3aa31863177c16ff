"""ModelSync's ``Stager`` backed by ``federation.staging.worker.StagingWorker``.

The worker's calls block (the SDKs do), so a stage runs in a thread; its per-cluster
progress comes back to the event loop thread-safely. Workers are kept per concurrency
setting (``spec.concurrency``), so their per-source and per-region limits hold across every
subscription that shares them. A cancelled stage (the subscription was deleted, the hub
stops leading) stops reading the origin; copies already in flight finish or are abandoned
by the distributors' usual rules (nothing partial is ever published).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

from distributors.base import (
    DEFAULT_MEMORY_BUDGET,
    StoreConfig,
    TransferSettings,
    fit_memory,
)
from distributors.manifest import data_prefix
from distributors.sync import SyncOptions
from federation.hub.model_stores import StoreResolver
from federation.hub.model_sync import Progress, StageJob
from federation.staging.source import artifact_key
from federation.staging.worker import ClusterProgress, SourceSpec, StagingWorker


class WorkerStager:
    def __init__(self, stores: StoreResolver, scratch_dir: Path) -> None:
        self._stores = stores
        self._scratch = scratch_dir
        self._workers: dict[tuple[int, int], StagingWorker] = {}

    def _worker(self, per_source: int, per_region: int) -> StagingWorker:
        key = (per_source, per_region)
        if key not in self._workers:
            self._scratch.mkdir(parents=True, exist_ok=True)
            # the copies of up to per_source regions run at once: their buffers together
            # fit the default memory budget of a sync (distributors.base.fit_memory)
            settings = fit_memory(TransferSettings(parallel_syncs=per_source),
                                  DEFAULT_MEMORY_BUDGET)
            self._workers[key] = StagingWorker(
                scratch_dir=self._scratch, per_source=per_source, per_region=per_region,
                transfer_settings=settings,
                syncer_options=SyncOptions(transfers=settings.transfers))
        return self._workers[key]

    async def origin(self, job: StageJob) -> SourceSpec:
        """Where the version's files are read from."""
        src = job.source
        mlflow = src.spec.get("mlflow")
        if mlflow:
            cfg: StoreConfig = await self._stores.config(mlflow.get("artifactStore") or {},
                                                         src.namespace)
            return SourceSpec(store=cfg, prefix=artifact_key(cfg, job.info.source_uri))
        ref = (src.spec.get("objectStore") or {}).get("store") or {}
        cfg = await self._stores.config(ref, src.namespace)
        return SourceSpec(store=cfg, prefix=data_prefix(job.info.model, job.info.version))

    async def stage(self, job: StageJob, on_progress: Callable[[Progress], None]) -> None:
        source = await self.origin(job)
        loop = asyncio.get_running_loop()
        cancel = threading.Event()

        def report(p: ClusterProgress) -> None:
            loop.call_soon_threadsafe(on_progress, Progress(
                p.cluster, str(p.state), p.bytes_done, p.bytes_total, p.reason, p.message))

        worker = self._worker(job.plan.per_source, job.plan.per_region)
        run = asyncio.ensure_future(asyncio.to_thread(
            worker.stage, source, job.info.model, job.info.version, job.targets,
            job.plan.variants, report, cancel, keep=job.plan.keep,
            in_use=lambda cluster, _model: job.in_use.get(cluster, frozenset())))
        try:
            await asyncio.shield(run)
        except asyncio.CancelledError:
            cancel.set()
            raise
