"""Artifact sync benchmark: fedctl distributors vs rclone on the same loopback servers.

Starts its own local fleet (bench/artifacts-fleet.yaml: an S3 origin, a GCS store and
8 edge stores in two regions) in a temp directory, puts a TCP byte counter in front of
the origin, and prints one JSON document:

  (a) S3 -> GCS throughput of a model of 4 large files + 50 small files (default 4 x 512 MiB)
  (b) no-op re-sync of 10,000 small objects S3 -> GCS (time)
  (c) fan-out to the 8 edge stores: bytes read from the origin
  (d) peak RSS of `fedctl artifacts sync` processes (default --memory-budget) and of
      rclone for the same copies: S3 -> disk, then disk -> S3 of the model of (a)

Usage: python bench/artifacts.py [--big-mib 512] [--fanout-mib 64] [--small 10000]
                                [--gcs-request-mib N]
Only measured numbers are printed. Not a test: nothing asserts time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from distributors import manifest as mf
from distributors.base import fit_memory
from distributors.progress import parse_rate
from distributors.store import Store, StoreConfig, TransferSettings, open_store
from distributors.sync import Syncer, SyncOptions
from federation.cli.artifacts import config_from_endpoint
from federation.dev.localfleet import LocalFleet
from federation.fleet import load_fleet_file

HERE = Path(__file__).parent
RCLONE = Path(sys.executable).with_name("rclone")


class CountingProxy:
    """A loopback TCP proxy counting the bytes the upstream server sends to clients."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        self.bytes_down = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            cw.close()
            return

        async def pump(r: asyncio.StreamReader, w: asyncio.StreamWriter, down: bool) -> None:
            try:
                while data := await r.read(1 << 16):
                    if down:
                        self.bytes_down += len(data)
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()

        await asyncio.gather(pump(cr, uw, False), pump(ur, cw, True))

    def reset(self) -> int:
        n, self.bytes_down = self.bytes_down, 0
        return n


def rclone_conf(cfgs: dict[str, StoreConfig], path: Path) -> None:
    out = []
    for c in cfgs.values():
        if c.provider == "s3":
            out.append(f"[{c.name}]\ntype = s3\nprovider = Minio\naccess_key_id = "
                       f"{c.access_key}\nsecret_access_key = {c.secret_key}\nendpoint = "
                       f"{c.endpoint}\nregion = {c.region or 'us-east-1'}\n")
        elif c.provider == "gcs":
            out.append(f"[{c.name}]\ntype = google cloud storage\nanonymous = true\n"
                       f"endpoint = {c.endpoint}/storage/v1/\nbucket_policy_only = true\n")
        else:
            out.append(f"[{c.name}]\ntype = alias\nremote = {c.root}\n")
    path.write_text("\n".join(out))
    path.chmod(0o600)


def remote(c: StoreConfig, sub: str) -> str:
    return f"{c.name}:{c.bucket}/{sub}" if c.provider != "file" else f"{c.name}:{sub}"


def rclone(conf: Path, *args: str) -> float:
    t = time.perf_counter()
    subprocess.run([str(RCLONE), "--config", str(conf), *args], check=True,
                   capture_output=True)
    return time.perf_counter() - t


def run_child(argv: list[str], out: Path) -> tuple[float, int, int]:
    """Run ``argv`` (stdout and stderr to ``out``): seconds, peak RSS in bytes (the
    child's own ``ru_maxrss`` from ``wait4``) and exit status."""
    t = time.perf_counter()
    with open(out, "wb") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - t, usage.ru_maxrss * 1024, proc.returncode


