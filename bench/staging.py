"""Model staging benchmark: relay fan-out vs copying to every cluster store directly.

Starts its own local fleet (bench/staging-fleet.yaml: an origin S3 store and one object
store server per region, 2 MinIO + 2 fake-gcs-server, 3 buckets each = 12 cluster stores
in 4 regions), uploads one model version (4 shards of random data plus small files,
``--size`` in total) to the origin and stages it to the 12 stores two ways:

  relay: federation/staging ``StagingWorker.stage`` (one ``Syncer.fanout`` per region:
         origin -> one relay per region -> the region's other stores)
  naive: the same with ``SyncOptions(relay=False)`` (origin -> each of the 12 stores)
  (``--driver fanout``: one ``Syncer.fanout`` over all 12 stores instead of the worker)

once per ``--origin-bandwidth`` value (MB/s; 0 = unthrottled loopback). The origin is
wrapped in ``OriginLink``: a Store that counts every byte read from the origin and
throttles those reads with one token bucket, so the origin behaves as a remote registry
behind a WAN link of that bandwidth; copies between cluster stores are not throttled.
A path's time is until every store has the version published (all files verified against
the manifest). Between paths and at the end the version is deleted from the 12 stores.

Usage: python bench/staging.py [--size 2GiB] [--origin-bandwidth 50,0] [--transfers 8]
Prints one JSON document; progress lines on stderr. Not a test: nothing asserts time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from distributors.base import ObjectMeta, ReadStream, Store
from distributors.checksums import Digest
from distributors.progress import RateLimiter
from distributors.relay import StoreInfo, plan_fanout
from distributors.store import StoreConfig, TransferSettings, open_store
from distributors.sync import Syncer, SyncOptions

HERE = Path(__file__).parent
MODEL, VERSION = "llm-bench", "1"
ARTIFACTS = "mlartifacts/1/models/m-bench/artifacts"  # the version's directory on the origin
MB = 1_000_000
# 50 MB/s = 400 Mbit/s: a sustained cross-region object-store read rate of one origin
# (real links range from a few hundred Mbit/s to a few Gbit/s), and below what this
# benchmark's single process streams on a 2-core machine (~85 MB/s over all copies), so
# the modelled link, not the local CPU, is the origin's bottleneck. 0: unthrottled.
DEFAULT_BANDWIDTHS = "50,0"
SHARDS = 4
SMALL_FILES = 12
STORES_PER_REGION = 3


# ---- pure parts --------------------------------------------------------------------------
def parse_size(text: str) -> int:
    """``2GiB``, ``64MiB``, ``512M`` (binary units), plain bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(
            f"--size: invalid size {text!r}; use e.g. 2GiB, 64MiB or a number of bytes")
    n: int = int(m.group(1)) * 1024 ** " KMGT".index((m.group(2) or " ").upper())
    if n < SHARDS * 1024 * 1024:
        raise argparse.ArgumentTypeError(f"--size: {text!r} is below the minimum of 4MiB")
    return n


def parse_bandwidths(text: str) -> list[float]:
    """Comma-separated MB/s (10^6 bytes/s) values; 0 means unthrottled."""
    out = []
    for part in text.split(","):
        try:
            v = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--origin-bandwidth: {part!r} is not a number; give MB/s values such as "
                "200,0 (0 = unthrottled)") from None
        if v < 0:
            raise argparse.ArgumentTypeError(f"--origin-bandwidth: {v} is negative")
        out.append(v)
    return out


def model_layout(total: int) -> dict[str, int]:
    """File sizes of a model-shaped version of ``total`` bytes: SHARDS equal weight shards
    (the remainder in the last) plus SMALL_FILES small files (config, tokenizer...)."""
    small = {f"config/file-{i:02d}.json": 1000 + 97 * i for i in range(SMALL_FILES)}
    rest = total - sum(small.values())
    shard = rest // SHARDS
    files = {f"model-{i + 1:05d}-of-{SHARDS:05d}.safetensors": shard for i in range(SHARDS)}
    files[f"model-{SHARDS:05d}-of-{SHARDS:05d}.safetensors"] += rest - shard * SHARDS
    return {**files, **small}


class _CountedStream:
    def __init__(self, stream: ReadStream, link: OriginLink) -> None:
        self._s, self._link = stream, link

    def read(self, n: int = -1, /) -> bytes:
        data = self._s.read(n)
        if data:
            self._link.took(len(data))
        return data

    def close(self) -> None:
        self._s.close()


