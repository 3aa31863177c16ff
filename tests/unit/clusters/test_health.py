"""The member health state machine."""

from __future__ import annotations

from federation.clusters.health import (
    NOT_READY_TAINT,
    UNREACHABLE_TAINT,
    Health,
    HealthPolicy,
    ProbeResult,
    observe,
)

OK = ProbeResult(ok=True, reachable=True, detail="ok")
DOWN = ProbeResult(ok=False, reachable=False, detail="connection refused")
BAD = ProbeResult(ok=False, reachable=True, detail="readyz returned HTTP 500")
POLICY = HealthPolicy(interval=2, timeout=3, failure_threshold=3, success_threshold=1)


def run(h: Health, *probes: ProbeResult) -> list[Health]:
    out = []
    for i, p in enumerate(probes):
        h = observe(h, p, float(i), POLICY)
        out.append(h)
    return out


def test_becomes_ready_on_first_success() -> None:
    h = run(Health(), OK)[-1]
    assert h.ready and h.taint is None and h.since == 0.0


def test_not_ready_only_after_threshold_consecutive_failures() -> None:
    states = run(Health(), OK, DOWN, DOWN, OK, DOWN, DOWN, DOWN)
    assert [s.ready for s in states] == [True, True, True, True, True, True, False]
    assert states[-1].taint == UNREACHABLE_TAINT
    assert states[-1].since == 6.0


def test_answering_badly_is_not_ready_but_reachable() -> None:
    h = run(Health(), OK, BAD, BAD, BAD)[-1]
    assert not h.ready and h.taint == NOT_READY_TAINT


def test_recovers_after_success_threshold() -> None:
    strict = HealthPolicy(failure_threshold=1, success_threshold=2)
    h = observe(Health(ready=True), DOWN, 0, strict)
    assert not h.ready
    h = observe(h, OK, 1, strict)
    assert not h.ready
    h = observe(h, OK, 2, strict)
    assert h.ready and h.since == 2
