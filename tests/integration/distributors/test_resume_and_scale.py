"""Acceptance: killed syncs resume without re-copying; 10,000 files; relay; bad input."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from distributors import manifest as mf
from distributors.errors import AccessDenied, BucketNotFound, StoreError, StoreUnreachable
from distributors.planner import Kind
from distributors.progress import RecordingEvents
from distributors.store import ObjectMeta, ReadStream, Store, StoreConfig, open_store
from distributors.sync import Syncer, SyncOptions
from distributors.verify import verify_version
from federation.dev.localfleet import LocalFleet

from .conftest import put_files

FLEET_FILE = Path(__file__).parents[1] / "fleet.yaml"


def _cli(local_fleet: LocalFleet, *args: str) -> list[str]:
    return [sys.executable, "-m", "federation.cli.main", "artifacts", "--fleet",
            str(FLEET_FILE), "--state-dir", str(local_fleet.state_dir), *args]


def _finished(dest: Store, model: str, m: mf.Manifest) -> set[str]:
    """Files already on the destination with the manifest's content (store CRC32C)."""
    done = set()
    for f in m.files:
        meta = dest.stat(mf.data_key(model, "v1", f.path))
        if meta is not None and meta.size == f.size and meta.crc32c == f.crc32c:
            done.add(f.path)
    return done


def _reader_check(dest: Store, model: str) -> None:
    """A reader that finds a manifest must find every file it describes, intact."""
    if dest.stat(mf.manifest_key(model, "v1")) is not None:
        report = verify_version(dest, model, "v1")
        assert report.ok, f"published manifest for an incomplete version: {report.problems}"


def test_killed_sync_resumes_without_recopying_and_never_publishes_partial(
        local_fleet: LocalFleet, stores: dict[str, Store], model: str) -> None:
    src, dest = stores["disk-a"], stores["gcs-a"]
    files = {f"part-{i:02d}.bin": os.urandom(200_000 + i) for i in range(24)}
    files["weights.bin"] = os.urandom(9 * 1024 * 1024)
    put_files(src, model, "v1", files)
    m = Syncer().source_manifest(src, model, "v1")  # seal first: kills hit the copy phase
    rng = random.Random(5)
    cmd = _cli(local_fleet, "sync", f"disk-a:{model}/v1", "--to", "gcs-a", "--transfers",
               "3", "--chunk-size", "1M", "-o", "json")
    kills = 0
    for _ in range(8):
        before = _finished(dest, model, m)
        if len(before) == len(files):
            break
        kill_after = rng.randint(0, 4)  # file events to let pass before SIGKILL
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        assert proc.stdout is not None
        seen = 0
        copied: set[str] = set()
        killed = False
        for line in proc.stdout:
            ev: dict[str, Any] = json.loads(line)
            if ev["event"] == "file":
                copied.add(ev["path"])
                seen += 1
            if (ev["event"] == "plan" and kill_after == 0) or (
                    ev["event"] == "file" and seen >= kill_after):
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
        proc.wait(timeout=60)
        proc.stdout.close()
        kills += killed
        assert not copied & before, f"re-copied finished files: {sorted(copied & before)}"
        _reader_check(dest, model)
    assert kills >= 3
    before = _finished(dest, model, m)
    # A run whose kill point came after its last file finished and published the version.
    published_before = dest.stat(mf.manifest_key(model, "v1")) is not None
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    events = [json.loads(x) for x in done.stdout.splitlines()]
    recopied = {e["path"] for e in events if e["event"] == "file" and e["action"] == "copied"}
    assert not recopied & before
    assert recopied | before == set(files)
    assert published_before or any(e["event"] == "published" for e in events)
    assert verify_version(dest, model, "v1", deep=True).ok


def test_ten_thousand_small_files(stores: dict[str, Store], model: str) -> None:
    src, dest = stores["disk-a"], stores["s3-a"]
    root: Path = src.root / mf.data_prefix(model, "v1")  # type: ignore[attr-defined]
    for d in range(100):
        sub = root / f"d{d:02d}"
        sub.mkdir(parents=True)
        for i in range(100):
            (sub / f"f{i:02d}.txt").write_bytes(b"%d-%d\n" % (d, i) * 3)
    sy = Syncer(SyncOptions(transfers=16))
    m = sy.source_manifest(src, model, "v1")
    assert len(m.files) == 10_000
    [r] = sy.sync(src, m, [dest])
    assert r.ok and r.published and len(r.copied) == 10_000
    events = RecordingEvents()
    [again] = Syncer(SyncOptions(transfers=16), events).sync(src, m, [dest])
    assert (again.copied, again.checked, again.published) == ([], [], False)
    assert events.of("plan")[0]["skip"] == 10_000
    listed = Syncer().listing(dest, model, "v1")
    assert len(listed) == 10_000
    assert dest.read_bytes(mf.data_key(model, "v1", "d42/f07.txt")) == b"42-7\n" * 3
    assert dest.read_bytes(mf.manifest_key(model, "v1")) == m.to_json()


