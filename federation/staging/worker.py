"""The staging worker (blocking; the hub runs it in a thread).

``StagingWorker.stage`` stages one model version on its targets:

1. each variant that names a build is built once per version (download the version or its
   subPath from the source, run the converter in a scratch directory, upload the result as
   ``<model>--<variant>/<version>`` into the build store and seal it);
2. each variant's origin (the registry's files through a read-only ``SourceView``, or the
   build) is sealed, then fanned out with ``Syncer.fanout`` one region at a time: origin ->
   one relay per region -> the region's other stores, verified, published only complete.
   A (variant, region) copy holds a per-source and a per-region semaphore;
3. per-cluster progress (Pending, Copying bytes done/total, Verified, Failed with a reason)
   goes to a callback; a re-run after a crash skips verified files (manifests, receipts and
   resumable uploads of the distributors);
4. retention keeps the newest ``keep`` versions per cluster store, never one in use.

Cancelling stops reading the origin (copies in flight fail, nothing partial is published)
and starts no further region.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from distributors import manifest as mf
from distributors.base import Store, StoreConfig, TransferSettings
from distributors.checksums import Digest
from distributors.errors import ManifestError, StoreError, StoreUnreachable
from distributors.store import open_store
from distributors.sync import StoreResult, Syncer, SyncOptions
from federation.errors import FedctlError
from federation.staging.converters import BuildFailed, Converter, default_converters
from federation.staging.plan import StageTarget, staged_name, variant_rule
from federation.staging.source import (
    DEFAULT_META_PREFIX,
    Cancelled,
    PrefixView,
    SourceView,
)
from federation.staging.types import VariantRule

log = logging.getLogger(__name__)
_BUF = 1024 * 1024


class State(StrEnum):
    PENDING = "Pending"
    COPYING = "Copying"
    VERIFIED = "Verified"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class ClusterProgress:
    cluster: str
    store: str
    variant: str
    version: str
    state: State
    bytes_done: int = 0
    bytes_total: int = 0
    reason: str = ""  # Failed: MissingFile | StoreUnreachable | BuildFailed | SourceError ...
    message: str = ""
    uri: str = ""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """Where the version's files are: ``prefix`` is the key of its artifact directory
    relative to ``store``'s root (``source.artifact_key``)."""

    store: StoreConfig
    prefix: str
    meta_prefix: str = DEFAULT_META_PREFIX


@dataclass
class StageResult:
    clusters: dict[str, ClusterProgress] = field(default_factory=dict)
    built: list[str] = field(default_factory=list)  # variants built by this run
    deleted: dict[str, list[str]] = field(default_factory=dict)  # store/model -> versions

    @property
    def ok(self) -> bool:
        return all(p.state is State.VERIFIED for p in self.clusters.values())


InUse = Callable[[str, str], Collection[str]]  # (cluster, staged model) -> versions in use


