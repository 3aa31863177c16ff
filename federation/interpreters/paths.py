"""A small path language over Kubernetes objects (plain dicts), used by interpreters.

``spec.template.spec.containers[*]`` — dotted keys; ``[*]`` takes every list item;
``*`` as a whole segment takes every mapping value (``spec.pytorchReplicaSpecs.*``).
``resolve`` returns concrete paths (tuples of keys and indexes) with their values, so the
same expression can be used to read and, through ``set_at``, to write.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from typing import Any

Concrete = tuple[str | int, ...]


class PathSyntaxError(ValueError):
    pass


def parse(expr: str) -> tuple[str, ...]:
    """Split an expression into segments: keys, '*' (mapping values) and '[*]' (items)."""
    if not expr:
        return ()
    out: list[str] = []
    for raw in expr.split("."):
        if not raw:
            raise PathSyntaxError(f"empty segment in path {expr!r}")
        seg = raw
        star_items = seg.endswith("[*]")
        if star_items:
            seg = seg[:-3]
        if "[" in seg or "]" in seg:
            raise PathSyntaxError(f"only [*] is supported in path {expr!r}")
        if seg:
            out.append(seg)
        if star_items:
            out.append("[*]")
    return tuple(out)


def resolve(obj: Any, expr: str | tuple[str, ...],
            base: Concrete = ()) -> Iterator[tuple[Concrete, Any]]:
    """Every (concrete path, value) the expression reaches; missing keys reach nothing."""
    segments = parse(expr) if isinstance(expr, str) else expr
    yield from _walk(obj, segments, base)


def _walk(node: Any, segs: tuple[str, ...], at: Concrete) -> Iterator[tuple[Concrete, Any]]:
    if not segs:
        yield at, node
        return
    head, rest = segs[0], segs[1:]
    if head == "[*]":
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _walk(item, rest, (*at, i))
        return
    if head == "*":
        if isinstance(node, dict):
            for key in node:
                yield from _walk(node[key], rest, (*at, str(key)))
        return
    if isinstance(node, dict) and head in node:
        yield from _walk(node[head], rest, (*at, head))


def get_at(obj: Any, path: Concrete, default: Any = None) -> Any:
    node = obj
    for key in path:
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                return default
            node = node[key]
        else:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
    return node


def first(obj: Any, expr: str, default: Any = None) -> Any:
    for _path, value in resolve(obj, expr):
        return value
    return default


def set_at(obj: dict[str, Any], path: Concrete, value: Any) -> None:
    """Set a value in place, creating missing mappings along the way."""
    node: Any = obj
    for key, nxt in itertools.pairwise(path):
        if isinstance(key, int):
            node = node[key]
            continue
        if key not in node or node[key] is None:
            node[key] = [] if isinstance(nxt, int) else {}
        node = node[key]
    node[path[-1]] = value


def deep_copy(obj: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(obj)
