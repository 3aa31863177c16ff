"""GCS resumable uploads lose at most one request to a kill; connection pools are as large
as the parts in flight (no urllib3 "Connection pool is full")."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from distributors import manifest as mf
from distributors.base import TransferSettings
from distributors.resume import Journal
from distributors.store import StoreConfig, open_store
from distributors.sync import Syncer, SyncOptions
from distributors.verify import verify_version
from federation.dev.localfleet import LocalFleet

from .conftest import put_files

MiB = 1024 * 1024
FLEET_FILE = Path(__file__).parents[1] / "fleet.yaml"
REQUEST = 4 * MiB


def _cli(local_fleet: LocalFleet, *args: str) -> list[str]:
    return [sys.executable, "-m", "federation.cli.main", "artifacts", "--fleet",
            str(FLEET_FILE), "--state-dir", str(local_fleet.state_dir), *args]


def test_sigkill_mid_request_to_fake_gcs_loses_at_most_one_request(
        local_fleet: LocalFleet, configs: dict[str, StoreConfig], model: str,
        tmp_path: Path) -> None:
    disk = open_store(configs["disk-a"])
    gcs = open_store(configs["gcs-a"])
    size = 30 * MiB + 11
    put_files(disk, model, "v1", {"weights.bin": os.urandom(size)})
    Syncer().source_manifest(disk, model, "v1")
    journal = tmp_path / "journal"
    base = ["sync", f"disk-a:{model}/v1", "--to", "gcs-a", "--gcs-request-size", "4M",
            "--resumable-threshold", "8M", "--resume-dir", str(journal), "-o", "json"]
    # Throttled so that the next request is mid-body when the kill lands.
    proc = subprocess.Popen(_cli(local_fleet, *base, "--bwlimit", "8M"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    committed = 0
    for line in proc.stdout:
        ev = json.loads(line)
        if ev["event"] == "part":
            committed += int(ev["bytes"])
            if committed >= 3 * REQUEST:
                os.killpg(proc.pid, signal.SIGKILL)
                break
    proc.wait(timeout=60)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    key = mf.data_key(model, "v1", "weights.bin")
    assert gcs.stat(key) is None  # nothing visible from the interrupted session
    [entry] = [json.loads(p.read_text()) for p in Journal(journal).entries()]
    # the kill usually lands mid-request (throttled); if it fell between two requests,
    # nothing was in flight and the resume must still re-send only what was not committed
    assert entry["session"]["confirmed"] >= committed

    done = subprocess.run(_cli(local_fleet, *base), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    events = [json.loads(x) for x in done.stdout.splitlines()]
    [resume] = [e for e in events if e["event"] == "resume"]
    assert resume["session"] == "resumed" and resume["held_bytes"] >= committed
    resent = sum(int(e["bytes"]) for e in events if e["event"] == "part")
    assert resent == size - resume["held_bytes"]
    # Bytes the first run sent = committed + at most one request in flight; of these only
    # the in-flight request is sent again.
    assert resent <= size - committed
    assert resent + committed + REQUEST >= size
    assert verify_version(gcs, model, "v1", deep=True).ok
    assert Journal(journal).entries() == []


# 8 files x 8 parts of 5 MiB in flight: with the former pool of 32 connections, urllib3
# logged "Connection pool is full" a dozen times per run against MinIO.
@pytest.mark.parametrize("settings", [
    TransferSettings(multipart_threshold=5 * MiB, chunk_size=5 * MiB, concurrency=8,
                     transfers=8, resumable_threshold=0),  # s3transfer
    TransferSettings(multipart_threshold=5 * MiB, chunk_size=5 * MiB, concurrency=8,
                     transfers=8, resumable_threshold=8 * MiB),  # journaled parts
], ids=["s3transfer", "resumable"])
def test_many_parts_in_flight_log_no_pool_full_warning(
        configs: dict[str, StoreConfig], model: str, tmp_path: Path,
        caplog: pytest.LogCaptureFixture, settings: TransferSettings) -> None:
    disk = open_store(configs["disk-a"])
    s3 = open_store(configs["s3-a"], settings)
    put_files(disk, model, "v1", {f"shard-{i}.bin": os.urandom(40 * MiB) for i in range(8)})
    m = Syncer().source_manifest(disk, model, "v1")
    caplog.set_level(logging.WARNING)
    [r] = Syncer(SyncOptions(transfers=settings.transfers, resume_dir=tmp_path)).sync(
        disk, m, [s3])
    assert r.ok and r.published, r.errors
    assert len(r.copied) == 8
    full = [rec.getMessage() for rec in caplog.records if "pool is full" in rec.getMessage()]
    assert full == []
    s3.close()