class _Failure(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


class _Board:
    """Per-cluster progress, reported through the callback (serialised)."""

    def __init__(self, targets: Sequence[StageTarget],
                 on_progress: Callable[[ClusterProgress], None]) -> None:
        self._lock = threading.Lock()
        self._cb = on_progress
        self.state = {t.cluster: ClusterProgress(t.cluster, t.store.name, t.variant, t.version,
                                                 State.PENDING, uri=t.uri) for t in targets}

    def update(self, clusters: Iterable[str], **changes: Any) -> None:
        with self._lock:
            for c in clusters:
                old = self.state[c]
                if old.state in (State.VERIFIED, State.FAILED) and "state" not in changes:
                    continue
                new = replace(old, **changes)
                new = replace(new, bytes_done=min(new.bytes_done, new.bytes_total)
                              if new.bytes_total else new.bytes_done)
                self.state[c] = new
                self._cb(new)

    def add_bytes(self, clusters: Iterable[str], n: int) -> None:
        with self._lock:
            for c in clusters:
                old = self.state[c]
                if old.state is not State.COPYING:
                    continue
                new = replace(old, bytes_done=min(old.bytes_total, old.bytes_done + n))
                self.state[c] = new
                self._cb(new)

    def report_all(self) -> None:
        with self._lock:
            for p in self.state.values():
                self._cb(p)


class _Router:
    """Syncer events -> per-cluster progress; remembers failed paths per store."""

    def __init__(self, board: _Board, clusters_of: Mapping[str, list[str]],
                 stores: Mapping[str, Store], total: int) -> None:
        self.board, self.clusters_of, self.total = board, clusters_of, total
        self.stores = stores
        self.failed_paths: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def emit(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        clusters = self.clusters_of.get(str(event.get("store", "")), [])
        if kind == "plan" and clusters:
            done = max(0, self.total - int(event["copy_bytes"]))
            self.board.update(clusters, state=State.COPYING, bytes_total=self.total,
                              bytes_done=done)
        elif kind == "file" and clusters and event.get("bytes"):
            self.board.add_bytes(clusters, int(event["bytes"]))
        elif kind == "failed" and event.get("path"):
            with self._lock:
                self.failed_paths.setdefault(str(event["store"]), []).append(
                    str(event["path"]))


class StagingWorker:
    def __init__(self, *, scratch_dir: Path, syncer_options: SyncOptions | None = None,
                 transfer_settings: TransferSettings | None = None, per_source: int = 4,
                 per_region: int = 2, converters: Mapping[str, Converter] | None = None,
                 build_store: StoreConfig | None = None,
                 open_store: Callable[[StoreConfig], Store] | None = None) -> None:
        if per_source < 1 or per_region < 1:
            raise ValueError("per_source and per_region must be >= 1")
        self.scratch_dir = scratch_dir
        self.options = syncer_options or SyncOptions()
        self.settings = transfer_settings or TransferSettings()
        self.per_source, self.per_region = per_source, per_region
        self.converters = dict(converters) if converters is not None \
            else dict(default_converters())
        self.build_store = build_store
        self._open = open_store or (lambda cfg: _open(cfg, self.settings))
        self._lock = threading.Lock()
        self._source_sems: dict[str, threading.Semaphore] = {}
        self._region_sems: dict[str, threading.Semaphore] = {}
        self._build_locks: dict[tuple[str, str], threading.Lock] = {}

    # ---- limits ------------------------------------------------------------------------
    def _sem(self, table: dict[str, threading.Semaphore], key: str,
             n: int) -> threading.Semaphore:
        with self._lock:
            return table.setdefault(key, threading.Semaphore(n))

    def _build_lock(self, key: tuple[str, str]) -> threading.Lock:
        with self._lock:
            return self._build_locks.setdefault(key, threading.Lock())

    # ---- the run -----------------------------------------------------------------------
    def stage(self, source: SourceSpec, model: str, version: str,
              targets: Sequence[StageTarget], variants: Sequence[VariantRule],
              on_progress: Callable[[ClusterProgress], None], cancel: threading.Event,
              *, keep: int | None = None, in_use: InUse | None = None) -> StageResult:
        board = _Board(targets, on_progress)
        board.report_all()
        opened: dict[str, Store] = {}
        try:
            try:
                src = self._open(source.store)
            except StoreError as exc:
                board.update([t.cluster for t in targets], state=State.FAILED,
                             **_reason(exc, "SourceError"))
                return StageResult(clusters=dict(board.state))
            opened[source.store.name + "\0source"] = src
            stores: dict[str, Store] = {}
            for t in targets:
                if t.store.name in stores:
                    continue
                try:
                    stores[t.store.name] = opened[t.store.name] = self._open(t.store)
                except StoreError as exc:
                    board.update([x.cluster for x in targets if x.store.name == t.store.name],
                                 state=State.FAILED, **_reason(exc, "StoreUnreachable"))
            live = [t for t in targets if t.store.name in stores]
            result = StageResult()
            by_variant: dict[str, list[StageTarget]] = {}
            for t in live:
                by_variant.setdefault(t.variant, []).append(t)
            jobs: list[Callable[[], None]] = []
            for name, vts in by_variant.items():
                rule = variant_rule(variants, name)
                try:
                    origin = self._origin(source, src, opened, model, version, rule, cancel,
                                          result)
                    self._seal(origin, staged_name(model, name), version, source.store.name)
                except _Failure as f:
                    board.update([t.cluster for t in vts], state=State.FAILED,
                                 reason=f.reason, message=f.message)
                    continue
                except FedctlError as exc:  # e.g. a subPath or input that escapes the version
                    board.update([t.cluster for t in vts], state=State.FAILED,
                                 reason="SourceError", message=f"variant {name}: {exc}")
                    continue
                jobs += self._region_jobs(origin, source.store.name, vts, stores, board,
                                          cancel)
            if jobs:
                with ThreadPoolExecutor(max_workers=len(jobs),
                                        thread_name_prefix="fedctl-stage") as pool:
                    for fut in [pool.submit(j) for j in jobs]:
                        fut.result()
            if keep is not None:
                self._retention(live, stores, board, keep, in_use, version, result)
            result.clusters = dict(board.state)
            return result
        finally:
            for s in opened.values():
                s.close()

    # ---- origins and builds ------------------------------------------------------------
    def _origin(self, source: SourceSpec, src: Store, opened: dict[str, Store], model: str,
                version: str, rule: VariantRule, cancel: threading.Event,
                result: StageResult) -> Store:
        staged = staged_name(model, rule.name)
        view = SourceView(src, source.prefix, staged, version, meta_prefix=source.meta_prefix,
                          cancel=cancel)
        if rule.sub_path:
            view = view.sub(rule.sub_path, staged)
        if rule.build is None:
            return view
        if self.build_store is not None:
            key = self.build_store.name + "\0build"
            if key not in opened:
                try:
                    opened[key] = self._open(self.build_store)
                except StoreError as exc:
                    raise _Failure("BuildFailed", f"build store: {exc}") from None
            base = opened[key]
            out: Store = PrefixView(base, source.meta_prefix + "/builds", cancel=cancel) \
                if base is src else base
        else:
            out = PrefixView(src, source.meta_prefix + "/builds", cancel=cancel)
        with self._build_lock((out.name, f"{staged}/{version}")):
            self._build(view, out, rule, staged, version, result)
        return out

    def _build(self, view: SourceView, out: Store, rule: VariantRule, staged: str,
               version: str, result: StageResult) -> None:
        assert rule.build is not None
        syncer = Syncer(self.options)
        try:
            if syncer.read_manifest(out, staged, version) is not None:
                return  # built by an earlier run: once per version
        except (StoreError, ManifestError) as exc:
            raise _Failure("BuildFailed", f"variant {rule.name}: build store: {exc}") from None
        conv = self.converters.get(rule.build.converter)
        if conv is None:
            raise _Failure("BuildFailed", f"variant {rule.name}: unknown converter "
                                          f"{rule.build.converter!r} (known: "
                                          f"{', '.join(sorted(self.converters))})")
        input_key = mf.data_key(staged, version, rule.build.input)
        try:
            if view.stat(input_key) is None:
                where = f"{rule.sub_path}/" if rule.sub_path else ""
                raise _Failure("MissingFile", f"variant {rule.name}: build input "
                                              f"{where}{rule.build.input} is not in "
                                              f"version {version}")
            self.scratch_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=self.scratch_dir,
                                             prefix=f"build-{staged}-") as tmp:
                src_dir, out_dir = Path(tmp) / "src", Path(tmp) / "out"
                out_dir.mkdir(parents=True)
                _download(view, staged, version, src_dir)
                conv.build(src_dir, rule.build.input, out_dir)
                files = sorted(p for p in out_dir.rglob("*") if p.is_file())
                if not files:
                    raise BuildFailed(f"converter {conv.name} wrote no files")
                for p in files:
                    _upload(p, out, mf.data_key(staged, version,
                                                p.relative_to(out_dir).as_posix()))
            syncer.source_manifest(out, staged, version)
        except BuildFailed as exc:
            raise _Failure("BuildFailed", f"variant {rule.name}: {exc}") from None
        except (StoreError, ManifestError) as exc:
            raise _Failure(*_reason_pair(exc, "BuildFailed")) from None
        result.built.append(rule.name)

    def _seal(self, origin: Store, staged: str, version: str, source_name: str) -> None:
        """Seal the origin once, before the regions copy from it in parallel."""
        with self._sem(self._source_sems, source_name, self.per_source):
            try:
                Syncer(self.options).source_manifest(origin, staged, version)
            except (StoreError, ManifestError) as exc:
                raise _Failure(*_reason_pair(exc, "SourceError")) from None

    # ---- fan-out -----------------------------------------------------------------------
    def _region_jobs(self, origin: Store, source_name: str, targets: Sequence[StageTarget],
                     stores: Mapping[str, Store], board: _Board,
                     cancel: threading.Event) -> list[Callable[[], None]]:
        by_region: dict[str, list[StageTarget]] = {}
        for t in targets:
            by_region.setdefault(stores[t.store.name].region, []).append(t)

        def job(region: str, ts: list[StageTarget]) -> Callable[[], None]:
            return lambda: self._copy_region(origin, source_name, region, ts, stores, board,
                                             cancel)

        return [job(r, ts) for r, ts in sorted(by_region.items())]

    def _copy_region(self, origin: Store, source_name: str, region: str,
                     targets: Sequence[StageTarget], stores: Mapping[str, Store],
                     board: _Board, cancel: threading.Event) -> None:
        clusters_of: dict[str, list[str]] = {}
        for t in targets:
            clusters_of.setdefault(t.store.name, []).append(t.cluster)
        staged, version = targets[0].staged_model, targets[0].version
        dests = [stores[n] for n in clusters_of]
        every = [c for cs in clusters_of.values() for c in cs]
        with self._sem(self._source_sems, source_name, self.per_source), \
                self._sem(self._region_sems, region, self.per_region):
            if cancel.is_set():
                board.update(every, state=State.FAILED, reason="Cancelled",
                             message="staging cancelled")
                return
            try:
                total = Syncer(self.options).source_manifest(origin, staged, version).total_size
                router = _Router(board, clusters_of, stores, total)
                _plan, results = Syncer(self.options, router).fanout(origin, staged, version,
                                                                     dests)
            except (StoreError, ManifestError) as exc:
                board.update(every, state=State.FAILED, **_reason(exc, "SourceError"))
                return
            except Exception as exc:  # never leave clusters Copying: report and go on
                log.exception("staging %s/%s into region %s failed", staged, version, region)
                board.update(every, state=State.FAILED, reason="CopyFailed",
                             message=f"{type(exc).__name__}: {exc}")
                return
        by_store = {r.store: r for r in results}
        for name, cs in clusters_of.items():
            r = by_store.get(name)
            if r is not None and r.ok and (r.published or (r.plan is not None
                                                           and not r.plan.publish)):
                board.update(cs, state=State.VERIFIED, bytes_total=total, bytes_done=total,
                             reason="", message="")
            else:
                reason, msg = self._classify(origin, stores[name], staged, version, r,
                                             by_store, router, cancel)
                board.update(cs, state=State.FAILED, reason=reason, message=msg)

    def _classify(self, origin: Store, dest: Store, staged: str, version: str,
                  r: StoreResult | None, by_store: Mapping[str, StoreResult],
                  router: _Router, cancel: threading.Event) -> tuple[str, str]:
        if r is None:
            return "CopyFailed", "no result from the fan-out"
        if cancel.is_set():
            return "Cancelled", "staging cancelled; nothing partial was published"
        errors = r.errors or ["not published"]
        if errors[0].startswith("relay ") and errors[0].endswith(" failed"):
            relay = errors[0][len("relay "):-len(" failed")]
            rr, rs = by_store.get(relay), router.stores.get(relay)
            if rr is not None and rs is not None and relay != dest.name:
                reason, msg = self._classify(origin, rs, staged, version, rr, by_store,
                                             router, cancel)
                return reason, f"via relay {relay}: {msg}"
        for path in router.failed_paths.get(dest.name, []):
            try:
                gone = origin.stat(mf.data_key(staged, version, path)) is None
            except StoreError:
                gone = False
            if gone:
                return "MissingFile", f"{path}: missing from the source of {staged}/{version}"
        try:
            dest.stat(mf.manifest_key(staged, version), checksum=False)
        except StoreUnreachable as exc:
            return "StoreUnreachable", str(exc)
        except StoreError:
            pass
        if any("unreachable" in e or "did not answer" in e for e in errors):
            return "StoreUnreachable", errors[0]
        return "CopyFailed", "; ".join(errors[:3])

    # ---- retention ---------------------------------------------------------------------
    def _retention(self, targets: Sequence[StageTarget], stores: Mapping[str, Store],
                   board: _Board, keep: int, in_use: InUse | None, version: str,
                   result: StageResult) -> None:
        groups: dict[tuple[str, str], set[str]] = {}
        for t in targets:
            if board.state[t.cluster].state is not State.VERIFIED:
                continue
            used = groups.setdefault((t.store.name, t.staged_model), {version})
            if in_use is not None:
                used.update(in_use(t.cluster, t.staged_model))
        syncer = Syncer(self.options)
        for (store, staged), used in sorted(groups.items()):
            try:
                gone = syncer.apply_retention(stores[store], staged, keep, used)
            except (StoreError, ManifestError) as exc:
                log.warning("retention on %s for %s failed: %s", store, staged, exc)
                continue
            if gone:
                result.deleted[f"{store}/{staged}"] = gone


def _reason_pair(exc: Exception, default: str) -> tuple[str, str]:
    if isinstance(exc, Cancelled):
        return "Cancelled", str(exc)
    if isinstance(exc, StoreUnreachable):
        return "StoreUnreachable", str(exc)
    return default, str(exc)


def _reason(exc: Exception, default: str) -> dict[str, str]:
    reason, message = _reason_pair(exc, default)
    return {"reason": reason, "message": message}


def _open(cfg: StoreConfig, settings: TransferSettings) -> Store:
    return open_store(cfg, settings)


def _download(view: Store, staged: str, version: str, into: Path) -> None:
    prefix = mf.data_prefix(staged, version) + "/"
    for meta in view.list(prefix):
        dst = into / meta.key[len(prefix):]
        dst.parent.mkdir(parents=True, exist_ok=True)
        s = view.open_read(meta.key)
        try:
            with dst.open("wb") as f:
                while buf := s.read(_BUF):
                    f.write(buf)
        finally:
            s.close()


def _upload(path: Path, store: Store, key: str) -> None:
    d = Digest()
    with path.open("rb") as f:
        while buf := f.read(_BUF):
            d.update(buf)
    with path.open("rb") as f:
        store.write(key, f, d.size, d.crc32c)