class CountingStore:
    """Delegates to a real store and counts the bytes read through it."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.bytes_read = 0
        self.cfg = getattr(inner, "cfg", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        outer = self
        stream = self.inner.open_read(key, start, end)

        class Counted:
            def read(self, n: int = -1, /) -> bytes:
                data = stream.read(n)
                outer.bytes_read += len(data)
                return data

            def close(self) -> None:
                stream.close()
        return Counted()

    def read_bytes(self, key: str) -> bytes:
        return self.inner.read_bytes(key)

    def list(self, prefix: str) -> Any:
        return self.inner.list(prefix)

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None:
        return self.inner.stat(key, checksum=checksum)


def test_relay_reads_origin_once_per_region(configs: dict[str, StoreConfig], model: str,
                                            stores: dict[str, Store]) -> None:
    put_files(stores["s3-a"], model, "v1", {"a.bin": os.urandom(300_000),
                                             "b.bin": os.urandom(5000)})
    Syncer().source_manifest(stores["s3-a"], model, "v1")
    origin = CountingStore(stores["s3-a"])
    # Two regions: r1 holds gcs-a (relay) and disk-a (edge); r2 holds the S3 mirror.
    targets = [open_store(replace(configs["gcs-a"], region="r1")),
               open_store(replace(configs["disk-a"], region="r1", edge=True)),
               open_store(replace(configs["s3-mirror"], region="r2", edge=True))]
    sy = Syncer(SyncOptions(transfers=4))
    plan, results = sy.fanout(origin, model, "v1", targets)
    assert all(r.ok and r.published for r in results)
    assert dict(plan.relays) == {"r1": "gcs-a", "r2": "s3-mirror"}
    # r2's relay shares MinIO with the origin: copied server-side, no bytes through us.
    # r1 reads the origin once; disk-a is fed from gcs-a.
    assert origin.bytes_read == 305_000
    assert sorted(results[2].server_side) == ["a.bin", "b.bin"]
    for t in targets:
        assert verify_version(t, model, "v1").ok


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_bad_stores_give_one_line_errors_naming_the_store(
        configs: dict[str, StoreConfig]) -> None:
    s3 = configs["s3-a"]
    cases: list[tuple[StoreConfig, type[StoreError]]] = [
        (replace(s3, name="no-bucket", bucket="does-not-exist"), BucketNotFound),
        (replace(s3, name="bad-creds", secret_key="wrong" * 8), AccessDenied),
        (replace(s3, name="down-s3", endpoint=f"http://127.0.0.1:{_closed_port()}"),
         StoreUnreachable),
        (replace(configs["gcs-a"], name="no-gcs-bucket", bucket="nope"), BucketNotFound),
        (replace(configs["gcs-a"], name="down-gcs",
                 endpoint=f"http://127.0.0.1:{_closed_port()}"), StoreUnreachable),
    ]
    for cfg, expected in cases:
        store = open_store(cfg)
        sy = Syncer(SyncOptions(retries=1))
        with pytest.raises(expected) as err:
            sy.listing(store, "m", "v1")
        text = str(err.value)
        assert "\n" not in text and cfg.name in text
        assert (s3.secret_key or "x") not in text and "wrong" not in text


def test_cli_ls_verify_sync_dry_run(local_fleet: LocalFleet, stores: dict[str, Store],
                                    model: str) -> None:
    put_files(stores["s3-a"], model, "v1", {"w.bin": os.urandom(1000)})
    dry = subprocess.run(_cli(local_fleet, "sync", f"s3-a:{model}/v1", "--to", "disk-a",
                              "--dry-run"), capture_output=True, text=True, check=False)
    assert dry.returncode == 0, dry.stderr
    assert "disk-a: 1 to copy" in dry.stdout
    assert stores["disk-a"].stat(mf.data_key(model, "v1", "w.bin")) is None
    ok = subprocess.run(_cli(local_fleet, "sync", f"s3-a:{model}/v1", "--to", "disk-a"),
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "published" in ok.stdout
    ls = subprocess.run(_cli(local_fleet, "ls", f"disk-a:{model}"), capture_output=True,
                        text=True, check=True)
    header, row = ls.stdout.splitlines()
    assert header.split()[:3] == ["MODEL", "VERSION", "FILES"]
    assert row.split()[:3] == [model, "v1", "1"]
    good = subprocess.run(_cli(local_fleet, "verify", f"disk-a:{model}/v1"),
                          capture_output=True, text=True, check=False)
    assert good.returncode == 0 and "OK" in good.stdout
    missing = subprocess.run(_cli(local_fleet, "verify", f"disk-a:{model}/v9"),
                             capture_output=True, text=True, check=False)
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1 and "not published" in missing.stderr
    assert Kind.COPY.value == "copy"