class OriginLink:
    """The origin store behind a modelled WAN link: counts the bytes read from ``store``
    (object streams and whole-object reads: manifests, receipts) and throttles them
    with one token bucket of ``bandwidth`` bytes/s shared by all readers (None: no
    limit). Everything else is the wrapped store's."""

    def __init__(self, store: Store, bandwidth: float | None, *,
                 limiter: RateLimiter | None = None) -> None:
        self.inner = store
        self.bandwidth = bandwidth
        # Burst of 50 ms of the link, so short runs are not dominated by the first bucket.
        self.limiter = limiter or RateLimiter(bandwidth, burst=(bandwidth or 0) * 0.05)
        self._lock = threading.Lock()
        self.bytes_read = 0

    def took(self, n: int) -> None:
        with self._lock:
            self.bytes_read += n
        self.limiter.acquire(n)

    def reset(self) -> int:
        with self._lock:
            n, self.bytes_read = self.bytes_read, 0
        return n

    # -- the Store protocol ------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def provider(self) -> str:
        return self.inner.provider

    @property
    def region(self) -> str:
        return self.inner.region

    @property
    def bucket(self) -> str:
        return self.inner.bucket

    @property
    def copy_domain(self) -> str | None:
        return self.inner.copy_domain

    @property
    def cfg(self) -> Any:
        return getattr(self.inner, "cfg", None)

    def native_key(self, key: str) -> str:
        return self.inner.native_key(key)

    def list(self, prefix: str) -> Iterator[ObjectMeta]:
        return self.inner.list(prefix)

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None:
        return self.inner.stat(key, checksum=checksum)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        return _CountedStream(self.inner.open_read(key, start, end), self)

    def read_bytes(self, key: str) -> bytes:
        data = self.inner.read_bytes(key)
        self.took(len(data))
        return data

    def write(self, key: str, stream: BinaryIO, size: int, crc32c: str) -> ObjectMeta:
        return self.inner.write(key, stream, size, crc32c)

    def write_bytes(self, key: str, data: bytes) -> ObjectMeta:
        return self.inner.write_bytes(key, data)

    def copy_from(self, source: Store, src_key: str, key: str, size: int,
                  crc32c: str) -> ObjectMeta:
        return self.inner.copy_from(source, src_key, key, size, crc32c)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def close(self) -> None:
        self.inner.close()


@dataclass(frozen=True, slots=True)
class StoreOutcome:
    """One cluster store at the end of a path."""

    store: str
    verified: bool  # the version published there (every file verified)
    seconds: float | None  # after the path's start, when it was seen Verified
    server_side: bool  # written by a server-side copy (same copy domain as its source)
    error: str = ""


@dataclass(frozen=True, slots=True)
class PathRun:
    """What one staging path measured."""

    path: str  # relay | naive
    seconds: float  # until every store had the version Verified
    origin_bytes_read: int
    stores: tuple[StoreOutcome, ...]
    relays: Mapping[str, str]  # region -> relay store (relay path)


def path_report(run: PathRun, model_bytes: int, regions: int) -> dict[str, Any]:
    """Every store starts empty, so a verified store was written ``model_bytes``."""
    ok = [s for s in run.stores if s.verified]
    streamed = sum(model_bytes for s in ok if not s.server_side)
    server_side = sum(model_bytes for s in ok if s.server_side)
    return {
        "seconds_to_all_verified": round(run.seconds, 2),
        "stores_verified": len(ok),
        "stores": len(run.stores),
        "failed": {s.store: s.error for s in run.stores if not s.verified},
        "origin_bytes_read": run.origin_bytes_read,
        "origin_copies": round(run.origin_bytes_read / model_bytes, 3),
        "origin_copies_goal": regions,
        "bytes_written": streamed + server_side,
        "bytes_written_streamed": streamed,
        "bytes_written_server_side": server_side,
        "relays": dict(run.relays),
        "verified_at_seconds": {s.store: round(s.seconds, 2) for s in
                                sorted(run.stores, key=lambda s: s.store)
                                if s.seconds is not None},
    }


