"""Member health: a pure state machine fed by probe results, and the probe itself.

A member turns ``NotReady`` after ``failure_threshold`` consecutive failed probes and
``Ready`` again after ``success_threshold`` consecutive successes. With the defaults (a
probe started every 2 s, 3 failures, 3 s probe timeout; per member in
``MemberCluster.spec.health``) a killed apiserver (connection refused) is detected within
~6 s, a frozen one within ~11 s (each probe waits out its timeout, back to back). The
taint to put on the cluster follows from the state: ``not-ready`` when it answers badly,
``unreachable`` when it does not answer at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

UNREACHABLE_TAINT = "cluster.fedctl.dev/unreachable"
NOT_READY_TAINT = "cluster.fedctl.dev/not-ready"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    reachable: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Health:
    ready: bool = False
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    reachable: bool = False
    detail: str = "not probed yet"
    since: float = 0.0  # monotonic time of the last Ready/NotReady transition

    @property
    def taint(self) -> str | None:
        if self.ready:
            return None
        return NOT_READY_TAINT if self.reachable else UNREACHABLE_TAINT


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    interval: float = 2.0
    timeout: float = 3.0
    failure_threshold: int = 3
    success_threshold: int = 1


def policy_from_spec(spec: Mapping[str, Any]) -> HealthPolicy:
    """The probe settings of a MemberCluster's ``spec.health`` (defaults where absent).

    The CRD validates the ranges; values that still make no sense (a timeout longer than
    the interval) are kept: a probe then simply runs back to back."""
    raw = spec.get("health") or {}
    d = HealthPolicy()
    return HealthPolicy(
        interval=float(raw.get("probeIntervalSeconds", d.interval)),
        timeout=float(raw.get("probeTimeoutSeconds", d.timeout)),
        failure_threshold=int(raw.get("failureThreshold", d.failure_threshold)),
        success_threshold=int(raw.get("successThreshold", d.success_threshold)))


def observe(h: Health, probe: ProbeResult, now: float, policy: HealthPolicy) -> Health:
    """Next health after one probe (pure)."""
    if probe.ok:
        successes = h.consecutive_successes + 1
        ready = h.ready or successes >= policy.success_threshold
        return replace(h, ready=ready, consecutive_failures=0,
                       consecutive_successes=successes, reachable=True, detail=probe.detail,
                       since=now if ready != h.ready else h.since)
    failures = h.consecutive_failures + 1
    ready = h.ready and failures < policy.failure_threshold
    return replace(h, ready=ready, consecutive_failures=failures, consecutive_successes=0,
                   reachable=probe.reachable, detail=probe.detail,
                   since=now if ready != h.ready else h.since)


async def probe(api: k8s.ApiClient, timeout: float) -> ProbeResult:
    """GET /readyz on the member's apiserver."""
    try:
        resp = await api.call_api("/readyz", "GET", auth_settings=["BearerToken"],
                                  _preload_content=False, _return_http_data_only=True,
                                  _request_timeout=timeout)
        try:
            text = (await resp.text())[:200]
        finally:
            resp.release()
        return ProbeResult(ok=True, reachable=True, detail=text.strip() or "ok")
    except ApiException as exc:
        return ProbeResult(ok=False, reachable=True,
                           detail=f"readyz returned HTTP {exc.status}")
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return ProbeResult(ok=False, reachable=False,
                           detail=f"{type(exc).__name__}: {exc}"[:200] or "unreachable")
