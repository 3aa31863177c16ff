"""Part-level resume of large files on the real servers (MinIO, fake-gcs-server).

A sync is stopped in the middle of a large file (an injected crash through the
``SyncOptions.on_part`` seam after N stored parts, or a real SIGKILL of a CLI process);
the next run continues the journaled session and sends fewer bytes than the file has.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from distributors import manifest as mf
from distributors.progress import RecordingEvents
from distributors.resume import Journal, PartSent
from distributors.store import Store, StoreConfig, TransferSettings, open_store
from distributors.sync import Syncer, SyncOptions
from distributors.verify import verify_version
from federation.dev.localfleet import LocalFleet

from .conftest import put_files

MiB = 1024 * 1024
FLEET_FILE = Path(__file__).parents[1] / "fleet.yaml"
# Resumable from 8 MiB; S3 parts of 5 MiB (the S3 minimum), GCS requests of 4 MiB.
RESUMABLE = TransferSettings(multipart_threshold=5 * MiB, chunk_size=5 * MiB, concurrency=2,
                             resumable_threshold=8 * MiB, gcs_request_size=4 * MiB)


class Crash(Exception):
    """An injected failure between two parts (stands in for a kill)."""


def _open(configs: dict[str, StoreConfig], *names: str) -> list[Store]:
    return [open_store(configs[n], RESUMABLE) for n in names]


def _sent(events: RecordingEvents) -> int:
    return sum(int(e["bytes"]) for e in events.of("part"))


def _s3_client(cfg: StoreConfig) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=cfg.endpoint, aws_access_key_id=cfg.access_key,
        aws_secret_access_key=cfg.secret_key, region_name=cfg.region,
        config=Config(s3={"addressing_style": "path"}))


def _journaled(journal_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in Journal(journal_dir).entries()]


@pytest.mark.parametrize(("src_name", "dest_name", "crash_after"),
                         [("disk-a", "s3-a", 3), ("s3-a", "gcs-a", 2)])
def test_crash_mid_file_resumes_from_stored_parts(
        configs: dict[str, StoreConfig], model: str, tmp_path: Path, src_name: str,
        dest_name: str, crash_after: int) -> None:
    src, dest = _open(configs, src_name, dest_name)
    size = 21 * MiB + 12345
    put_files(src, model, "v1", {"weights.bin": os.urandom(size), "config.json": b"{}"})
    m = Syncer().source_manifest(src, model, "v1")
    key = mf.data_key(model, "v1", "weights.bin")
    parts: list[PartSent] = []

    def crash(p: PartSent) -> None:
        parts.append(p)
        if len(parts) == crash_after:
            raise Crash("injected crash")

    first = RecordingEvents()
    [r] = Syncer(SyncOptions(resume_dir=tmp_path, on_part=crash), first).sync(src, m, [dest])
    assert not r.ok and not r.published
    assert dest.stat(key) is None  # the half-uploaded object is not visible
    assert dest.stat(mf.manifest_key(model, "v1")) is None
    [entry] = _journaled(tmp_path)
    assert entry["size"] == size
    if dest_name == "s3-a":  # the server really holds the parts the journal names
        listed = _s3_client(configs["s3-a"]).list_parts(
            Bucket=configs["s3-a"].bucket, Key=key, UploadId=entry["session"]["upload_id"])
        assert len(listed["Parts"]) >= crash_after

    again = RecordingEvents()
    [r2] = Syncer(SyncOptions(resume_dir=tmp_path), again).sync(src, m, [dest])
    assert r2.ok and r2.published, r2.errors
    [resume] = again.of("resume")
    assert resume["session"] == "resumed"
    assert resume["held_bytes"] >= crash_after * (4 * MiB if dest_name == "gcs-a" else 5 * MiB)
    assert r2.bytes_resumed == resume["held_bytes"]
    assert _sent(again) == size - resume["held_bytes"] < size  # only the missing parts
    assert _journaled(tmp_path) == []
    assert verify_version(dest, model, "v1", deep=True).ok


def test_expired_s3_session_falls_back_to_a_fresh_upload(
        configs: dict[str, StoreConfig], model: str, tmp_path: Path) -> None:
    src, dest = _open(configs, "disk-a", "s3-a")
    size = 12 * MiB
    put_files(src, model, "v1", {"weights.bin": os.urandom(size)})
    m = Syncer().source_manifest(src, model, "v1")

    def crash(p: PartSent) -> None:
        raise Crash("injected crash")

    Syncer(SyncOptions(resume_dir=tmp_path, on_part=crash)).sync(src, m, [dest])
    [entry] = _journaled(tmp_path)
    _s3_client(configs["s3-a"]).abort_multipart_upload(
        Bucket="models", Key=mf.data_key(model, "v1", "weights.bin"),
        UploadId=entry["session"]["upload_id"])  # as a bucket lifecycle rule would
    events = RecordingEvents()
    [r] = Syncer(SyncOptions(resume_dir=tmp_path), events).sync(src, m, [dest])
    assert r.ok and r.published
    assert [e["session"] for e in events.of("resume")] == ["stale"]
    assert _sent(events) == size and r.bytes_resumed == 0
    assert verify_version(dest, model, "v1", deep=True).ok


def test_fake_gcs_server_status_query_finalises_the_object(
        configs: dict[str, StoreConfig], model: str) -> None:
    """Why fedctl does not send the resumable status query to fake-gcs-server (1.54):
    it answers ``PUT Content-Range: bytes */N`` by committing the bytes received so far
    as the finished object (real GCS answers 308 with the persisted range)."""
    cfg = configs["gcs-a"]
    name = mf.data_key(model, "v1", "probe.bin")
    start = requests.post(f"{cfg.endpoint}/upload/storage/v1/b/{cfg.bucket}/o",
                          params={"uploadType": "resumable", "name": name}, json={},
                          timeout=10)
    url = start.headers["Location"]
    chunk = requests.put(url, data=b"x" * (256 * 1024), timeout=10,
                         headers={"Content-Range": f"bytes 0-{256 * 1024 - 1}/{MiB}"})
    assert chunk.status_code == 308
    query = requests.put(url, headers={"Content-Range": f"bytes */{MiB}"}, timeout=10)
    assert query.status_code == 200  # real GCS: 308
    assert int(query.json()["size"]) == 256 * 1024  # a truncated object now exists
    requests.delete(f"{cfg.endpoint}/storage/v1/b/{cfg.bucket}/o/"
                    f"{requests.utils.quote(name, safe='')}", timeout=10)


def _cli(local_fleet: LocalFleet, *args: str) -> list[str]:
    return [sys.executable, "-m", "federation.cli.main", "artifacts", "--fleet",
            str(FLEET_FILE), "--state-dir", str(local_fleet.state_dir), *args]


def test_sigkilled_cli_resumes_large_file_part_by_part(
        local_fleet: LocalFleet, configs: dict[str, StoreConfig], model: str,
        tmp_path: Path) -> None:
    disk, dest = _open(configs, "disk-a", "s3-a")
    size = 40 * MiB + 7
    put_files(disk, model, "v1", {"weights.bin": os.urandom(size)})
    Syncer().source_manifest(disk, model, "v1")
    journal = tmp_path / "journal"
    base = ["sync", f"disk-a:{model}/v1", "--to", "s3-a", "--chunk-size", "5M",
            "--resumable-threshold", "8M", "--concurrency", "1", "--resume-dir",
            str(journal), "-o", "json"]
    proc = subprocess.Popen(_cli(local_fleet, *base, "--bwlimit", "20M"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    before = 0
    for line in proc.stdout:
        ev = json.loads(line)
        if ev["event"] == "part":
            before += int(ev["bytes"])
            if before >= 10 * MiB:
                os.killpg(proc.pid, signal.SIGKILL)  # a real kill, mid-file
                break
    proc.wait(timeout=60)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    key = mf.data_key(model, "v1", "weights.bin")
    assert dest.stat(key) is None and dest.stat(mf.manifest_key(model, "v1")) is None
    [entry] = _journaled(journal)
    held = _s3_client(configs["s3-a"]).list_parts(
        Bucket="models", Key=key, UploadId=entry["session"]["upload_id"])["Parts"]
    assert len(held) >= 2

    done = subprocess.run(_cli(local_fleet, *base), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    events = [json.loads(x) for x in done.stdout.splitlines()]
    resent = sum(int(e["bytes"]) for e in events if e["event"] == "part")
    [resume] = [e for e in events if e["event"] == "resume"]
    assert resume["held_bytes"] >= 10 * MiB
    assert resent == size - resume["held_bytes"] < size
    assert any(e["event"] == "published" for e in events)
    assert "upload_id" not in done.stdout and entry["session"]["upload_id"] not in done.stdout
    assert _journaled(journal) == []
    assert verify_version(dest, model, "v1", deep=True).ok
