"""The fence record on a MemberCluster: the member's workloads are known to be stopped (pure).

A fence is an explicit statement, like a force-delete, that nothing of fedctl's still runs
on a member, so the hub may start training copies elsewhere without waiting for the old
copy to be deleted there. ``fedctl clusters fence`` records it as annotations on the
MemberCluster (a merge patch; ``unfence`` removes them):

* ``fedctl.dev/fenced-by``: who stated it (required);
* ``fedctl.dev/fenced-at``: when, RFC 3339 in UTC (required);
* ``fedctl.dev/fence-reason``: why (optional).

``fence_record(mc)`` reads it back as a ``Fence``; the hub and the CLI share it. A fence has
a ``source``: ``"operator"`` for this record. The member-side agent's lease (pull mode) will
be a second source, a ``Fence(source="agent-lease", ...)`` built from the lease, so readers
of ``Fence`` need not care where it came from.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from federation.errors import FedctlError

FENCED_BY = "fedctl.dev/fenced-by"
FENCED_AT = "fedctl.dev/fenced-at"
FENCE_REASON = "fedctl.dev/fence-reason"
ANNOTATIONS = (FENCED_BY, FENCED_AT, FENCE_REASON)

_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")

FenceSource = Literal["operator", "agent-lease"]


class InvalidFence(FedctlError):
    """A MemberCluster carries a partial or malformed fence record."""


@dataclass(frozen=True, slots=True)
class Fence:
    source: FenceSource
    by: str
    at: datetime  # timezone-aware, UTC
    reason: str = ""

    def describe(self) -> str:
        """``by alice at 2026-12-05T09:10:26Z`` (plus ``: reason`` when there is one)."""
        text = f"by {self.by} at {format_time(self.at)}"
        return f"{text}: {self.reason}" if self.reason else text

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "by": self.by, "at": format_time(self.at),
                "reason": self.reason}


def format_time(at: datetime) -> str:
    """RFC 3339 in UTC with second precision: ``2026-12-05T09:10:26Z``."""
    if at.tzinfo is None:
        raise ValueError("fence time must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An RFC 3339 time with an explicit offset (``Z`` or ``+hh:mm``), as UTC."""
    if not _RFC3339.fullmatch(text):
        raise ValueError(f"not an RFC 3339 time (like 2026-12-05T09:10:26Z): {text!r}")
    normal = text[:10] + "T" + text[11:]
    if normal[-1] in "zZ":
        normal = normal[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(normal).astimezone(UTC)
    except ValueError as exc:  # a well-formed but impossible date or time
        raise ValueError(f"not a valid time: {text!r} ({exc})") from None


def fence_record(mc: Mapping[str, Any]) -> Fence | None:
    """The operator's fence recorded on a MemberCluster dict, or None when it has none.

    Raises ``InvalidFence`` naming the annotation when the record is partial (a reason or
    time without ``fenced-by``, or the reverse) or its time is not RFC 3339: a reader must
    not treat a damaged record as a fence (the hub would start copies elsewhere).
    """
    meta = mc.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    if not isinstance(annotations, Mapping) or not any(k in annotations for k in ANNOTATIONS):
        return None
    name = meta.get("name") if isinstance(meta, Mapping) else None
    where = f"MemberCluster {name}" if name else "MemberCluster"
    hint = "run `fedctl clusters unfence` and fence it again"
    values: dict[str, str] = {}
    for key in ANNOTATIONS:
        value = annotations.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidFence(f"{where}: metadata.annotations[{key!r}] must be a string",
                               hint=hint)
        values[key] = (value or "").strip()
    for key in (FENCED_BY, FENCED_AT):
        if not values[key]:
            raise InvalidFence(f"{where}: partial fence record, "
                               f"metadata.annotations[{key!r}] is missing or empty", hint=hint)
    try:
        at = parse_time(values[FENCED_AT])
    except ValueError as exc:
        raise InvalidFence(f"{where}: metadata.annotations[{FENCED_AT!r}]: {exc}",
                           hint=hint) from None
    return Fence("operator", values[FENCED_BY], at, values[FENCE_REASON])


def fence_patch(by: str, at: datetime, reason: str = "",
                resource_version: str | None = None) -> dict[str, Any]:
    """The JSON merge patch that records an operator's fence.

    With ``resource_version`` the API server rejects the patch (409 Conflict) when the
    object changed since it was read, so two operators cannot both fence it. An empty
    reason removes a reason left by an earlier record.
    """
    if not by.strip():
        raise ValueError("a fence needs a non-empty 'by'")
    metadata: dict[str, Any] = {"annotations": {
        FENCED_BY: by.strip(), FENCED_AT: format_time(at),
        FENCE_REASON: reason.strip() or None}}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {"metadata": metadata}


def unfence_patch(resource_version: str | None = None) -> dict[str, Any]:
    """The JSON merge patch that removes the fence record (null deletes a key)."""
    metadata: dict[str, Any] = {"annotations": dict.fromkeys(ANNOTATIONS)}
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    return {"metadata": metadata}
