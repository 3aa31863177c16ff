"""Keys, manifests, planner, relay and retention: pure functions, table-driven."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from distributors.base import ObjectMeta
from distributors.errors import ManifestError, UnsafeKey
from distributors.keys import check_relative, join, relative_to
from distributors.manifest import FileEntry, Manifest, Receipt
from distributors.planner import Kind, plan_destination, plan_file, refresh_source
from distributors.progress import RateLimiter, parse_rate
from distributors.relay import StoreInfo, plan_fanout
from distributors.retention import versions_to_delete


@pytest.mark.parametrize("bad", ["", "/etc/passwd", "a/../../b", "..", "a//b", "./a", "a/.",
                                 "a\\b", "a\x00b", "x/\n"])
def test_unsafe_keys_are_rejected(bad: str) -> None:
    with pytest.raises(UnsafeKey):
        check_relative(bad)
    with pytest.raises(UnsafeKey):
        join("models/m1", bad)


def test_clean_keys_pass() -> None:
    assert join("p/", "a/b.bin") == "p/a/b.bin"
    assert join("", "a") == "a"
    assert relative_to("p", "p/a/b") == "a/b"
    with pytest.raises(UnsafeKey):
        relative_to("p", "q/a")


E1 = FileEntry("a.bin", 10, "11" * 32, "AAAAAQ==")
E2 = FileEntry("b/c.bin", 5, "22" * 32, "AAAAAg==")


def test_manifest_roundtrip_and_identity() -> None:
    m = Manifest.build("m", "v1", [E2, E1], "2026-01-01T00:00:00Z")
    assert [f.path for f in m.files] == ["a.bin", "b/c.bin"]
    again = Manifest.from_json(m.to_json())
    assert again == m and again.identity == m.identity
    changed = Manifest.build("m", "v1", [E1, FileEntry("b/c.bin", 5, "33" * 32, "AAAAAg==")])
    assert changed.identity != m.identity
    # created is not part of the identity: the same content is the same version
    assert Manifest.build("m", "v1", [E1, E2], "other").identity == m.identity


def test_tampered_or_bad_manifests_are_rejected() -> None:
    m = Manifest.build("m", "v1", [E1])
    with pytest.raises(ManifestError):
        Manifest.from_json(m.to_json().replace(b'"size": 10', b'"size": 11'))
    with pytest.raises(ManifestError):
        Manifest.from_json(b"{not json")
    with pytest.raises(UnsafeKey):
        Manifest.build("m", "v1", [FileEntry("../x", 1, "", "")])
    with pytest.raises(ManifestError):
        Manifest.build("m", "v1", [E1, E1])


def meta(path: str, size: int, crc: str | None, fp: str = "g1") -> ObjectMeta:
    return ObjectMeta(key=path, size=size, crc32c=crc, fingerprint=fp)


@pytest.mark.parametrize(("listed", "receipt", "kind"), [
    (None, None, Kind.COPY),
    (meta("a.bin", 9, E1.crc32c), None, Kind.COPY),  # size differs
    (meta("a.bin", 10, "AAAAAA=="), None, Kind.COPY),  # same size, other content
    (meta("a.bin", 10, E1.crc32c), None, Kind.SKIP),
    (meta("a.bin", 10, None), None, Kind.CHECK),  # a disk: no checksum, no receipt
    (meta("a.bin", 10, None, "g1"), {"a.bin": (E1.sha256, "g1")}, Kind.SKIP),
    (meta("a.bin", 10, None, "g2"), {"a.bin": (E1.sha256, "g1")}, Kind.CHECK),  # rewritten
    (meta("a.bin", 10, None, "g1"), {"a.bin": ("ff" * 32, "g1")}, Kind.CHECK),  # old content
])
def test_plan_file(listed: ObjectMeta | None, receipt: dict[str, tuple[str, str]] | None,
                   kind: Kind) -> None:
    r = Receipt("x", receipt) if receipt is not None else None
    assert plan_file(E1, listed, r).kind is kind


def test_plan_destination_unpublishes_before_changing_a_published_version() -> None:
    old = Manifest.build("m", "v1", [E1, E2])
    new = Manifest.build("m", "v1", [E1, FileEntry("b/c.bin", 5, "33" * 32, "AAAAAw==")])
    listing = {"a.bin": meta("a.bin", 10, E1.crc32c),
               "b/c.bin": meta("b/c.bin", 5, E2.crc32c),
               "stale.txt": meta("stale.txt", 1, "x")}
    plan = plan_destination("d", new, old, Receipt(old.identity, {}), listing)
    assert [(a.kind, a.path) for a in plan.actions] == [
        (Kind.SKIP, "a.bin"), (Kind.COPY, "b/c.bin"), (Kind.DELETE, "stale.txt")]
    assert plan.unpublish_first and plan.publish
    same = plan_destination("d", old, old, Receipt(old.identity, {}),
                            {k: v for k, v in listing.items() if k != "stale.txt"})
    assert same.noop and not same.unpublish_first


def test_fresh_destination_is_not_unpublished() -> None:
    m = Manifest.build("m", "v1", [E1])
    plan = plan_destination("d", m, None, None, {})
    assert not plan.unpublish_first and plan.publish and plan.copy_bytes == 10


@given(st.binary(min_size=1, max_size=64), st.integers(0, 63), st.integers(1, 255))
def test_same_size_change_is_never_skipped(data: bytes, pos: int, flip: int) -> None:
    from distributors.checksums import digest_of

    pos %= len(data)
    changed = bytearray(data)
    changed[pos] ^= flip
    d_old, d_new = digest_of([data]), digest_of([bytes(changed)])
    entry = FileEntry("f", len(data), d_new.sha256, d_new.crc32c)
    # The destination holds the old bytes; its receipt vouches for the old content.
    listed = meta("f", len(data), d_old.crc32c)
    assert plan_file(entry, listed, Receipt("x", {"f": (d_old.sha256, "g1")})).kind is Kind.COPY
    no_crc = meta("f", len(data), None)
    assert plan_file(entry, no_crc, Receipt("x", {"f": (d_old.sha256, "g1")})).kind \
        is Kind.CHECK


def test_refresh_source_rehashes_only_changed_objects() -> None:
    m = Manifest.build("m", "v1", [E1, E2])
    receipt = Receipt(m.identity, {"a.bin": (E1.sha256, "g1"), "b/c.bin": (E2.sha256, "g1")})
    listing = {"a.bin": meta("m/v1/a.bin", 10, None, "g1"),
               "b/c.bin": meta("m/v1/b/c.bin", 5, None, "g9"),  # rewritten, same size
               "new.bin": meta("m/v1/new.bin", 3, None, "g1")}
    r = refresh_source(m, receipt, listing)
    assert [e.path for e in r.reuse] == ["a.bin"]
    assert [x.key for x in r.rehash] == ["m/v1/b/c.bin", "m/v1/new.bin"]
    assert refresh_source(None, None, listing).reuse == ()


def _edges() -> list[StoreInfo]:
    out = []
    for region in ("eu", "ap"):
        out.append(StoreInfo(f"{region}-relay", region, False, "s3|b"))
        out += [StoreInfo(f"{region}-edge-{i}", region, True, f"s3|{region}{i}")
                for i in range(3)]
    return out


def test_fanout_reads_origin_once_per_region() -> None:
    origin = StoreInfo("origin", "us", False, "s3|a")
    plan = plan_fanout(origin, _edges())
    assert dict(plan.relays) == {"ap": "ap-relay", "eu": "eu-relay"}
    first, second = plan.stages
    assert {h.source for h in first} == {"origin"} and len(first) == 2
    assert all(h.source.endswith("-relay") and h.source[:2] == h.dest[:2] for h in second)
    assert plan.origin_reads == 2
    direct = plan_fanout(origin, _edges(), relay=False)
    assert direct.origin_reads == 8


def test_fanout_prefers_server_side_relay_and_skips_origin_itself() -> None:
    origin = StoreInfo("origin", "us", False, "s3|a")
    targets = [StoreInfo("b", "eu", True, "gcs|x"), StoreInfo("a", "eu", True, "s3|a"),
               origin]
    plan = plan_fanout(origin, targets)
    assert dict(plan.relays) == {"eu": "a"}
    assert plan.stages[0][0].server_side and plan.origin_reads == 0


def test_retention() -> None:
    versions = [("v1", "2026-01"), ("v2", "2026-02"), ("v3", "2026-03"), ("v4", "2026-04")]
    assert versions_to_delete(versions, 2, set()) == ["v2", "v1"]
    assert versions_to_delete(versions, 1, {"v2"}) == ["v3", "v1"]
    assert versions_to_delete(versions, 0, {"v1", "v2", "v3", "v4"}) == []
    with pytest.raises(ValueError):
        versions_to_delete(versions, -1, set())


def test_rate_limiter_with_fake_clock() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    lim = RateLimiter(100.0, clock=lambda: now[0], sleep=sleep)
    lim.acquire(100)  # the burst
    lim.acquire(50)
    assert slept == [pytest.approx(0.5)]
    assert parse_rate("50M") == 50 * 1024**2 and parse_rate("800k") == 800 * 1024
    with pytest.raises(ValueError):
        parse_rate("-1")
