"""Replica division: apportionment with caps, deterministic ties.

``apportion`` shares ``n`` seats by weight with a divisor method (Webster / Sainte-Laguë)
or the largest-remainder (Hamilton) method; ties go to the key listed first, so callers
pass keys in preference order. ``apportion_capped`` respects per-key capacity by fixing
keys at their cap and re-apportioning the rest. ``fill`` gives each key as much as it can
take, in order (Aggregated and CheapestFirst). All functions are pure and deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence


def apportion(n: int, weights: Sequence[tuple[str, float]], method: str = "Webster"
              ) -> dict[str, int]:
    keys = [(k, w) for k, w in weights if w > 0]
    out = {k: 0 for k, _ in weights}
    if n <= 0 or not keys:
        return out
    if method == "LargestRemainder":
        total = sum(w for _, w in keys)
        quotas = [(k, n * w / total) for k, w in keys]
        for k, q in quotas:
            out[k] = int(q)
        left = n - sum(out.values())
        ranked = sorted(range(len(quotas)),
                        key=lambda i: (-(quotas[i][1] - int(quotas[i][1])), i))
        for i in ranked[:left]:
            out[quotas[i][0]] += 1
        return out
    # Webster: seat goes to the largest w / (2s + 1); heap of (-priority, index)
    heap = [(-w, i) for i, (_, w) in enumerate(keys)]
    heapq.heapify(heap)
    for _ in range(n):
        _, i = heapq.heappop(heap)
        k, w = keys[i]
        out[k] += 1
        heapq.heappush(heap, (-(w / (2 * out[k] + 1)), i))
    return out


def apportion_capped(n: int, weights: Sequence[tuple[str, float]], caps: Mapping[str, int],
                     method: str = "Webster") -> dict[str, int] | None:
    """Like ``apportion`` but no key gets more than its cap; None if caps total < n."""
    active = [(k, w) for k, w in weights if w > 0 and caps.get(k, 0) > 0]
    if sum(caps.get(k, 0) for k, _ in active) < n:
        return None
    out = {k: 0 for k, _ in weights}
    left = n
    while left > 0:
        share = apportion(left, active, method)
        over = [k for k, _ in active if share[k] > caps[k] - out[k]]
        if not over:
            for k, _ in active:
                out[k] += share[k]
            break
        for k in over:
            left -= caps[k] - out[k]
            out[k] = caps[k]
        active = [(k, w) for k, w in active if k not in over]
    return out


def fill(n: int, order: Sequence[str], caps: Mapping[str, int]) -> dict[str, int] | None:
    """Fill keys in order up to their caps; None if they cannot hold ``n``."""
    out: dict[str, int] = {}
    left = n
    for k in order:
        if left == 0:
            break
        take = min(left, caps.get(k, 0))
        if take > 0:
            out[k] = take
            left -= take
    return out if left == 0 else None


def shrink(current: Mapping[str, int], n: int, order_worst_first: Sequence[str]
           ) -> dict[str, int]:
    """Scale ``current`` down to ``n`` replicas, removing from the worst keys first."""
    out = dict(current)
    excess = sum(out.values()) - n
    for k in order_worst_first:
        if excess <= 0:
            break
        take = min(excess, out.get(k, 0))
        out[k] = out.get(k, 0) - take
        excess -= take
    return {k: v for k, v in out.items() if v > 0}
