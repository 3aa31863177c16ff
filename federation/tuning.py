"""Process-level tuning applied once at the start of long-running fedctl processes.

The scheduler allocates many short-lived objects per decision; CPython's default cyclic
GC thresholds (700, 10, 10) then run a generation-0 collection every few hundred
allocations, which costs 9-19% of a decision at 1,000 clusters and most of its p99 tail
(measured, docs/benchmarks.md). The hub raises the thresholds at start-up; reference
counting still frees almost everything at once, the cycle collector just runs less often.
Called from process entry points only (never from library code).
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (50_000, 20, 20)


def tune_process_gc() -> tuple[int, int, int]:
    """Apply fedctl's GC thresholds to this process; return the ones in effect."""
    gc.set_threshold(*GC_THRESHOLDS)
    t0, t1, t2 = gc.get_threshold()
    return t0, t1, t2
