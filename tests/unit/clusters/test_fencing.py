"""The fence record on a MemberCluster: written by merge patches, read back by fence_record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from federation.clusters.fencing import (
    FENCE_REASON,
    FENCED_AT,
    FENCED_BY,
    Fence,
    InvalidFence,
    fence_patch,
    fence_record,
    format_time,
    parse_time,
    unfence_patch,
)

AT = datetime(2026, 12, 5, 9, 10, 26, tzinfo=UTC)


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch, as the API server applies it."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def mc(annotations: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "member2", "annotations": {"other": "kept"}}
    if annotations is not None:
        meta["annotations"] = annotations
    return {"apiVersion": "fedctl.dev/v1alpha1", "kind": "MemberCluster", "metadata": meta,
            "spec": {"endpoint": "https://127.0.0.1:1"}}


def test_no_record_is_no_fence() -> None:
    assert fence_record(mc()) is None
    assert fence_record({"metadata": {"name": "x"}}) is None
    assert fence_record({}) is None


def test_patch_round_trip_and_unfence_restores_other_annotations() -> None:
    obj = merge(mc(), fence_patch("alice", AT, "rack power lost"))
    assert obj["metadata"]["annotations"] == {
        "other": "kept", FENCED_BY: "alice", FENCED_AT: "2026-12-05T09:10:26Z",
        FENCE_REASON: "rack power lost"}
    fence = fence_record(obj)
    assert fence == Fence("operator", "alice", AT, "rack power lost")
    assert fence.describe() == "by alice at 2026-12-05T09:10:26Z: rack power lost"
    assert fence.to_json() == {"source": "operator", "by": "alice",
                               "at": "2026-12-05T09:10:26Z", "reason": "rack power lost"}
    cleared = merge(obj, unfence_patch())
    assert cleared["metadata"]["annotations"] == {"other": "kept"}
    assert fence_record(cleared) is None


def test_refence_without_reason_drops_the_old_reason() -> None:
    obj = merge(mc(), fence_patch("alice", AT, "first"))
    obj = merge(obj, fence_patch("bob", AT + timedelta(hours=1)))
    fence = fence_record(obj)
    assert fence is not None and (fence.by, fence.reason) == ("bob", "")
    assert fence.describe() == "by bob at 2026-12-05T10:10:26Z"


def test_patch_carries_resource_version_for_optimistic_concurrency() -> None:
    assert fence_patch("a", AT, resource_version="42")["metadata"]["resourceVersion"] == "42"
    assert unfence_patch("43")["metadata"]["resourceVersion"] == "43"
    assert "resourceVersion" not in fence_patch("a", AT)["metadata"]


def test_time_is_written_in_utc() -> None:
    est = datetime(2026, 12, 5, 4, 10, 26, 999, tzinfo=timezone(timedelta(hours=-5)))
    assert format_time(est) == "2026-12-05T09:10:26Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2026, 12, 5))


def test_empty_by_is_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        fence_patch("  ", AT)


@pytest.mark.parametrize("text, expected", [
    ("2026-12-05T09:10:26Z", AT),
    ("2026-12-05t11:10:26+02:00", AT),
    ("2026-12-05 09:10:26.5z", AT + timedelta(milliseconds=500)),
])
def test_parse_time_accepts_rfc3339(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["2026-12-05T09:10:26", "20261205T091026Z", "yesterday",
                                  "2026-13-05T09:10:26Z"])
def test_parse_time_rejects_others(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


@pytest.mark.parametrize("annotations, problem", [
    ({FENCE_REASON: "why"}, f"['{FENCED_BY}'] is missing"),
    ({FENCED_BY: "alice"}, f"['{FENCED_AT}'] is missing"),
    ({FENCED_BY: "", FENCED_AT: "2026-12-05T09:10:26Z"}, f"['{FENCED_BY}'] is missing or empty"),
    ({FENCED_BY: "alice", FENCED_AT: "last tuesday"}, "not an RFC 3339 time"),
    ({FENCED_BY: 7, FENCED_AT: "2026-12-05T09:10:26Z"}, "must be a string"),
])
def test_damaged_record_is_an_error_naming_the_annotation(
        annotations: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidFence) as info:
        fence_record(mc(annotations))
    text = str(info.value)
    assert text.startswith("MemberCluster member2: ") and problem in text
    assert "fedctl clusters unfence" in text
