"""The pure parts of ``bench/staging.py``: the origin link (counting + throttle), the
model layout, argument parsing and the report the benchmark prints."""

from __future__ import annotations

import argparse
import io
from collections.abc import Iterator
from typing import Any, BinaryIO

import pytest

from bench.staging import (
    SHARDS,
    SMALL_FILES,
    OriginLink,
    PathRun,
    PublishTimes,
    StoreOutcome,
    model_layout,
    parse_bandwidths,
    parse_size,
    run_report,
)
from distributors.base import ObjectMeta, ReadStream, Store
from distributors.progress import RateLimiter


class _MemStore:
    """Just enough of a Store for the link: objects in a dict, writes recorded."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.written: list[str] = []
        self.name, self.provider, self.region, self.bucket = "origin", "s3", "r", "b"
        self.copy_domain: str | None = "s3@x"

    def native_key(self, key: str) -> str:
        return key

    def list(self, prefix: str) -> Iterator[ObjectMeta]:
        return iter(ObjectMeta(k, len(v), None, "f") for k, v in self.objects.items()
                    if k.startswith(prefix))

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None:
        v = self.objects.get(key)
        return None if v is None else ObjectMeta(key, len(v), None, "f")

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        return io.BytesIO(self.objects[key][start:end])

    def read_bytes(self, key: str) -> bytes:
        return self.objects[key]

    def write(self, key: str, stream: BinaryIO, size: int, crc32c: str) -> ObjectMeta:
        self.objects[key] = stream.read()
        self.written.append(key)
        return ObjectMeta(key, size, crc32c, "f")

    def write_bytes(self, key: str, data: bytes) -> ObjectMeta:
        self.objects[key] = data
        self.written.append(key)
        return ObjectMeta(key, len(data), None, "f")

    def copy_from(self, source: Store, src_key: str, key: str, size: int,
                  crc32c: str) -> ObjectMeta:
        raise AssertionError("not used")

    def delete(self, key: str) -> None:
        self.objects.pop(key, None)

    def close(self) -> None:
        return None


class _FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.now += s


def test_origin_link_counts_streams_and_whole_reads_but_not_writes() -> None:
    inner = _MemStore({"a": b"x" * 1000, "m.json": b"{}" * 10})
    link = OriginLink(inner, None)
    s = link.open_read("a", 100, 400)
    assert s.read(200) == b"x" * 200 and s.read() == b"x" * 100 and s.read() == b""
    s.close()
    assert link.read_bytes("m.json") == b"{}" * 10
    link.write_bytes("w", b"y" * 50)
    assert link.bytes_read == 320
    assert inner.written == ["w"]
    assert link.reset() == 320 and link.bytes_read == 0
    assert isinstance(link, Store)
    assert (link.name, link.region, link.copy_domain) == ("origin", "r", "s3@x")


def test_origin_link_throttles_every_read_through_one_bucket() -> None:
    fake = _FakeClock()
    # 1,000 bytes/s, no burst: 3,000 bytes over two streams take 3 s of sleeping
    limiter = RateLimiter(1000.0, burst=0.0, clock=fake.clock, sleep=fake.sleep)
    link = OriginLink(_MemStore({"a": b"1" * 2000, "b": b"2" * 1000}), 1000.0,
                      limiter=limiter)
    link.open_read("a").read()
    link.open_read("b").read()
    assert sum(fake.slept) == pytest.approx(3.0)
    assert link.bytes_read == 3000


def test_origin_link_without_bandwidth_never_sleeps() -> None:
    fake = _FakeClock()
    link = OriginLink(_MemStore({"a": b"1" * 5000}), None,
                      limiter=RateLimiter(None, clock=fake.clock, sleep=fake.sleep))
    link.open_read("a").read()
    assert fake.slept == [] and link.bytes_read == 5000


def test_model_layout_sums_to_the_size() -> None:
    for total in (64 << 20, 2 << 30, (64 << 20) + 7):
        layout = model_layout(total)
        assert sum(layout.values()) == total
        shards = [v for k, v in layout.items() if k.endswith(".safetensors")]
        assert len(shards) == SHARDS and len(layout) == SHARDS + SMALL_FILES
        assert max(shards) - min(shards) < SHARDS + 1


def test_parse_size_and_bandwidths() -> None:
    assert parse_size("2GiB") == 2 << 30
    assert parse_size("64MiB") == parse_size("64M") == 64 << 20
    assert parse_size("5000000") == 5_000_000
    for bad in ("2 GB x", "-1", "1KiB"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_size(bad)
    assert parse_bandwidths("200,0") == [200.0, 0.0]
    with pytest.raises(argparse.ArgumentTypeError, match="not a number"):
        parse_bandwidths("fast")
    with pytest.raises(argparse.ArgumentTypeError, match="negative"):
        parse_bandwidths("-5")


def _run(path: str, seconds: float, origin: int, server_side: set[str],
         failed: frozenset[str] = frozenset()) -> PathRun:
    stores = tuple(StoreOutcome(f"s{i}", f"s{i}" not in failed,
                                None if f"s{i}" in failed else seconds - i * 0.1,
                                f"s{i}" in server_side,
                                "StoreUnreachable: down" if f"s{i}" in failed else "")
                   for i in range(6))
    return PathRun(path, seconds, origin, stores, {"r1": "s0", "r2": "s3"}
                   if path == "relay" else {})


def test_report_assembles_paths_ratio_and_goals() -> None:
    size = 1000
    relay = _run("relay", 10.0, 2 * size + 30, {"s1", "s2", "s4", "s5"})
    naive = _run("naive", 25.0, 6 * size + 30, set())
    rep: dict[str, Any] = run_report(50e6, relay, naive, size, regions=2)
    assert rep["origin_bandwidth_MB_s"] == 50.0
    assert rep["time_ratio_relay_over_naive"] == 0.4
    r, n = rep["relay"], rep["naive"]
    assert (r["origin_copies"], n["origin_copies"]) == (2.03, 6.03)
    assert (r["bytes_written"], r["bytes_written_streamed"],
            r["bytes_written_server_side"]) == (6000, 2000, 4000)
    assert (n["bytes_written"], n["bytes_written_streamed"]) == (6000, 6000)
    assert r["stores_verified"] == 6 and r["failed"] == {}
    assert r["verified_at_seconds"]["s5"] == 9.5
    assert rep["goal"] == {"all_verified": True, "origin_bytes_one_copy_per_region": False,
                           "time_at_most_half_of_naive": True}
    # within 1% of one copy per region (manifest reads) meets the bytes goal
    relay = _run("relay", 20.0, 2 * size + 5, {"s1"}, failed=frozenset({"s2"}))
    rep = run_report(None, relay, naive, size, regions=2)
    assert rep["origin_bandwidth_MB_s"] == 0
    assert rep["goal"] == {"all_verified": False, "origin_bytes_one_copy_per_region": True,
                           "time_at_most_half_of_naive": False}
    assert rep["relay"]["failed"] == {"s2": "StoreUnreachable: down"}
    assert rep["relay"]["bytes_written"] == 5000


def test_publish_times_records_published_events() -> None:
    t = iter([10.0, 12.5, 13.0])
    pt = PublishTimes(clock=lambda: next(t))
    pt.emit({"event": "plan", "store": "a"})
    pt.emit({"event": "published", "store": "a"})
    pt.emit({"event": "published", "store": "b"})
    assert pt.at == {"a": 2.5, "b": 3.0}
