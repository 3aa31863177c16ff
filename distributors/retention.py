"""Retention (pure): keep the newest N versions of a model, never one marked in use."""

from __future__ import annotations

from collections.abc import Collection, Sequence


def versions_to_delete(versions: Sequence[tuple[str, str]], keep: int,
                       in_use: Collection[str]) -> list[str]:
    """``versions`` are (version, created ISO time); newest first by (created, name).

    Returns the versions beyond the newest ``keep`` that are not in use.
    """
    if keep < 0:
        raise ValueError("keep must be >= 0")
    ordered = sorted(versions, key=lambda v: (v[1], v[0]), reverse=True)
    return [v for v, _ in ordered[keep:] if v not in in_use]