def upload_files(store: Store, model: str, files: dict[str, Path | bytes],
                 workers: int = 16) -> None:
    def put(item: tuple[str, Path | bytes]) -> None:
        path, data = item
        key = mf.data_key(model, "v1", path)
        if isinstance(data, bytes):
            store.write_bytes(key, data)
        else:
            from distributors.checksums import Digest

            d = Digest()
            with open(data, "rb") as f:
                while b := f.read(1 << 20):
                    d.update(b)
            with open(data, "rb") as f:
                store.write(key, f, d.size, d.crc32c)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, files.items()))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big-mib", type=int, default=512)
    ap.add_argument("--fanout-mib", type=int, default=64, help="size of each of 4 files in (c)")
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--transfers", type=int, default=8)
    ap.add_argument("--memory-budget", default="256M", help="fedctl --memory-budget in (d)")
    ap.add_argument("--gcs-request-mib", type=int, default=0,
                    help="GCS resumable request size (default: TransferSettings')")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="fedctl-bench-"))
    lf = LocalFleet(tmp / "fleet")
    result: dict[str, Any] = {
        "benchmark": "artifacts", "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "rclone": subprocess.run([str(RCLONE), "version"], capture_output=True,
                                 text=True).stdout.splitlines()[0],
    }
    try:
        asyncio.run(lf.up(load_fleet_file(HERE / "artifacts-fleet.yaml")))
        state = lf.load()
        cfgs = {s.endpoint.name: config_from_endpoint(s.endpoint) for s in state.stores}
        proxy = CountingProxy(int((cfgs["origin"].endpoint or "").rsplit(":", 1)[1]))
        cfgs["origin"] = StoreConfig(**{**{f: getattr(cfgs["origin"], f) for f in
                                           StoreConfig.__dataclass_fields__},
                                        "endpoint": f"http://127.0.0.1:{proxy.port}"})
        conf = tmp / "rclone.conf"
        rclone_conf(cfgs, conf)
        # The CLI's defaults: settings fitted into the memory budget.
        base = TransferSettings(transfers=args.transfers)
        if args.gcs_request_mib:
            base = replace(base, gcs_request_size=args.gcs_request_mib << 20)
        settings = fit_memory(base, int(parse_rate(args.memory_budget)))
        stores = {n: open_store(c, settings) for n, c in cfgs.items()}
        origin, gcs = stores["origin"], stores["gcs-main"]
        opts = SyncOptions(transfers=settings.transfers)
        fedctl = [sys.executable, "-m", "federation.cli.main", "artifacts", "--fleet",
                  str(HERE / "artifacts-fleet.yaml"), "--state-dir", str(lf.state_dir)]

        # (a) big model S3 -> GCS
        data = tmp / "data"
        data.mkdir()
        files: dict[str, Path | bytes] = {}
        for i in range(4):
            p = data / f"model-{i:05d}.safetensors"
            with open(p, "wb") as f:
                for _ in range(args.big_mib):
                    f.write(os.urandom(1 << 20))
            files[f"weights/{p.name}"] = p
        for i in range(50):
            files[f"extra/file-{i:02d}.json"] = os.urandom(2000 + i)
        total = sum(p.stat().st_size if isinstance(p, Path) else len(p)
                    for p in files.values())
        upload_files(origin, "big", files, workers=4)
        for p in data.iterdir():
            p.unlink()
        t = time.perf_counter()
        Syncer(opts).source_manifest(origin, "big", "v1")
        seal = time.perf_counter() - t
        proxy.reset()
        load_a = [_load()]
        t = time.perf_counter()
        [r] = Syncer(opts).sync(origin, Syncer().read_manifest(origin, "big", "v1")
                                or _die(), [gcs])
        fed = time.perf_counter() - t
        assert r.ok and r.published, r.errors
        fed_read = proxy.reset()
        rc = rclone(conf, "copy", remote(cfgs["origin"], "big/v1"),
                    remote(cfgs["gcs-main"], "rclone/big/v1"))
        rc_read = proxy.reset()
        load_a.append(_load())
        result["a_big_model_s3_to_gcs"] = {
            "load_avg_1_5_15_before_after": load_a,
            "gcs_request_size": settings.gcs_request_size,
            "settings": {"transfers": settings.transfers,
                         "concurrency": settings.concurrency,
                         "chunk_size": settings.chunk_size},
            "resumable_threshold": settings.resumable_threshold,
            "bytes": total, "files": len(files),
            "fedctl_seconds": round(fed, 2), "rclone_seconds": round(rc, 2),
            "fedctl_MiB_s": round(total / fed / 2**20, 1),
            "rclone_MiB_s": round(total / rc / 2**20, 1),
            "throughput_ratio_fedctl_over_rclone": round(rc / fed, 2),
            "fedctl_seal_seconds_not_included": round(seal, 2),
            "origin_bytes_read": {"fedctl": fed_read, "rclone": rc_read},
        }
        print(json.dumps(result["a_big_model_s3_to_gcs"]), file=sys.stderr)

        # (b) no-op re-sync of N small objects S3 -> GCS
        small = {f"d{i // 100:03d}/f{i % 100:02d}.txt": b"%d\n" % i * 8
                 for i in range(args.small)}
        upload_files(origin, "small", small, workers=16)  # type: ignore[arg-type]
        Syncer(opts).source_manifest(origin, "small", "v1")
        [first] = Syncer(SyncOptions(transfers=16)).sync(
            origin, Syncer().read_manifest(origin, "small", "v1") or _die(), [gcs])
        assert first.ok
        rclone(conf, "copy", "--transfers", "16", remote(cfgs["origin"], "small/v1"),
               remote(cfgs["gcs-main"], "rclone/small/v1"))
        load_b = [_load()]
        t = time.perf_counter()
        _, [noop] = Syncer(opts).fanout(origin, "small", "v1", [gcs])  # as the CLI does
        fed_noop = time.perf_counter() - t
        assert noop.copied == [] and not noop.published
        cli_out = tmp / "cli-noop.out"
        fed_cli, cli_rss, rc_cli = run_child(
            [*fedctl, "sync", "origin:small/v1", "--to", "gcs-main", "-o", "json"], cli_out)
        assert rc_cli == 0, cli_out.read_text()[-2000:]
        rc_noop = rclone(conf, "sync", "--checksum", remote(cfgs["origin"], "small/v1"),
                         remote(cfgs["gcs-main"], "rclone/small/v1"))
        rc_noop_default = rclone(conf, "sync", remote(cfgs["origin"], "small/v1"),
                                 remote(cfgs["gcs-main"], "rclone/small/v1"))
        load_b.append(_load())
        result["b_noop_resync_small_objects"] = {
            "load_avg_1_5_15_before_after": load_b,
            "objects": args.small,
            "fedctl_seconds_engine": round(fed_noop, 2),
            "fedctl_seconds_cli_process": round(fed_cli, 2),
            "rclone_seconds_checksum": round(rc_noop, 2),
            "rclone_seconds_default_modtime": round(rc_noop_default, 2),
            "time_ratio_engine_over_rclone_checksum": round(fed_noop / rc_noop, 2),
            "time_ratio_cli_over_rclone_checksum": round(fed_cli / rc_noop, 2),
            "fedctl_cli_peak_rss_MiB": round(cli_rss / 2**20, 1),
            "fedctl_cli_copied": sum(1 for x in cli_out.read_text().splitlines()
                                     if x.startswith("{") and json.loads(x)["event"] == "file"),
        }
        print(json.dumps(result["b_noop_resync_small_objects"]), file=sys.stderr)

        # (c) fan-out to 8 edge stores in 2 regions
        fan = {f"w{i}.bin": os.urandom(args.fanout_mib << 20) for i in range(4)}
        upload_files(origin, "fan", fan, workers=4)  # type: ignore[arg-type]
        Syncer(opts).source_manifest(origin, "fan", "v1")
        fan_bytes = sum(len(v) for v in fan.values())
        edges = [stores[n] for n in cfgs if n not in ("origin", "gcs-main")]
        proxy.reset()
        load_c = [_load()]
        t = time.perf_counter()
        plan, results = Syncer(opts).fanout(origin, "fan", "v1", edges)
        fed_fan = time.perf_counter() - t
        assert all(x.ok and x.published for x in results), [x.errors for x in results]
        fed_read = proxy.reset()
        t = time.perf_counter()
        for e in edges:
            rclone(conf, "copy", remote(cfgs["origin"], "fan/v1"),
                   remote(cfgs[e.name], "rclone/fan/v1"))
        rc_fan = time.perf_counter() - t
        rc_read = proxy.reset()
        load_c.append(_load())
        result["c_fanout_8_edges_2_regions"] = {
            "load_avg_1_5_15_before_after": load_c,
            "model_bytes": fan_bytes, "relays": dict(plan.relays),
            "fedctl_origin_bytes_read": fed_read, "rclone_origin_bytes_read": rc_read,
            "fedctl_origin_copies": round(fed_read / fan_bytes, 2),
            "rclone_origin_copies": round(rc_read / fan_bytes, 2),
            "fedctl_seconds": round(fed_fan, 2), "rclone_seconds": round(rc_fan, 2),
        }
        print(json.dumps(result["c_fanout_8_edges_2_regions"]), file=sys.stderr)

        # (d) peak RSS of whole sync processes: S3 -> disk, then disk -> S3 (model of (a))
        mem: dict[str, Any] = {"memory_budget": args.memory_budget, "bytes": total}
        for label, src, dst in (("s3_to_disk", "origin", "eu-disk-1"),
                                ("disk_to_s3", "eu-disk-1", "ap-s3-1")):
            out = tmp / f"mem-{label}.out"
            secs, rss, code = run_child([*fedctl, "sync", f"{src}:big/v1", "--to", dst,
                                         "--memory-budget", args.memory_budget, "-o",
                                         "json"], out)
            assert code == 0, out.read_text()[-2000:]
            rsecs, rrss, rcode = run_child(
                [str(RCLONE), "--config", str(conf), "copy", remote(cfgs[src], "big/v1"),
                 remote(cfgs[dst], "rclone-mem/big/v1")], tmp / f"rclone-{label}.out")
            assert rcode == 0
            mem[label] = {"fedctl_peak_rss_MiB": round(rss / 2**20, 1),
                          "fedctl_seconds": round(secs, 2),
                          "rclone_peak_rss_MiB": round(rrss / 2**20, 1),
                          "rclone_seconds": round(rsecs, 2)}
        result["d_peak_rss"] = mem
        for s in stores.values():
            s.close()
    finally:
        lf.down()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result, indent=1))
    return 0


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _die() -> Any:
    raise SystemExit("origin manifest missing")


if __name__ == "__main__":
    sys.exit(main())
