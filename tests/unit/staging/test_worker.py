"""The staging worker over directory stores (FileStore) in tmp dirs."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import onnx
import pytest

from distributors import manifest as mf
from distributors.base import ObjectMeta, ReadStream, Store, StoreConfig
from distributors.errors import ObjectNotFound, StoreError, StoreUnreachable
from distributors.localfs import FileStore
from distributors.sync import Syncer, SyncOptions
from federation.staging.plan import ClusterFacts, StageTarget, plan_targets
from federation.staging.source import SourceView
from federation.staging.types import (
    SubscriptionPlanInput,
    VariantBuild,
    VariantMatch,
    VariantRule,
)
from federation.staging.worker import ClusterProgress, SourceSpec, StagingWorker, State
from tests.unit.staging.onnx_models import write_gemm_model

PREFIX = "1/abc/artifacts/model"
FILES = {"MLmodel": b"flavors: onnx\n", "weights/a.bin": b"a" * 300_000,
         "weights/b.bin": b"b" * 200_000}


class OriginStore(FileStore):
    """The registry's bucket: counts data reads, copies only by streaming (no shared
    copy domain), and can hide a file (deleted after listing)."""

    def __init__(self, cfg: StoreConfig) -> None:
        super().__init__(cfg)
        self.reads: Counter[str] = Counter()
        self.gone: set[str] = set()
        self.on_read: Callable[[str], None] = lambda key: None

    @property
    def copy_domain(self) -> str | None:
        return None

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None:
        return None if key in self.gone else super().stat(key, checksum=checksum)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        if key in self.gone:
            raise ObjectNotFound(self.name, f"{key}: no such object")
        if not key.startswith(".fedctl"):
            self.reads[key] += 1
            self.on_read(key)
        return super().open_read(key, start, end)


class FaultyStore(FileStore):
    """A cluster store whose writes of ``fail_on`` keys fail until ``heal()``."""

    def __init__(self, cfg: StoreConfig, fail_on: str) -> None:
        super().__init__(cfg)
        self.fail_on, self.failing = fail_on, True

    def _maybe_fail(self, key: str) -> None:
        if self.failing and key.endswith(self.fail_on):
            raise StoreError(self.name, f"{key}: disk full")

    def write(self, key: str, stream: BinaryIO, size: int, crc32c: str) -> ObjectMeta:
        self._maybe_fail(key)
        return super().write(key, stream, size, crc32c)

    def copy_from(self, source: Store, src_key: str, key: str, size: int,
                  crc32c: str) -> ObjectMeta:
        self._maybe_fail(key)
        return super().copy_from(source, src_key, key, size, crc32c)


class DownStore(FileStore):
    """A cluster store whose endpoint does not answer until ``up`` is set."""

    up = False

    def _check(self) -> None:
        if not self.up:
            raise StoreUnreachable(self.name, "connection refused")

    def list(self, prefix: str) -> Iterator[ObjectMeta]:
        self._check()
        return super().list(prefix)

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None:
        self._check()
        return super().stat(key, checksum=checksum)

    def read_bytes(self, key: str) -> bytes:
        self._check()
        return super().read_bytes(key)


class Fleet:
    def __init__(self, tmp: Path, extra_files: dict[str, bytes] | None = None) -> None:
        self.tmp = tmp
        reg = tmp / "mlflow"
        for rel, data in {**FILES, **(extra_files or {})}.items():
            (reg / PREFIX / rel).parent.mkdir(parents=True, exist_ok=True)
            (reg / PREFIX / rel).write_bytes(data)
        self.source_cfg = StoreConfig("mlflow", "file", region="eu", root=str(reg))
        self.origin = OriginStore(self.source_cfg)
        self.overrides: dict[str, Store] = {"mlflow": self.origin}
        self.clusters: list[ClusterFacts] = []
        for name, region, edge in [("eu-1", "eu", False), ("eu-2", "eu", True),
                                   ("us-1", "us", False), ("us-2", "us", True),
                                   ("ap-1", "ap", True)]:
            (tmp / name).mkdir()
            cfg = StoreConfig(f"{name}-store", "file", region=region, root=str(tmp / name),
                              edge=edge)
            self.clusters.append(ClusterFacts(name, {"region": region}, region, edge,
                                              frozenset() if edge else frozenset({"L4"}),
                                              (cfg,)))

    def open(self, cfg: StoreConfig) -> Store:
        return self.overrides.get(cfg.name) or FileStore(cfg)

    def worker(self, retries: int = 5, **kw: object) -> StagingWorker:
        opts = SyncOptions(resume_dir=self.tmp / "journal", retries=retries,
                           retry_wait_max=0.01)
        return StagingWorker(scratch_dir=self.tmp / "scratch", open_store=self.open,
                             syncer_options=opts, **kw)  # type: ignore[arg-type]

    def targets(self, version: str = "1", variants: tuple[VariantRule, ...] = ()
                ) -> tuple[StageTarget, ...]:
        spec = SubscriptionPlanInput(model="fraud", variants=variants)
        targets, problems = plan_targets(spec, self.clusters, version)
        assert not problems
        return targets

    def stage(self, worker: StagingWorker, version: str = "1",
              variants: tuple[VariantRule, ...] = (), cancel: threading.Event | None = None,
              **kw: object) -> tuple[list[ClusterProgress], dict[str, ClusterProgress]]:
        seen: list[ClusterProgress] = []
        res = worker.stage(SourceSpec(self.source_cfg, PREFIX), "fraud", version,
                           self.targets(version, variants), variants, seen.append,
                           cancel or threading.Event(), **kw)  # type: ignore[arg-type]
        return seen, res.clusters

    def held(self, cluster: str, model: str = "fraud", version: str = "1") -> bytes | None:
        root = self.tmp / cluster
        p = root / mf.manifest_key(model, version)
        return p.read_bytes() if p.exists() else None


def seal(fleet: Fleet) -> None:
    Syncer(SyncOptions(resume_dir=fleet.tmp / "journal")).source_manifest(
        SourceView(fleet.origin, PREFIX, "fraud", "1"), "fraud", "1")
    fleet.origin.reads.clear()


def test_fans_out_across_regions_reading_the_origin_once_per_region(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    seal(fleet)
    seen, final = fleet.stage(fleet.worker())
    assert {c: p.state for c, p in final.items()} == {c.name: State.VERIFIED
                                                     for c in fleet.clusters}
    for rel, data in FILES.items():
        for c in fleet.clusters:
            assert (tmp_path / c.name / "fraud" / "1" / rel).read_bytes() == data
        # three regions: one streamed read of each file per region
        assert fleet.origin.reads[f"{PREFIX}/{rel}"] == 3
    total = sum(len(d) for d in FILES.values())
    assert final["us-2"].bytes_done == final["us-2"].bytes_total == total
    assert final["eu-1"].uri == f"file://{tmp_path}/eu-1/fraud/1"
    states = [p.state for p in seen if p.cluster == "us-2"]
    assert states[0] is State.PENDING and State.COPYING in states
    assert states[-1] is State.VERIFIED
    # the registry's own files are untouched: metadata lives under .fedctl-staging
    assert not (tmp_path / "mlflow" / ".fedctl").exists()
    assert (tmp_path / "mlflow" / ".fedctl-staging" / mf.manifest_key("fraud", "1")).exists()


def test_rerun_after_a_failure_copies_only_what_is_missing(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    us2 = next(c for c in fleet.clusters if c.name == "us-2")
    faulty = FaultyStore(us2.stores[0], fail_on="b.bin")
    fleet.overrides[us2.stores[0].name] = faulty
    seal(fleet)
    _, final = fleet.stage(fleet.worker())
    assert final["us-2"].state is State.FAILED
    assert final["us-2"].reason == "CopyFailed" and "disk full" in final["us-2"].message
    assert fleet.held("us-2") is None  # never published partially
    assert (tmp_path / "us-2" / "fraud/1/weights/a.bin").exists()
    assert final["us-1"].state is State.VERIFIED
    faulty.failing = False
    fleet.origin.reads.clear()
    _, final = fleet.stage(fleet.worker())
    assert all(p.state is State.VERIFIED for p in final.values())
    assert fleet.held("us-2") == fleet.held("eu-1")
    assert sum(fleet.origin.reads.values()) == 0  # the relays already had everything


def test_unreachable_store_fails_then_finishes_on_a_later_run(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    us2 = next(c for c in fleet.clusters if c.name == "us-2")
    down = DownStore(us2.stores[0])
    fleet.overrides[us2.stores[0].name] = down
    _, final = fleet.stage(fleet.worker(retries=2))
    assert final["us-2"].state is State.FAILED
    assert final["us-2"].reason == "StoreUnreachable"
    assert "connection refused" in final["us-2"].message
    assert final["us-1"].state is State.VERIFIED
    down.up = True
    fleet.origin.reads.clear()
    _, final = fleet.stage(fleet.worker())
    assert final["us-2"].state is State.VERIFIED
    assert sum(fleet.origin.reads.values()) == 0


def test_a_file_missing_from_the_source_fails_with_its_path(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    seal(fleet)
    fleet.origin.gone.add(f"{PREFIX}/weights/b.bin")
    _, final = fleet.stage(fleet.worker())
    for c in ("eu-1", "eu-2", "ap-1"):
        assert final[c].state is State.FAILED
        assert final[c].reason == "MissingFile"
        assert "weights/b.bin: missing from the source of fraud/1" in final[c].message
        assert fleet.held(c) is None
    assert "via relay eu-1-store" in final["eu-2"].message


def test_unreadable_source_fails_every_cluster(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    spec = SourceSpec(fleet.source_cfg, "1/nope")
    res = fleet.worker().stage(spec, "fraud", "1", fleet.targets(), (), lambda p: None,
                               threading.Event())
    assert {p.reason for p in res.clusters.values()} == {"SourceError"}
    assert "no model version fraud/1" in res.clusters["eu-1"].message


@pytest.mark.parametrize(("sub_path", "message"), [
    ("nope", "no model version fraud--cpu/1"),
    ("../x", "escapes its prefix"),
])
def test_bad_sub_path_fails_that_variant(tmp_path: Path, sub_path: str,
                                         message: str) -> None:
    fleet = Fleet(tmp_path)
    variants = (VariantRule("cpu", VariantMatch(cpu_only=True), sub_path=sub_path),)
    _, final = fleet.stage(fleet.worker(), variants=variants)
    for c in ("eu-2", "us-2", "ap-1"):
        assert final[c].state is State.FAILED and final[c].reason == "SourceError"
        assert message in final[c].message
    assert final["eu-1"].state is State.VERIFIED


def test_cancelled_before_copying(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    cancel = threading.Event()
    cancel.set()
    _, final = fleet.stage(fleet.worker(), cancel=cancel)
    assert {p.reason for p in final.values()} == {"Cancelled"}
    assert all(fleet.held(c.name) is None for c in fleet.clusters)


def test_cancelled_mid_copy_publishes_nothing(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    seal(fleet)
    cancel = threading.Event()
    fleet.origin.on_read = lambda key: cancel.set()
    worker = StagingWorker(scratch_dir=tmp_path / "s", open_store=fleet.open,
                           per_source=1, syncer_options=SyncOptions(
                               transfers=1, resume_dir=tmp_path / "j"))
    _, final = fleet.stage(worker, cancel=cancel)
    assert {p.state for p in final.values()} == {State.FAILED}
    assert {p.reason for p in final.values()} == {"Cancelled"}
    assert all(fleet.held(c.name) is None for c in fleet.clusters)
    assert sum(fleet.origin.reads.values()) == 1  # the read in flight; no other started


def test_retention_keeps_newest_and_versions_in_use(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    worker = fleet.worker()
    reg = tmp_path / "mlflow"
    for v in ("1", "2", "3"):
        (reg / PREFIX / "MLmodel").write_bytes(f"v{v}".encode())
        _, final = fleet.stage(worker, version=v, keep=1,
                               in_use=lambda cluster, model: {"1"} if cluster == "eu-1"
                               else set())
        assert all(p.state is State.VERIFIED for p in final.values())
    assert fleet.held("eu-1", version="1") is not None  # in use on eu-1
    assert fleet.held("eu-1", version="2") is None
    assert fleet.held("us-1", version="1") is None and fleet.held("us-1", version="2") is None
    assert fleet.held("us-1", version="3") is not None
    assert not (tmp_path / "us-1" / "fraud" / "2").exists()


def test_edge_variant_is_built_once_and_staged(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    write_gemm_model(tmp_path / "mlflow" / PREFIX / "model.onnx")
    variants = (VariantRule("int8", VariantMatch(edge=True),
                            build=VariantBuild("onnx-int8", "model.onnx")),)
    worker = fleet.worker()
    seen: list[ClusterProgress] = []
    spec = SourceSpec(fleet.source_cfg, PREFIX)
    res = worker.stage(spec, "fraud", "1", fleet.targets("1", variants), variants,
                       seen.append, threading.Event())
    assert res.ok and res.built == ["int8"]
    q = tmp_path / "us-2" / "fraud--int8" / "1" / "model.onnx"
    types = {i.data_type for i in onnx.load(str(q)).graph.initializer}
    assert onnx.TensorProto.INT8 in types
    assert [p.name for p in (tmp_path / "us-2" / "fraud--int8" / "1").iterdir()] == \
        ["model.onnx"]
    assert (tmp_path / "us-1" / "fraud" / "1" / "weights" / "a.bin").exists()
    assert res.clusters["ap-1"].uri.endswith("/fraud--int8/1")
    build = tmp_path / "mlflow" / ".fedctl-staging" / "builds"
    assert (build / mf.manifest_key("fraud--int8", "1")).exists()
    res = worker.stage(spec, "fraud", "1", fleet.targets("1", variants), variants,
                       seen.append, threading.Event())
    assert res.ok and res.built == []


@pytest.mark.parametrize(("build", "reason", "message"), [
    (VariantBuild("onnx-int8", "missing.onnx"), "MissingFile",
     "build input missing.onnx is not in version 1"),
    (VariantBuild("tensorrt", "model.onnx"), "BuildFailed", "unknown converter 'tensorrt'"),
    (VariantBuild("onnx-int8", "MLmodel"), "BuildFailed", "quantizing 'MLmodel' failed"),
])
def test_build_failures_fail_only_that_variant(tmp_path: Path, build: VariantBuild,
                                               reason: str, message: str) -> None:
    fleet = Fleet(tmp_path)
    variants = (VariantRule("int8", VariantMatch(edge=True), build=build),)
    _, final = fleet.stage(fleet.worker(), variants=variants)
    for c in ("eu-2", "us-2", "ap-1"):
        assert final[c].state is State.FAILED and final[c].reason == reason
        assert message in final[c].message
    assert final["eu-1"].state is State.VERIFIED


def test_per_region_limit_bounds_concurrent_copies(tmp_path: Path) -> None:
    fleet = Fleet(tmp_path)
    live: Counter[str] = Counter()
    peak = [0]
    lock = threading.Lock()
    opened: Callable[[StoreConfig], Store] = fleet.open

    class Slow(FileStore):
        def write(self, key: str, stream: BinaryIO, size: int, crc32c: str) -> ObjectMeta:
            with lock:
                live["n"] += 1
                peak[0] = max(peak[0], live["n"])
            try:
                return super().write(key, stream, size, crc32c)
            finally:
                with lock:
                    live["n"] -= 1

    fleet.overrides.update({c.stores[0].name: Slow(c.stores[0]) for c in fleet.clusters})
    worker = StagingWorker(scratch_dir=tmp_path / "s", open_store=opened, per_source=1,
                           syncer_options=SyncOptions(transfers=1,
                                                      resume_dir=tmp_path / "j"))
    _, final = fleet.stage(worker)
    assert all(p.state is State.VERIFIED for p in final.values())
    assert peak[0] == 1  # one region at a time from the origin, one file at a time
