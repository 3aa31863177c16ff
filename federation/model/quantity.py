"""Kubernetes resource quantities (``500m``, ``8``, ``512Gi``, ``1.5G``) as exact numbers."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_SUFFIX: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


class QuantityError(ValueError):
    pass


def parse_quantity(value: str | int | float) -> Decimal:
    """Parse a Kubernetes quantity into a Decimal of base units (cores, bytes, GPUs)."""
    if isinstance(value, bool):
        raise QuantityError(f"invalid quantity {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise QuantityError(f"invalid quantity {value!r}: must not be negative")
        return Decimal(str(value))
    text = value.strip()
    if not text:
        raise QuantityError("empty quantity")
    number = text
    suffix = ""
    for candidate in sorted(_SUFFIX, key=len, reverse=True):
        if candidate and text.endswith(candidate):
            number, suffix = text[: -len(candidate)], candidate
            break
    try:
        amount = Decimal(number)
    except InvalidOperation:
        raise QuantityError(
            f"invalid quantity {value!r}: expected a number with an optional suffix "
            "(m, k, M, G, T, Ki, Mi, Gi, Ti)"
        ) from None
    if amount < 0 or not amount.is_finite():
        raise QuantityError(f"invalid quantity {value!r}: must be a non-negative number")
    return amount * _SUFFIX[suffix]


def cpu_millis(value: str | int | float) -> int:
    return int((parse_quantity(value) * 1000).to_integral_value())


def memory_bytes(value: str | int | float) -> int:
    return int(parse_quantity(value).to_integral_value())


def format_memory(n_bytes: int) -> str:
    for suffix in ("Ti", "Gi", "Mi", "Ki"):
        unit = int(_SUFFIX[suffix])
        if n_bytes >= unit and n_bytes % unit == 0:
            return f"{n_bytes // unit}{suffix}"
    return str(n_bytes)
