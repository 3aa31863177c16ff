"""Key hygiene: relative paths inside a model version never escape their prefix."""

from __future__ import annotations

import re

from distributors.errors import UnsafeKey

# Non-empty segments without '/', backslash or control characters, joined by single '/'.
_SEGMENT = r"[^/\\\x00-\x1f\x7f]+"
_CLEAN = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_DOT_SEGMENT = re.compile(r"(?:^|/)\.\.?(?:/|$)")


def check_relative(path: str, *, what: str = "key") -> str:
    """Return ``path`` if it is a clean relative key; raise ``UnsafeKey`` otherwise.

    Rejected: empty, absolute (``/x``), backslashes, ``.``/``..``/empty segments, NUL and
    control characters. Keys are compared byte-for-byte, so no normalisation happens.
    """
    if _CLEAN.fullmatch(path) and not _DOT_SEGMENT.search(path):
        return path  # fast path (manifests of 10,000 entries); failures explained below
    if not path:
        raise UnsafeKey(f"empty {what}")
    if path.startswith("/"):
        raise UnsafeKey(f"{what} {path!r} is absolute", hint="keys are relative to a prefix")
    if "\\" in path:
        raise UnsafeKey(f"{what} {path!r} contains a backslash")
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise UnsafeKey(f"{what} {path!r} contains control characters")
    for seg in path.split("/"):
        if seg in ("", ".", ".."):
            raise UnsafeKey(f"{what} {path!r} escapes its prefix or has an empty segment",
                            hint="use plain relative paths without '.', '..' or '//'")
    return path


def check_name(name: str, *, what: str) -> str:
    """A model or version name: one clean path segment."""
    check_relative(name, what=what)
    if "/" in name:
        raise UnsafeKey(f"{what} {name!r} must not contain '/'")
    return name


def join(prefix: str, path: str) -> str:
    """``prefix/path`` with ``path`` checked; ``prefix`` may be empty."""
    check_relative(path)
    prefix = prefix.strip("/")
    return f"{prefix}/{path}" if prefix else path


def relative_to(prefix: str, key: str) -> str:
    """The part of ``key`` under ``prefix/`` (checked)."""
    prefix = prefix.strip("/")
    if prefix:
        if not key.startswith(prefix + "/"):
            raise UnsafeKey(f"key {key!r} is not under {prefix!r}")
        key = key[len(prefix) + 1:]
    return check_relative(key)
