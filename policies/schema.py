"""One description of the API, two uses: decoding YAML and generating CRD schemas.

Every model in ``policies.models`` is a frozen dataclass whose fields are declared with
``spec_field``: the JSON name, a description, enum values, bounds, and how to read the
value (``kind``). ``decode`` turns a located YAML mapping into a model, reporting every
problem (unknown field with "did you mean", wrong type, out of range, bad enum value) with
file, line and field path; ``openapi_schema`` turns the same model into an OpenAPI v3
structural schema for the CRD. Cross-field rules live in each model's ``check`` method,
which the decoder calls once the fields are read.

Field kinds beyond the Python type:

* ``"map"``       ``tuple[tuple[str, str], ...]`` from a mapping of strings;
* ``"numbermap"`` ``tuple[tuple[str, float], ...]`` from a mapping of numbers;
* ``"quantity"``  ``int`` bytes from a Kubernetes quantity (``40Gi``, ``500G``, ``1024``).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Callable, Hashable
from typing import Any, Protocol

from federation.model.quantity import QuantityError, memory_bytes
from policies.reader import Reader, did_you_mean, type_name
from policies.source import PathKey

MISSING: Any = dataclasses.MISSING

Fail = Callable[[PathKey, str, "str | None"], None]


class Checked(Protocol):
    """A model with cross-field rules; ``fail(path, message, hint)`` records an error."""

    def check(self, fail: Fail, path: PathKey) -> None: ...


def spec_field(
    *,
    default: Any = MISSING,
    default_factory: Any = MISSING,
    json: str | None = None,
    doc: str = "",
    required: bool = False,
    enum: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    pattern: str | None = None,
    kind: str | None = None,
    min_items: int | None = None,
) -> Any:
    """A dataclass field carrying its API description (see the module docstring)."""
    meta = {
        "json": json,
        "doc": doc,
        "required": required,
        "enum": enum,
        "minimum": minimum,
        "maximum": maximum,
        "pattern": pattern,
        "kind": kind,
        "min_items": min_items,
    }
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclasses.dataclass(frozen=True, slots=True)
class FieldInfo:
    name: str  # Python attribute
    json: str  # YAML / JSON key
    type: Any  # resolved type hint
    doc: str
    required: bool
    enum: tuple[str, ...] | None
    minimum: float | None
    maximum: float | None
    pattern: str | None
    kind: str | None
    min_items: int | None
    default: Any  # MISSING when there is none (then a factory or required)
    factory: Any


def fields_of(cls: Any) -> tuple[FieldInfo, ...]:
    """The API fields of a model class (memoised: classes are immutable)."""
    return _fields_of(typing.cast(Hashable, cls))


@functools.cache
def _fields_of(cls: Any) -> tuple[FieldInfo, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        out.append(
            FieldInfo(
                name=f.name,
                json=meta.get("json") or camel(f.name),
                type=hints[f.name],
                doc=meta.get("doc", ""),
                required=bool(meta.get("required", False)),
                enum=meta.get("enum"),
                minimum=meta.get("minimum"),
                maximum=meta.get("maximum"),
                pattern=meta.get("pattern"),
                kind=meta.get("kind"),
                min_items=meta.get("min_items"),
                default=f.default,
                factory=f.default_factory,
            )
        )
    return tuple(out)


def _optional(tp: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (tp, False)."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _default_of(info: FieldInfo) -> Any:
    if info.default is not MISSING:
        return info.default
    if info.factory is not MISSING:
        return info.factory()
    return None


class Decoder:
    """Reads models from located YAML data; errors collect in ``reader.errors``."""

    def __init__(self, reader: Reader) -> None:
        self.r = reader

    def fail(self, path: PathKey, message: str, hint: str | None = None) -> None:
        self.r.fail(path, message, hint)

    def model(self, cls: type[Any], value: Any, path: PathKey) -> Any:
        infos = fields_of(cls)
        before = len(self.r.errors)
        data = self.r.mapping(value, path, allowed=[i.json for i in infos])
        kwargs: dict[str, Any] = {}
        for info in infos:
            raw = data.get(info.json)
            fpath = (*path, info.json)
            if raw is None:
                if info.required:
                    self.fail(path, f"missing required field {info.json!r}")
                kwargs[info.name] = _default_of(info)
                continue
            kwargs[info.name] = self.value(info, info.type, raw, fpath)
        try:
            obj = cls(**kwargs)
        except (TypeError, ValueError) as exc:  # a placeholder of the wrong shape after errors
            if len(self.r.errors) == before:
                self.fail(path, f"invalid value: {exc}")
            return None
        check = getattr(obj, "check", None)
        if check is not None and len(self.r.errors) == before:
            check(self.fail, path)
        return obj

    def value(self, info: FieldInfo, tp: Any, raw: Any, path: PathKey) -> Any:
        tp, _ = _optional(tp)
        if info.kind == "quantity":
            return self._quantity(raw, path, info)
        if info.kind in ("map", "numbermap"):
            return self._map(raw, path, numbers=info.kind == "numbermap", info=info)
        if dataclasses.is_dataclass(tp):
            return self.model(typing.cast(type, tp), raw, path)
        origin = typing.get_origin(tp)
        if origin is tuple:
            item_tp = typing.get_args(tp)[0]
            if not isinstance(raw, list):
                self.fail(path, f"expected a list, got {type_name(raw)}")
                return ()
            if info.min_items is not None and len(raw) < info.min_items:
                self.fail(path, f"needs at least {info.min_items} item(s)")
            item_info = dataclasses.replace(info, min_items=None)
            items = [self.value(item_info, item_tp, item, (*path, i))
                     for i, item in enumerate(raw)]
            return tuple(items)
        if tp is str:
            return self._string(raw, path, info)
        if tp is bool:
            if not isinstance(raw, bool):
                self.fail(path, f"expected true or false, got {type_name(raw)}")
                return False
            return raw
        if tp is int:
            if isinstance(raw, bool) or not isinstance(raw, int):
                self.fail(path, f"expected an integer, got {type_name(raw)}")
                return 0
            self._bounds(raw, path, info)
            return raw
        if tp is float:
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                self.fail(path, f"expected a number, got {type_name(raw)}")
                return 0.0
            if raw != raw or raw in (float("inf"), float("-inf")):
                self.fail(path, "expected a finite number")
                return 0.0
            self._bounds(raw, path, info)
            return float(raw)
        raise TypeError(f"unsupported field type {tp!r} at {path}")  # a bug in the models

    def _string(self, raw: Any, path: PathKey, info: FieldInfo) -> str:
        if not isinstance(raw, str):
            self.fail(path, f"expected a string, got {type_name(raw)}")
            return ""
        if info.enum is not None and raw not in info.enum:
            self.fail(path, f"invalid value {raw!r}",
                      did_you_mean(raw, info.enum) or f"one of: {', '.join(info.enum)}")
        if info.pattern is not None and not re.fullmatch(info.pattern, raw):
            self.fail(path, f"invalid value {raw!r}", f"must match {info.pattern}")
        return raw

    def _bounds(self, raw: float, path: PathKey, info: FieldInfo) -> None:
        if info.minimum is not None and raw < info.minimum:
            self.fail(path, f"must be >= {_num(info.minimum)}, got {raw}")
        if info.maximum is not None and raw > info.maximum:
            self.fail(path, f"must be <= {_num(info.maximum)}, got {raw}")

    def _quantity(self, raw: Any, path: PathKey, info: FieldInfo) -> int:
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            self.fail(path, f"expected a quantity such as 40Gi, got {type_name(raw)}")
            return 0
        try:
            value = memory_bytes(raw)
        except QuantityError as exc:
            self.fail(path, str(exc))
            return 0
        except (ArithmeticError, ValueError):
            self.fail(path, f"invalid quantity {raw!r}")
            return 0
        self._bounds(value, path, info)
        return value

    def _map(self, raw: Any, path: PathKey, *, numbers: bool,
             info: FieldInfo) -> tuple[tuple[str, Any], ...]:
        if not isinstance(raw, dict):
            kind = "numbers" if numbers else "strings"
            self.fail(path, f"expected a mapping of {kind}, got {type_name(raw)}")
            return ()
        out: list[tuple[str, Any]] = []
        for k, v in raw.items():
            if numbers:
                if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
                    self.fail((*path, k), f"expected a number, got {type_name(v)}")
                    continue
                self._bounds(v, (*path, k), info)
                out.append((str(k), float(v)))
            else:
                if isinstance(v, bool) or not isinstance(v, str | int | float):
                    self.fail((*path, k), f"expected a string, got {type_name(v)}")
                    continue
                out.append((str(k), str(v)))
        return tuple(sorted(out))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# --- OpenAPI v3 (structural) schema for CRDs -------------------------------------------


def openapi_schema(cls: type[Any]) -> dict[str, Any]:
    """The structural schema of a model class, for a CRD's openAPIV3Schema."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for info in fields_of(cls):
        props[info.json] = _field_schema(info, info.type)
        if info.required:
            required.append(info.json)
    out: dict[str, Any] = {"type": "object"}
    doc = (cls.__doc__ or "").strip()
    if doc:
        out["description"] = " ".join(doc.split())
    out["properties"] = props
    if required:
        out["required"] = required
    return out


