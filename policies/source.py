"""YAML loading that remembers where every value came from.

``load_documents`` parses a (multi-document) YAML text and returns ``Document`` objects:
plain Python data plus a map from field path to line number, so validation errors can say
``file:line: spec.placement.gpu.count: ...``. Nothing here does I/O except ``load_file``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from federation.errors import InputError

PathKey = tuple[str | int, ...]


def format_path(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


@dataclass(frozen=True)
class Document:
    data: Any
    file: str
    index: int  # position in a multi-document stream, from 0
    start_line: int
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, path: PathKey) -> int:
        """Line (1-based) of the value at ``path`` or of its nearest ancestor."""
        probe = tuple(path)
        while probe:
            if probe in self.lines:
                return self.lines[probe]
            probe = probe[:-1]
        return self.start_line

    def error(self, path: PathKey, message: str, *, hint: str | None = None) -> InputError:
        return InputError(
            message,
            file=self.file,
            line=self.line_of(path),
            path=format_path(path) or None,
            hint=hint,
        )


def _construct(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(
                    None, None, "YAML merge keys (<<) are not supported", key_node.start_mark
                )
            key = _scalar(key_node)
            if not isinstance(key, str):
                key = str(key)
            if key in out:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            child = (*path, key)
            lines[child] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, child, lines)
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, i), lines) for i, item in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise yaml.constructor.ConstructorError(
            None, None, "expected a scalar key", node.start_mark
        )
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    finally:
        loader.dispose()


def load_documents(text: str, file: str = "<input>") -> list[Document]:
    """Parse every document in ``text``. Raises ``InputError`` with file:line on bad YAML."""
    docs: list[Document] = []
    try:
        for index, node in enumerate(_compose_all(text)):
            if node is None:
                continue
            lines: dict[PathKey, int] = {}
            data = _construct(node, (), lines)
            docs.append(Document(data, file, index, node.start_mark.line + 1, lines))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise InputError(
            f"invalid YAML: {problem}", file=file, line=line, hint="fix the YAML syntax"
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {exc}", file=file) from None
    return docs


def _compose_all(text: str) -> Iterator[yaml.Node | None]:
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            yield loader.get_node()
    finally:
        loader.dispose()


def load_file(path: str | Path) -> list[Document]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", file=str(p), hint="check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read file: {exc}", file=str(p)) from None
    return load_documents(text, str(p))