def run_report(origin_bandwidth: float | None, relay: PathRun, naive: PathRun,
               model_bytes: int, regions: int) -> dict[str, Any]:
    rr, nr = path_report(relay, model_bytes, regions), path_report(naive, model_bytes, regions)
    ratio = relay.seconds / naive.seconds if naive.seconds > 0 else None
    complete = rr["stores_verified"] == rr["stores"] and nr["stores_verified"] == nr["stores"]
    return {
        "origin_bandwidth_MB_s": origin_bandwidth / MB if origin_bandwidth else 0,
        "relay": rr,
        "naive": nr,
        "time_ratio_relay_over_naive": round(ratio, 3) if ratio is not None else None,
        "origin_bytes_ratio_relay_over_naive": (
            round(relay.origin_bytes_read / naive.origin_bytes_read, 3)
            if naive.origin_bytes_read else None),
        "goal": {
            "all_verified": complete,
            # manifest, receipt and listing reads add a few KiB over the data copies
            "origin_bytes_one_copy_per_region": rr["origin_copies"] <= regions * 1.01,
            "time_at_most_half_of_naive": ratio is not None and ratio <= 0.5,
        },
    }


class PublishTimes:
    """A Syncer events sink recording when each store's version was published."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.start = clock()
        self.at: dict[str, float] = {}
        self._lock = threading.Lock()

    def emit(self, event: dict[str, Any]) -> None:
        if event.get("event") == "published":
            with self._lock:
                self.at[str(event["store"])] = self.clock() - self.start
        elif event.get("event") == "failed":
            print(json.dumps(event), file=sys.stderr)


ORIGIN_LINK_MODEL = (
    "The origin (the registry's artifact bucket) is remote: every byte read from it "
    "(object streams, manifest and receipt reads) passes one token bucket of the given "
    "bandwidth shared by all concurrent readers (burst 50 ms), modelling the WAN link "
    "between the registry's region and the cluster regions. Copies between cluster stores "
    "(a relay to its region's stores) are not throttled: inside a region they are "
    "server-side copies between buckets of one server. 0 = no throttle (loopback only).")


# ---- I/O ---------------------------------------------------------------------------------
def _cluster_stores(cfgs: Mapping[str, StoreConfig]) -> list[StoreConfig]:
    out = []
    for name, c in cfgs.items():
        if name == "origin":
            continue
        for i in range(1, STORES_PER_REGION + 1):
            out.append(replace(c, name=f"{name}-{i}", bucket=f"{name}-{i}"))
    return out


def _create_buckets(stores: Sequence[StoreConfig]) -> None:
    from federation.dev.objectstores import StoreEndpoint, create_bucket

    async def all_() -> None:
        await asyncio.gather(*(create_bucket(StoreEndpoint(
            name=s.name, provider=s.provider, region=s.region, bucket=s.bucket,
            endpoint=s.endpoint, root=s.root, access_key=s.access_key,
            secret_key=s.secret_key)) for s in stores))
    asyncio.run(all_())


def _upload(origin: Store, layout: Mapping[str, int], scratch: Path) -> None:
    """Random shards written to a scratch file and streamed to the origin, one at a time,
    under ARTIFACTS/ (the registry's layout: an artifact directory per version)."""
    for path, size in layout.items():
        key = f"{ARTIFACTS}/{path}"
        if size < 1 << 20:
            origin.write_bytes(key, os.urandom(size))
            continue
        f = scratch / "shard.bin"
        d = Digest()
        with open(f, "wb") as out:
            left = size
            while left:
                b = os.urandom(min(left, 8 << 20))
                d.update(b)
                out.write(b)
                left -= len(b)
        with open(f, "rb") as src:
            origin.write(key, src, d.size, d.crc32c)
        f.unlink()


@dataclass
class Fleet:
    origin_cfg: StoreConfig
    origin: Store  # the registry's bucket, unthrottled (setup and cleanup)
    source: Store  # the version's files as MODEL/VERSION (a SourceView over ``origin``)
    target_cfgs: list[StoreConfig]
    targets: list[Store]  # the cluster stores, in target_cfgs order
    settings: TransferSettings


def _server_side(fl: Fleet, relay: bool) -> tuple[dict[str, bool], dict[str, str]]:
    """Which stores a path writes server-side, and the relays (the distributors' plan)."""
    info = {t.name: StoreInfo(t.name, t.region, False, t.copy_domain) for t in fl.targets}
    plan = plan_fanout(StoreInfo(fl.origin.name, fl.origin.region, False,
                                 fl.origin.copy_domain), list(info.values()), relay=relay)
    return ({h.dest: h.server_side for st in plan.stages for h in st}, dict(plan.relays))


def _run_fanout(kind: str, fl: Fleet, bw: float | None, transfers: int,
                journal: Path) -> PathRun:
    """The path through ``Syncer.fanout`` directly (all regions in one fan-out)."""
    shutil.rmtree(journal, ignore_errors=True)
    events = PublishTimes()
    syncer = Syncer(SyncOptions(transfers=transfers, resume_dir=journal,
                                relay=kind == "relay"), events)
    link = OriginLink(fl.source, bw)
    events.start = t0 = time.perf_counter()
    plan, results = syncer.fanout(link, MODEL, VERSION, fl.targets)
    seconds = time.perf_counter() - t0
    return PathRun(path=kind, seconds=seconds, origin_bytes_read=link.reset(),
                   stores=tuple(StoreOutcome(
                       r.store, r.ok and r.published, events.at.get(r.store),
                       bool(r.server_side), "; ".join(r.errors[:3])) for r in results),
                   relays=dict(plan.relays))


def _run_worker(kind: str, fl: Fleet, bw: float | None, transfers: int, journal: Path,
                scratch: Path, per_source: int, per_region: int) -> PathRun:
    """The path through federation/staging's StagingWorker (one fan-out per region under
    its per-source and per-region limits); naive = the same with SyncOptions(relay=False).
    The origin the worker opens is wrapped in the OriginLink."""
    from federation.staging.plan import StageTarget, mirror_uri
    from federation.staging.types import DEFAULT_RULE
    from federation.staging.worker import SourceSpec, StagingWorker, State

    shutil.rmtree(journal, ignore_errors=True)
    limiter = RateLimiter(bw, burst=(bw or 0) * 0.05)
    links: list[OriginLink] = []

    def opener(cfg: StoreConfig) -> Store:
        s = open_store(cfg, fl.settings)
        if cfg.name == fl.origin_cfg.name:
            links.append(OriginLink(s, bw, limiter=limiter))
            return links[-1]
        return s

    worker = StagingWorker(
        scratch_dir=scratch, syncer_options=SyncOptions(
            transfers=transfers, resume_dir=journal, relay=kind == "relay"),
        transfer_settings=fl.settings, per_source=per_source, per_region=per_region,
        open_store=opener)
    targets = [StageTarget(cluster=c.name, store=c, variant="default", staged_model=MODEL,
                           version=VERSION, uri=mirror_uri(c, MODEL, VERSION))
               for c in fl.target_cfgs]
    at: dict[str, float] = {}
    t0 = time.perf_counter()

    def progress(p: Any) -> None:
        if p.state is State.VERIFIED and p.store not in at:
            at[p.store] = time.perf_counter() - t0

    res = worker.stage(SourceSpec(store=fl.origin_cfg, prefix=ARTIFACTS), MODEL, VERSION,
                       targets, [DEFAULT_RULE], progress, threading.Event())
    seconds = time.perf_counter() - t0
    server_side, relays = _server_side(fl, kind == "relay")
    outcomes = []
    for c in fl.target_cfgs:
        p = res.clusters[c.name]
        outcomes.append(StoreOutcome(c.name, p.state is State.VERIFIED, at.get(c.name),
                                     server_side.get(c.name, False),
                                     "" if p.state is State.VERIFIED
                                     else f"{p.reason}: {p.message}"))
    return PathRun(path=kind, seconds=seconds,
                   origin_bytes_read=sum(x.reset() for x in links), stores=tuple(outcomes),
                   relays=relays if kind == "relay" else {})


def _clear(targets: Sequence[Store]) -> None:
    sy = Syncer()
    for t in targets:
        sy.delete_version(t, MODEL, VERSION)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--size", type=parse_size, default=parse_size("2GiB"),
                    help="model version size (default 2GiB)")
    ap.add_argument("--origin-bandwidth", type=parse_bandwidths,
                    default=parse_bandwidths(DEFAULT_BANDWIDTHS),
                    help="origin WAN link in MB/s, comma-separated runs; 0 = unthrottled "
                         f"(default {DEFAULT_BANDWIDTHS})")
    ap.add_argument("--transfers", type=int, default=8, help="files in flight per sync")
    ap.add_argument("--driver", choices=("worker", "fanout"), default="worker",
                    help="worker: federation/staging StagingWorker (default); fanout: "
                         "distributors Syncer.fanout directly")
    ap.add_argument("--per-source", type=int, default=4,
                    help="worker: region copies reading the origin at once")
    ap.add_argument("--per-region", type=int, default=2,
                    help="worker: copies into one region at once")
    ap.add_argument("--gcs-request-mib", type=int, default=0,
                    help="GCS resumable request size (default: TransferSettings')")
    args = ap.parse_args(argv)

    from federation.cli.artifacts import config_from_endpoint
    from federation.dev.localfleet import LocalFleet
    from federation.fleet import load_fleet_file
    from federation.staging.source import SourceView

    tmp = Path(tempfile.mkdtemp(prefix="fedctl-bench-staging-"))
    lf = LocalFleet(tmp / "fleet")
    layout = model_layout(args.size)
    model_bytes = sum(layout.values())
    result: dict[str, Any] = {
        "benchmark": "staging", "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "model": {"bytes": model_bytes, "files": len(layout), "shards": SHARDS,
                  "shard_bytes": max(layout.values())},
        "origin_link": ORIGIN_LINK_MODEL,
        "driver": ("federation.staging StagingWorker.stage (naive: SyncOptions(relay=False))"
                   if args.driver == "worker" else
                   "distributors Syncer.fanout (naive: relay=False)"),
        "transfers": args.transfers,
        "runs": [],
    }
    if args.driver == "worker":
        result["worker_limits"] = {"per_source": args.per_source,
                                   "per_region": args.per_region}
    stores: list[Store] = []
    try:
        asyncio.run(lf.up(load_fleet_file(HERE / "staging-fleet.yaml")))
        state = lf.load()
        cfgs = {s.endpoint.name: config_from_endpoint(s.endpoint) for s in state.stores}
        cluster_cfgs = _cluster_stores(cfgs)
        _create_buckets(cluster_cfgs)
        settings = (TransferSettings(gcs_request_size=args.gcs_request_mib << 20)
                    if args.gcs_request_mib else TransferSettings())
        settings = replace(settings, transfers=args.transfers, parallel_syncs=4)
        raw_origin = open_store(cfgs["origin"], settings)
        targets = [open_store(c, settings) for c in cluster_cfgs]
        stores = [raw_origin, *targets]
        fl = Fleet(origin_cfg=cfgs["origin"], origin=raw_origin,
                   source=SourceView(raw_origin, ARTIFACTS, MODEL, VERSION),
                   target_cfgs=cluster_cfgs, targets=targets, settings=settings)
        regions = len({c.region for c in cluster_cfgs})
        result["fleet"] = {"regions": {r: [c.name for c in cluster_cfgs if c.region == r]
                                       for r in sorted({c.region for c in cluster_cfgs})},
                           "providers": {c.name: c.provider for c in cluster_cfgs},
                           "origin": {"provider": cfgs["origin"].provider,
                                      "region": cfgs["origin"].region}}
        t = time.perf_counter()
        _upload(raw_origin, layout, tmp)
        Syncer().source_manifest(fl.source, MODEL, VERSION)  # sealed before timing
        result["model"]["upload_and_seal_seconds_not_included"] = round(
            time.perf_counter() - t, 2)
        for mbs in args.origin_bandwidth:
            bw = mbs * MB if mbs else None
            runs: dict[str, PathRun] = {}
            load = [_load()]
            for kind in ("relay", "naive"):
                print(f"staging: {kind} path, origin link {mbs:g} MB/s ...", file=sys.stderr)
                if args.driver == "worker":
                    runs[kind] = _run_worker(kind, fl, bw, args.transfers, tmp / "journal",
                                             tmp / "scratch", args.per_source,
                                             args.per_region)
                else:
                    runs[kind] = _run_fanout(kind, fl, bw, args.transfers, tmp / "journal")
                print(json.dumps(path_report(runs[kind], model_bytes, regions)),
                      file=sys.stderr)
                _clear(targets)
            load.append(_load())
            rep = run_report(bw, runs["relay"], runs["naive"], model_bytes, regions)
            rep["load_avg_1_5_15_before_after"] = load
            result["runs"].append(rep)
    finally:
        for s in stores:
            s.close()
        lf.down()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
