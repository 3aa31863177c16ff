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


def test_policy_from_spec_defaults_and_overrides() -> None:
    from federation.clusters.health import policy_from_spec

    assert policy_from_spec({}) == HealthPolicy()
    fast = policy_from_spec({"health": {"probeIntervalSeconds": 0.5, "failureThreshold": 2,
                                        "probeTimeoutSeconds": 0.4}})
    assert (fast.interval, fast.timeout, fast.failure_threshold, fast.success_threshold) == (
        0.5, 0.4, 2, 1)


def test_detection_time_follows_the_policy() -> None:
    """With a 0.5 s interval and 2 failures, NotReady comes on the second failed probe."""
    from federation.clusters.health import policy_from_spec

    pol = policy_from_spec({"health": {"probeIntervalSeconds": 0.5, "failureThreshold": 2}})
    h = observe(Health(), ProbeResult(ok=True, reachable=True), 0.0, pol)
    assert h.ready
    down = ProbeResult(ok=False, reachable=False, detail="refused")
    h = observe(h, down, 0.5, pol)
    assert h.ready
    h = observe(h, down, 1.0, pol)
    assert not h.ready and h.since == 1.0 and h.taint == "cluster.fedctl.dev/unreachable"
