"""Shared reader for the catalog CSV files: ``# key: value`` header lines, then CSV."""

from __future__ import annotations

import csv
import io
from importlib import resources

from federation.errors import InputError


def read_package_data(name: str) -> str:
    """Text of a file shipped in ``federation/catalog/data/``."""
    return (resources.files("federation.catalog") / "data" / name).read_text(encoding="utf-8")


def parse_csv(text: str, file: str, columns: tuple[str, ...]) -> tuple[
        dict[str, str], list[tuple[int, dict[str, str]]]]:
    """(header metadata, [(line number, row)]); raises InputError on a malformed file."""
    meta: dict[str, str] = {}
    body: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            key, sep, value = stripped.lstrip("#").partition(":")
            if sep and key.strip() and " " not in key.strip():
                meta[key.strip()] = value.strip()
            continue
        body.append((number, line))
    if not body:
        raise InputError("empty catalog", file=file)
    header_line, header = body[0]
    names = [c.strip() for c in next(csv.reader(io.StringIO(header)))]
    if tuple(names) != columns:
        raise InputError(f"unexpected columns {', '.join(names)}", file=file, line=header_line,
                         hint=f"expected {','.join(columns)}")
    rows = []
    for number, line in body[1:]:
        values = next(csv.reader(io.StringIO(line)))
        if len(values) != len(columns):
            raise InputError(f"expected {len(columns)} values, got {len(values)}", file=file,
                             line=number)
        rows.append((number, dict(zip(columns, (v.strip() for v in values), strict=True))))
    return meta, rows


def parse_price(value: str, file: str, line: int, column: str, *,
                optional: bool = False) -> float | None:
    if value == "" and optional:
        return None
    try:
        price = float(value)
    except ValueError:
        raise InputError(f"{column}: not a number: {value!r}", file=file, line=line) from None
    if not price >= 0 or price == float("inf"):
        raise InputError(f"{column}: must be a non-negative number, got {value!r}", file=file,
                         line=line)
    return price
