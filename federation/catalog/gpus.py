"""Known GPU products.

One table maps fedctl's short product names (used in policies and fleet files) to the
labels NVIDIA GPU feature discovery puts on real nodes (``nvidia.com/gpu.product``) and
to the per-GPU memory it reports (``nvidia.com/gpu.memory``, MiB).

To add a product, add one ``GpuProduct`` row to ``GPU_PRODUCTS``; the fleet file, the
scheduler and the simulated nodes pick it up from here.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GpuProduct:
    name: str  # fedctl short name, e.g. "H100-80GB"
    family: str  # e.g. "H100"
    gfd_product: str  # value of the nvidia.com/gpu.product label
    memory_mib: int  # value of the nvidia.com/gpu.memory label


GPU_PRODUCTS: tuple[GpuProduct, ...] = (
    GpuProduct("B200-180GB", "B200", "NVIDIA-B200", 183359),
    GpuProduct("H200-141GB", "H200", "NVIDIA-H200", 143771),
    GpuProduct("H100-80GB", "H100", "NVIDIA-H100-80GB-HBM3", 81559),
    GpuProduct("A100-80GB", "A100", "NVIDIA-A100-SXM4-80GB", 81920),
    GpuProduct("A100-40GB", "A100", "NVIDIA-A100-SXM4-40GB", 40960),
    GpuProduct("L40S-48GB", "L40S", "NVIDIA-L40S", 46068),
    GpuProduct("A10G-24GB", "A10G", "NVIDIA-A10G", 23028),
    GpuProduct("L4-24GB", "L4", "NVIDIA-L4", 23034),
    GpuProduct("T4-16GB", "T4", "Tesla-T4", 15360),
    GpuProduct("V100-16GB", "V100", "Tesla-V100-SXM2-16GB", 16384),
)

_BY_NAME = {p.name.lower(): p for p in GPU_PRODUCTS}
_BY_GFD = {p.gfd_product.lower(): p for p in GPU_PRODUCTS}
_ALIASES = {
    # Family names alone resolve to the most common variant.
    "b200": "B200-180GB",
    "h200": "H200-141GB",
    "h100": "H100-80GB",
    "a100": "A100-80GB",
    "l40s": "L40S-48GB",
    "a10g": "A10G-24GB",
    "l4": "L4-24GB",
    "t4": "T4-16GB",
    "v100": "V100-16GB",
}


def known_product_names() -> list[str]:
    return [p.name for p in GPU_PRODUCTS]


def lookup(name: str) -> GpuProduct | None:
    """Resolve a short name, a family alias or a GFD label (case-insensitive)."""
    key = name.strip().lower()
    if key in _BY_NAME:
        return _BY_NAME[key]
    if key in _ALIASES:
        return _BY_NAME[_ALIASES[key].lower()]
    return _BY_GFD.get(key)


def matches(pattern: str, product: GpuProduct) -> bool:
    """True if ``pattern`` (exact name, family, GFD label, or glob like ``A100*``) names it."""
    pat = pattern.strip()
    if any(ch in pat for ch in "*?["):
        low = pat.lower()
        return any(
            fnmatch.fnmatchcase(candidate.lower(), low)
            for candidate in (product.name, product.family, product.gfd_product)
        )
    found = lookup(pat)
    if found is not None and found == product:
        return True
    return pat.lower() == product.family.lower()


def suggest(name: str) -> str | None:
    """The known product name closest to a misspelt ``name`` (families count too)."""
    import difflib

    candidates = {p.name.lower(): p.name for p in GPU_PRODUCTS}
    candidates.update({alias: canonical for alias, canonical in _ALIASES.items()})
    close = difflib.get_close_matches(name.strip().lower(), list(candidates), n=1, cutoff=0.6)
    return candidates[close[0]] if close else None
