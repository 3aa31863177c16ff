"""Field paths as users read them in errors (shared, pure)."""

from __future__ import annotations

from federation.interpreters.paths import Concrete


def format_path(path: Concrete) -> str:
    """``("spec", "containers", 0, "image")`` -> ``spec.containers[0].image``."""
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else seg)
    return out