def _field_schema(info: FieldInfo, tp: Any) -> dict[str, Any]:
    tp, _ = _optional(tp)
    schema: dict[str, Any]
    if info.kind == "quantity":
        schema = {"anyOf": [{"type": "integer"}, {"type": "string"}],
                  "x-kubernetes-int-or-string": True}
    elif info.kind == "map":
        schema = {"type": "object", "additionalProperties": {"type": "string"}}
    elif info.kind == "numbermap":
        schema = {"type": "object", "additionalProperties": {"type": "number"}}
        if info.minimum is not None:
            schema["additionalProperties"]["minimum"] = info.minimum
    elif dataclasses.is_dataclass(tp):
        schema = openapi_schema(typing.cast(type, tp))
    elif typing.get_origin(tp) is tuple:
        item_info = dataclasses.replace(info, doc="", min_items=None)
        schema = {"type": "array", "items": _field_schema(item_info, typing.get_args(tp)[0])}
        if info.min_items:
            schema["minItems"] = info.min_items
    elif tp is str:
        schema = {"type": "string"}
        if info.enum is not None:
            schema["enum"] = list(info.enum)
        if info.pattern is not None:
            schema["pattern"] = f"^(?:{info.pattern})$"
    elif tp is bool:
        schema = {"type": "boolean"}
    elif tp is int:
        schema = {"type": "integer", "format": "int64"}
    elif tp is float:
        schema = {"type": "number"}
    else:  # pragma: no cover - a bug in the models
        raise TypeError(f"unsupported field type {tp!r}")
    if tp in (int, float) and info.kind is None:
        if info.minimum is not None:
            schema["minimum"] = info.minimum
        if info.maximum is not None:
            schema["maximum"] = info.maximum
    if info.doc:
        schema.pop("description", None)
        schema = {"description": info.doc, **schema}
    default = info.default
    if (default is not MISSING and default is not None
            and isinstance(default, str | int | float | bool) and info.kind is None):
        schema["default"] = default
    return schema
