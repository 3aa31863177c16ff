"""What the hub's caches keep of an object: the parts it reads, with shared strings.

A watch event is decoded into its own dicts, so every one of a template's ~150 keys
("metadata", "name", "resources", ...) is a separate string object, repeated in each of
10,000 objects. ``interned`` rebuilds the tree with keys and short string values taken
from ``sys.intern``'s table: one object per distinct string, shared by every cached
object. Measured on the objects of ``bench/hub_scale.py``: a template 11.0 -> 5.9 KB, a
binding 7.0 -> 3.5 KB, a member copy 13.1 -> 6.8 KB (after ``without_managed_fields``).

Cached objects are shared and must not be mutated (they never were: the hub copies
before it changes anything).
"""

from __future__ import annotations

import sys
from typing import Any

# Longer strings are rarely repeated across objects (uids are 36, resourceVersions and
# timestamps shorter but unique); short ones are names, labels, images, quantities.
INTERN_MAX = 64


def interned(obj: Any) -> Any:
    """``obj`` (a JSON tree) with dict keys and string values of up to ``INTERN_MAX``
    characters interned. New containers; nothing else changes."""
    if isinstance(obj, dict):
        return {sys.intern(k) if isinstance(k, str) else k: interned(v)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [interned(v) for v in obj]
    if isinstance(obj, str) and len(obj) <= INTERN_MAX:
        return sys.intern(obj)
    return obj


def without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without ``metadata.managedFields`` (often the biggest part of it) and
    the last-applied annotation; nothing fedctl reads."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return obj
    meta.pop("managedFields", None)
    ann = meta.get("annotations")
    if isinstance(ann, dict):
        ann.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    return obj


def cached_form(obj: dict[str, Any]) -> dict[str, Any]:
    """The reflector transform for the hub's object caches (templates, bindings,
    policies, member copies, referenced objects)."""
    out: dict[str, Any] = interned(without_managed_fields(obj))
    return out
