"""Typed, located access to YAML mappings, collecting every error in one pass.

    r = Reader(doc)                       # errors collect in r.errors
    spec = r.mapping(doc.data, ("spec",), allowed={"replicas", "name"})
    n = r.integer(spec, ("spec", "replicas"), default=1, minimum=0)

Unknown fields get a "did you mean" hint; wrong types name the expected type. Callers
raise ``InputErrors(r.errors)`` when the pass ends with errors, so nothing is half-loaded.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from federation.errors import InputError, InputErrors
from policies.source import Document, PathKey

_MISSING: Any = object()


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def type_name(value: Any) -> str:
    """The YAML-ish name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


class Reader:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.errors: list[InputError] = []

    def fail(self, path: PathKey, message: str, hint: str | None = None) -> None:
        self.errors.append(self.doc.error(path, message, hint=hint))

    def raise_if_errors(self) -> None:
        if self.errors:
            raise InputErrors(self.errors)

    def mapping(
        self,
        value: Any,
        path: PathKey,
        *,
        allowed: Iterable[str] | None = None,
        required: Iterable[str] = (),
    ) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping, got {type_name(value)}")
            return {}
        if allowed is not None:
            allowed_set = set(allowed)
            for key in value:
                if key not in allowed_set:
                    self.fail(
                        (*path, key),
                        f"unknown field {key!r}",
                        hint=did_you_mean(key, allowed_set)
                        or f"allowed fields: {', '.join(sorted(allowed_set))}",
                    )
        for key in required:
            if value.get(key) is None:
                self.fail(path, f"missing required field {key!r}")
        return value

    def string(
        self,
        data: dict[str, Any],
        path: PathKey,
        *,
        default: Any = _MISSING,
        choices: Iterable[str] | None = None,
    ) -> Any:
        key = path[-1]
        assert isinstance(key, str)
        value = data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                self.fail(path, "missing required field")
                return ""
            return default
        if not isinstance(value, str):
            self.fail(path, f"expected a string, got {type_name(value)}")
            return default if default is not _MISSING else ""
        if choices is not None:
            options = list(choices)
            if value not in options:
                self.fail(
                    path,
                    f"invalid value {value!r}",
                    hint=did_you_mean(value, options) or f"one of: {', '.join(options)}",
                )
        return value

    def integer(
        self,
        data: dict[str, Any],
        path: PathKey,
        *,
        default: Any = _MISSING,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> Any:
        key = path[-1]
        assert isinstance(key, str)
        value = data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                self.fail(path, "missing required field")
                return 0
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(path, f"expected an integer, got {type_name(value)}")
            return default if default is not _MISSING else 0
        if minimum is not None and value < minimum:
            self.fail(path, f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            self.fail(path, f"must be <= {maximum}, got {value}")
        return value

    def number(
        self,
        data: dict[str, Any],
        path: PathKey,
        *,
        default: Any = _MISSING,
        minimum: float | None = None,
    ) -> Any:
        key = path[-1]
        assert isinstance(key, str)
        value = data.get(key, _MISSING)
        if value is _MISSING or value is None:
            if default is _MISSING:
                self.fail(path, "missing required field")
                return 0.0
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(path, f"expected a number, got {type_name(value)}")
            return default if default is not _MISSING else 0.0
        if minimum is not None and value < minimum:
            self.fail(path, f"must be >= {minimum}, got {value}")
        return float(value)

    def boolean(self, data: dict[str, Any], path: PathKey, *, default: bool = False) -> bool:
        key = path[-1]
        assert isinstance(key, str)
        value = data.get(key, _MISSING)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            self.fail(path, f"expected true or false, got {type_name(value)}")
            return default
        return value

    def sequence(self, data: dict[str, Any], path: PathKey) -> list[Any]:
        key = path[-1]
        assert isinstance(key, str)
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(path, f"expected a list, got {type_name(value)}")
            return []
        return value

    def string_map(self, data: dict[str, Any], path: PathKey) -> dict[str, str]:
        key = path[-1]
        assert isinstance(key, str)
        value = data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected a mapping of strings, got {type_name(value)}")
            return {}
        out: dict[str, str] = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, str | int | float):
                self.fail((*path, k), f"expected a string, got {type_name(v)}")
                continue
            out[str(k)] = str(v)
        return out
