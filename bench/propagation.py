"""Propagation benchmark: the hub controller end to end on a local fleet of 5 members.

    python bench/propagation.py [--workloads 1000] [--concurrency 20] [--rate 0]
        [--workers 16] [--home-members 5] [--timeout 1200] [--keep] [--state-dir DIR]
        [--no-failover] [--fence] [--toleration S] [--probe-interval S]
        [--probe-timeout S] [--failure-threshold N]

Starts the fleet of ``bench/propagation-fleet.yaml`` (hub + 5 members, real control
planes on 127.0.0.1) under a temporary state directory, joins the members (the code path
of ``fedctl clusters join``) and runs ``fedctl hub run`` as its own process (stderr to
``hub.log`` in the run directory), then:

1. creates 5 PropagationPolicies in a fresh namespace. Policy ``gK`` selects the
   Deployments labelled ``bench.fedctl.dev/group=gK`` and places them with ordered
   cluster affinities: first the K-th member alone, then every other member (the failover
   term); Divided, Aggregated. So each 1-replica Deployment lands on exactly one member,
   the workloads are spread evenly over the 5 members (over the first K with
   ``--home-members K``; 1 puts every workload on one member), and they can still move
   when their member fails. Failover toleration is the API's default unless
   ``--toleration`` sets ``failover.clusterNotReadySeconds``; ``--probe-interval``,
   ``--probe-timeout`` and ``--failure-threshold`` set every MemberCluster's
   ``spec.health`` (detection time), to compare with a peer tuned for fast failover.
2. creates N Deployments (1 replica, 10m CPU) on the hub with ``--concurrency`` calls in
   flight (and at most ``--rate`` per second if given), recording when each create call
   returned; one watch per member (Deployments labelled
   ``app.kubernetes.io/managed-by=fedctl`` in the namespace) records when each copy first
   appears and first reports all replicas available. Latency = appeared - created;
   throughput = N / (first create sent .. last copy appeared).
3. failover: SIGKILLs the kube-apiserver of the member holding the most workloads and
   measures, per workload that was there, the time until a copy appears on another member
   and until that copy is available; with ``--fence`` it then restarts the apiserver and
   measures until the old copies are deleted. Also reported: the CPU of every fleet
   process and the writes (and Go GC CPU) of every apiserver from the kill to the last
   move and from there to the last copy available, and each receiving member's stage
   times (Deployment -> ReplicaSet -> pod -> scheduled -> ready -> Available) read from
   its objects' timestamps.

Prints one JSON document (machine, load average before/after, parameters, results, hub
RSS/CPU and metrics, warnings and errors from the hub's log) and always tears down the
hub and the fleet (``--keep`` leaves the fleet running and reuses it on the next run).
Everything listens on 127.0.0.1 only. It asserts nothing; exit status 1 if a phase failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import watch as k8s_watch
from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.client import api_client
from federation.clusters.health import HealthPolicy
from federation.clusters.join import join
from federation.dev import procs
from federation.dev.localfleet import FleetState, LocalFleet
from federation.fleet import Fleet, load_fleet_file
from federation.model.labels import MANAGED_BY, MANAGED_BY_LABEL
from policies.models import GROUP, VERSION, Failover

FLEET_FILE = Path(__file__).with_name("propagation-fleet.yaml")
GROUP_LABEL = "bench.fedctl.dev/group"
NS_LABEL = "bench.fedctl.dev/propagation"
NS_PREFIX = "bench-prop-"
KEEP_DIR = Path(tempfile.gettempdir()) / "fedctl-bench-propagation"
MiB = 2**20


def now() -> float:
    return time.monotonic()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---- machine and processes -----------------------------------------------------------


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {"cpus": os.cpu_count(), "memory_gib": round(mem_kb / 2**20, 1),
            "python": platform.python_version(), "kernel": platform.release(),
            "load_avg_before": load_avg()}


def proc_memory(pid: int) -> dict[str, float]:
    """VmRSS (current) and VmHWM (peak) of one process, MiB; empty if it is gone."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss_mib"] = round(int(line.split()[1]) / 1024, 1)
            elif line.startswith("VmHWM:"):
                out["peak_rss_mib"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of one process (not its children)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


GC_KEY = "GC cpu-ms"  # in apiserver_writes: not a request, the collector's CPU


def cpu_by_process(state_dir: Path, clusters: Iterable[str]) -> dict[str, float]:
    """CPU seconds (user + system) of every process started from ``state_dir`` (the
    fleet's control planes, the hub) and of this benchmark, keyed ``comm`` plus the
    fleet cluster it serves (``kube-apiserver/onprem-dc1``; an apiserver is known by the
    etcd it talks to)."""
    names = set(clusters)
    root = str(state_dir)
    procs: list[tuple[str, dict[str, str], list[str], float]] = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
            stat = (d / "stat").read_text()
        except OSError:
            continue
        args = [x.decode(errors="replace") for x in argv if x]
        own = int(d.name) == os.getpid()
        if not own and not any(root in x for x in args):
            continue
        comm = "benchmark" if own else stat[stat.index("(") + 1:stat.rindex(")")]
        if any(x == "hub" for x in args) and "run" in args and "--state-dir" in args:
            comm = "fedctl-hub"
        cpu = proc_cpu_seconds(int(d.name))
        if cpu is not None:
            opts = dict(x[2:].split("=", 1) for x in args if x.startswith("--") and "=" in x)
            procs.append((comm, opts, args, cpu))
    etcd_of = {opts.get("listen-client-urls", ""): opts["name"]  # client URL -> cluster
               for comm, opts, _, _ in procs if comm == "etcd" and opts.get("name") in names}
    out: dict[str, float] = {}
    for comm, opts, args, cpu in procs:
        cluster = etcd_of.get(opts.get("etcd-servers", ""), "") or next(
            (part for x in args if root in x
             for part in x.split(root, 1)[1].split("/") if part in names), "")
        key = f"{comm}/{cluster}" if cluster and comm not in ("benchmark",
                                                              "fedctl-hub") else comm
        out[key] = out.get(key, 0.0) + cpu
    return out


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Per-process CPU seconds between two ``cpu_by_process`` readings, largest first."""
    d = {k: round(v - before.get(k, 0.0), 2) for k, v in after.items()}
    d = {k: v for k, v in sorted(d.items(), key=lambda kv: -kv[1]) if v >= 0.05}
    return {"total": round(sum(d.values()), 2), "processes": d}


STAGES = ("deployment_to_replicaset", "replicaset_to_pod", "pod_to_scheduled",
          "scheduled_to_ready", "ready_to_available")


def _stamp(raw: Any) -> float | None:
    if not isinstance(raw, str):
        return None
    return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()


def stage_seconds(items: dict[str, list[dict[str, Any]]], names: set[str]
                  ) -> dict[str, Any]:
    """Per-stage seconds (``summary``) of the named Deployments, from listed
    ``deployments``, ``replicasets`` and ``pods`` (each followed by its owner)."""
    def owner(o: dict[str, Any]) -> str | None:
        refs = (o.get("metadata") or {}).get("ownerReferences") or []
        return str(refs[0].get("name")) if refs else None

    rs_of = {owner(r): r for r in items.get("replicasets", [])}
    pod_of = {owner(p): p for p in items.get("pods", [])}
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    for d in items.get("deployments", []):
        name = d["metadata"]["name"]
        rs = rs_of.get(name)
        pod = pod_of.get(rs["metadata"]["name"]) if rs else None
        if name not in names or rs is None or pod is None:
            continue
        pod_conds = {c.get("type"): c.get("lastTransitionTime")
                     for c in (pod.get("status") or {}).get("conditions") or []}
        dep_conds = {c.get("type"): c.get("lastUpdateTime")
                     for c in (d.get("status") or {}).get("conditions") or []}
        times = [_stamp(d["metadata"].get("creationTimestamp")),
                 _stamp(rs["metadata"].get("creationTimestamp")),
                 _stamp(pod["metadata"].get("creationTimestamp")),
                 _stamp(pod_conds.get("PodScheduled")), _stamp(pod_conds.get("Ready")),
                 _stamp(dep_conds.get("Available"))]
        for stage, a, b in zip(STAGES, times, times[1:], strict=False):
            if a is not None and b is not None:
                stages[stage].append(b - a)
    return {stage: summary(v) for stage, v in stages.items()}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- statistics -----------------------------------------------------------------------


def percentile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks; ``ordered`` sorted, non-empty."""
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summary(values: Iterable[float]) -> dict[str, Any]:
    v = sorted(values)
    if not v:
        return {"n": 0}
    return {"n": len(v), "min": round(v[0], 3), "p50": round(percentile(v, 0.5), 3),
            "p90": round(percentile(v, 0.9), 3), "p99": round(percentile(v, 0.99), 3),
            "max": round(v[-1], 3), "mean": round(sum(v) / len(v), 3)}


# ---- the hub process ------------------------------------------------------------------


_SAMPLE = re.compile(r'^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')

Samples = list[tuple[str, dict[str, str], float]]


async def _get(api: k8s.ApiClient, path: str, timeout: float) -> bytes:
    """The body of ``GET path`` on an apiserver, unparsed (the client's public call)."""
    resp = await api.call_api(path, "GET", auth_settings=["BearerToken"],
                              _preload_content=False, _return_http_data_only=True,
                              _request_timeout=timeout)
    try:
        body: bytes = await resp.read()
    finally:
        resp.release()
    return body


def parse_metrics(text: str) -> Samples:
    out: Samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = dict(_LABEL.findall(m.group(2) or ""))
        with contextlib.suppress(ValueError):
            out.append((m.group(1), labels, float(m.group(3))))
    return out


def metric(samples: Samples, name: str, **labels: str) -> float | None:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    found = [v for n, lab, v in samples
             if n == name and all(lab.get(k) == x for k, x in labels.items())]
    return sum(found) if found else None


def fedctl_command() -> list[str]:
    """`fedctl` of this virtualenv, made to die with us (setpriv --pdeathsig)."""
    exe = Path(sys.executable).parent / "fedctl"
    found = str(exe) if exe.exists() else shutil.which("fedctl")
    cmd = [found] if found else [sys.executable, "-m", "federation.cli.main"]
    setpriv = shutil.which("setpriv")
    if setpriv:  # setpriv execs the command: the pid we hold is the hub's own
        cmd = [setpriv, "--pdeathsig", "TERM", "--", *cmd]
    return cmd


class HubProcess:
    """`fedctl hub run` as a child process; stderr and stdout go to ``log_path``."""

    def __init__(self, argv: list[str], log_path: Path, cwd: Path) -> None:
        self.argv = argv
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.exit_code: int | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, cwd=self.cwd,
                                         start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.exit_code = self.proc.returncode
        return self.exit_code

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def log_summary(self) -> dict[str, Any]:
        """Counts of WARNING/ERROR/CRITICAL lines and tracebacks, with distinct samples."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            lines = []
        counts: Counter[str] = Counter()
        samples: dict[str, list[str]] = {}
        for line in lines:
            level = next((lv for lv in ("CRITICAL", "ERROR", "WARNING")
                          if f" {lv} " in line), None)
            if line.startswith("Traceback"):
                level = "traceback"
            if level is None:
                continue
            counts[level.lower()] += 1
            # drop the timestamp so repeated messages are sampled once
            text = line.split(" ", 2)[-1] if level != "traceback" else line
            bucket = samples.setdefault(level.lower(), [])
            if text[:300] not in bucket and len(bucket) < 8:
                bucket.append(text[:300])
        return {"path": str(self.log_path), "lines": len(lines), "counts": dict(counts),
                "leadership_lost": sum("lost the leadership" in line for line in lines),
                "samples": samples}


# ---- watching members -----------------------------------------------------------------


class MemberWatch:
    """List-then-watch one member's copies in the bench namespace.

    Keeps, per workload, every time a copy appeared (absent -> present) and became
    available (all replicas available), so a copy deleted and created again counts anew.
    """

    def __init__(self, cluster: str, api: Any, namespace: str) -> None:
        self.cluster = cluster
        self.api = api
        self.namespace = namespace
        self.appeared: dict[str, list[float]] = {}
        self.became_available: dict[str, list[float]] = {}
        self.deleted: dict[str, float] = {}
        self.present: set[str] = set()
        self.available: set[str] = set()
        self.synced = asyncio.Event()
        self.events = 0
        self.errors = 0
        self.relists = 0
        self.last_error = ""

    def _observe(self, kind: str, obj: dict[str, Any], t: float) -> None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        if not name:
            return
        if kind == "DELETED":
            self.present.discard(name)
            self.available.discard(name)
            self.deleted[name] = t
            return
        if name not in self.present:
            self.present.add(name)
            self.appeared.setdefault(name, []).append(t)
        want = int((obj.get("spec") or {}).get("replicas", 1) or 0)
        have = int((obj.get("status") or {}).get("availableReplicas") or 0)
        if want > 0 and have >= want:
            if name not in self.available:
                self.available.add(name)
                self.became_available.setdefault(name, []).append(t)
        else:
            self.available.discard(name)

    async def run(self) -> None:
        custom = k8s.CustomObjectsApi(self.api)
        # CustomObjectsApi on apps/v1: events stay plain dicts (no model deserialization)
        kwargs: dict[str, Any] = {
            "group": "apps", "version": "v1", "namespace": self.namespace,
            "plural": "deployments", "label_selector": f"{MANAGED_BY_LABEL}={MANAGED_BY}"}
        rv: str | None = None
        backoff = 0.25
        while True:
            try:
                if rv is None:
                    got = await custom.list_namespaced_custom_object(**kwargs,
                                                                     _request_timeout=15)
                    t = now()
                    self.relists += 1
                    names = set()
                    for obj in got.get("items") or []:
                        self._observe("ADDED", obj, t)
                        names.add(obj["metadata"]["name"])
                    for gone in self.present - names:
                        self._observe("DELETED", {"metadata": {"name": gone}}, t)
                    rv = str(got["metadata"]["resourceVersion"])
                    self.synced.set()
                w = k8s_watch.Watch()
                try:
                    async for ev in w.stream(custom.list_namespaced_custom_object, **kwargs,
                                             resource_version=rv, timeout_seconds=60,
                                             allow_watch_bookmarks=True,
                                             _request_timeout=75):
                        t = now()
                        raw = ev.get("raw_object") or {}
                        rv = (raw.get("metadata") or {}).get("resourceVersion") or rv
                        if ev["type"] == "BOOKMARK":
                            continue
                        self.events += 1
                        self._observe(ev["type"], raw, t)
                finally:
                    await w.close()
                backoff = 0.25
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep watching whatever happens; count it
                if isinstance(exc, ApiException) and exc.status == 410:
                    rv = None
                    continue
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"[:300]
                rv = None  # relist after an error: a restarted apiserver may have lost it
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)


# ---- manifests ------------------------------------------------------------------------


def policy(namespace: str, group: str, home: str,
           toleration: float | None = None) -> dict[str, Any]:
    failover = ({} if toleration is None
                else {"failover": {"clusterNotReadySeconds": toleration}})
    return {
        "apiVersion": f"{GROUP}/{VERSION}", "kind": "PropagationPolicy",
        "metadata": {"name": f"bench-{group}", "namespace": namespace},
        "spec": {
            "resourceSelectors": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                   "labelSelector": {"matchLabels": {GROUP_LABEL: group}}}],
            "placement": {
                "clusterAffinities": [
                    {"affinityName": "home", "clusterNames": [home]},
                    {"affinityName": "failover", "exclude": [home]},
                ],
                "replicaScheduling": {"type": "Divided", "division": "Aggregated"},
            },
            **failover,
        },
    }


def health_spec(args: argparse.Namespace) -> dict[str, Any]:
    """MemberCluster ``spec.health`` from the probe flags (empty: the defaults)."""
    out: dict[str, Any] = {}
    for flag, key in (("probe_interval", "probeIntervalSeconds"),
                      ("probe_timeout", "probeTimeoutSeconds"),
                      ("failure_threshold", "failureThreshold")):
        value = getattr(args, flag)
        if value is not None:
            out[key] = value
    return out


def deployment(namespace: str, name: str, group: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"app": name, GROUP_LABEL: group}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{
                                  "name": "app", "image": "registry.example/bench:1",
                                  "resources": {"requests": {"cpu": "10m",
                                                             "memory": "16Mi"}}}]}}},
    }


# ---- the benchmark --------------------------------------------------------------------


class PhaseTimeout(Exception):
    pass


class Bench:
    def __init__(self, args: argparse.Namespace, result: dict[str, Any]) -> None:
        self.args = args
        self.result = result
        self.phase = "setup"
        self.run_dir = Path(tempfile.mkdtemp(prefix="fedctl-bench-prop-"))
        if args.state_dir is not None:
            self.state_dir = Path(args.state_dir).resolve()
        elif args.keep:
            self.state_dir = KEEP_DIR
        else:
            self.state_dir = self.run_dir / "state"
        self.lf = LocalFleet(self.state_dir)
        self.fleet_started = False
        self.hub: HubProcess | None = None
        self.hub_api: Any = None
        self.member_apis: dict[str, Any] = {}
        self.watches: dict[str, MemberWatch] = {}
        self.tasks: list[asyncio.Task[None]] = []
        self.http: aiohttp.ClientSession | None = None
        self.victim: str | None = None
        self.hub_peak_sampled = 0.0

    # -- helpers -----------------------------------------------------------------------

    async def wait_for(self, check: Callable[[], Awaitable[bool] | bool], timeout: float,
                       what: str, interval: float = 0.2) -> float:
        """Poll until ``check`` is true; seconds waited. Fails fast if the hub died."""
        started = now()
        deadline = started + timeout
        while True:
            got = check()
            if not isinstance(got, bool):
                got = await got
            if got:
                return now() - started
            if self.hub is not None and self.hub.proc is not None and not self.hub.alive():
                raise RuntimeError(f"the hub process exited (code {self.hub.proc.returncode})"
                                   f" while waiting for {what}; log: {self.hub.log_path}")
            if now() >= deadline:
                raise PhaseTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
            await asyncio.sleep(interval)

    async def metrics(self) -> Samples:
        assert self.http is not None and self.hub is not None
        try:
            async with self.http.get(f"http://127.0.0.1:{self.hub.port}/metrics") as resp:
                return parse_metrics(await resp.text()) if resp.status == 200 else []
        except (aiohttp.ClientError, OSError, TimeoutError):
            return []

    async def apiserver_writes(self, cluster: str) -> Counter[str]:
        """Write requests a cluster's apiserver has served, by ``VERB resource[/sub]``
        (its ``apiserver_request_total``), to count what a phase cost each apiserver;
        ``GC cpu-ms``: the CPU its Go garbage collector has used
        (``go_cpu_classes_gc_total_cpu_seconds_total``)."""
        api = self.hub_api if cluster == "hub" else self.member_apis.get(cluster)
        out = Counter[str]()
        if api is None:
            return out
        try:
            text = (await _get(api, "/metrics", 10)).decode()
        except (aiohttp.ClientError, OSError, TimeoutError, ApiException):
            return out
        for name, labels, value in parse_metrics(text):
            if name == "go_cpu_classes_gc_total_cpu_seconds_total":
                out[GC_KEY] += int(value * 1000)
            if name != "apiserver_request_total" or labels.get("verb") in (
                    "GET", "LIST", "WATCH", "CONNECT"):
                continue
            sub = labels.get("subresource", "")
            out[f"{labels.get('verb')} {labels.get('resource')}{'/' + sub if sub else ''}"] \
                += int(value)
        return out

    async def member_stages(self, cluster: str, names: set[str]) -> dict[str, Any]:
        """Seconds between the stages of each named Deployment on ``cluster``, from the
        objects' own timestamps (one-second resolution): Deployment created -> ReplicaSet
        created -> pod created -> pod scheduled -> pod ready -> Deployment Available."""
        api = self.member_apis.get(cluster)
        watch = self.watches.get(cluster)
        if api is None or watch is None:
            return {}
        items: dict[str, list[dict[str, Any]]] = {}
        try:
            for plural, prefix in (("deployments", "/apis/apps/v1"),
                                   ("replicasets", "/apis/apps/v1"), ("pods", "/api/v1")):
                body = await _get(api, f"{prefix}/namespaces/{watch.namespace}/{plural}", 60)
                items[plural] = json.loads(body).get("items") or []
        except (aiohttp.ClientError, OSError, TimeoutError, ApiException) as exc:
            return {"error": f"{type(exc).__name__}: {exc}"}
        return stage_seconds(items, names)

    def hub_stats(self) -> dict[str, Any]:
        if self.hub is None or not self.hub.alive():
            return {}
        cpu = proc_cpu_seconds(self.hub.pid)
        return {**proc_memory(self.hub.pid),
                "cpu_seconds": round(cpu, 2) if cpu is not None else None}

    async def hub_metrics_summary(self) -> dict[str, Any]:
        s = await self.metrics()
        if not s:
            return {}
        count = metric(s, "fedctl_reconcile_duration_seconds_count") or 0.0
        total = metric(s, "fedctl_reconcile_duration_seconds_sum") or 0.0
        return {
            "reconciles_ok": metric(s, "fedctl_reconciles_total", result="ok"),
            "reconciles_error": metric(s, "fedctl_reconciles_total", result="error"),
            "reconcile_seconds_mean": round(total / count, 4) if count else None,
            "placements_scheduled": metric(s, "fedctl_placements_total", outcome="scheduled"),
            "placements_not_scheduled": metric(s, "fedctl_placements_total",
                                               outcome="not-scheduled"),
            "failovers": metric(s, "fedctl_failovers_total"),
            "queue_depth": metric(s, "fedctl_queue_depth"),
        }

    def remaining(self, deadline: float) -> float:
        return max(0.0, deadline - now())

    # -- phases --------------------------------------------------------------------------

    async def fleet_up(self, fleet: Fleet) -> tuple[FleetState, bool]:
        wanted = sorted(c.name for c in fleet.clusters)
        if self.lf.exists():
            state = self.lf.load()
            if any(procs.alive(p) for p in state.all_procs()):
                if not self.args.keep:
                    raise RuntimeError(f"a fleet is already running under {self.state_dir}; "
                                       "pass --keep to reuse it or stop it with "
                                       f"`fedctl dev --state-dir {self.state_dir} down`")
                have = sorted(c.name for c in state.members)
                if have != wanted:
                    raise RuntimeError(f"the fleet under {self.state_dir} has members {have}, "
                                       f"not {wanted}")
                for c in state.clusters:  # a previous run's failover killed one
                    rec = c.procs.get("apiserver")
                    if rec is not None and not procs.alive(rec):
                        log(f"restarting the apiserver of {c.name} (kept fleet)")
                        await self.lf.restart_apiserver(c.name)
                state = self.lf.load()
                dead = [p.name for p in state.all_procs() if not procs.alive(p)]
                if dead:
                    raise RuntimeError(f"the kept fleet under {self.state_dir} has dead "
                                       f"processes {dead}; stop it with `fedctl dev "
                                       f"--state-dir {self.state_dir} down`")
                self.fleet_started = True
                return state, True
        self.fleet_started = True
        return await self.lf.up(fleet), False

    async def cleanup_previous(self) -> None:
        """Kept fleet: remove earlier runs' namespaces (hub and members) before starting.

        The hub has no kube-controller-manager, so nothing empties a deleted namespace
        there: its objects are deleted here (templates without the hub's finalizer, since
        no hub runs now), then the namespace is finalized by hand. Members have a KCM.
        """
        core = k8s.CoreV1Api(self.hub_api)
        custom = cast(Any, k8s.CustomObjectsApi(self.hub_api))
        old = await core.list_namespace(label_selector=f"{NS_LABEL}=true")
        hub_ns = [n.metadata.name for n in old.items]
        sem = asyncio.Semaphore(20)

        async def unfinalize(ns: str, name: str) -> None:
            async with sem:
                with contextlib.suppress(ApiException):
                    await custom.patch_namespaced_custom_object(
                        "apps", "v1", ns, "deployments", name,
                        {"metadata": {"finalizers": None}},
                        _content_type="application/merge-patch+json")

        for ns in hub_ns:
            got = await custom.list_namespaced_custom_object("apps", "v1", ns, "deployments")
            await asyncio.gather(*(unfinalize(ns, o["metadata"]["name"])
                                   for o in got.get("items") or []))
            for group, version, plural in (("apps", "v1", "deployments"),
                                           (GROUP, VERSION, "resourcebindings"),
                                           (GROUP, VERSION, "propagationpolicies")):
                with contextlib.suppress(ApiException):
                    await custom.delete_collection_namespaced_custom_object(
                        group, version, ns, plural)
            with contextlib.suppress(ApiException):
                await core.delete_collection_namespaced_event(ns)
            with contextlib.suppress(ApiException):
                await core.delete_namespace(ns)
            with contextlib.suppress(ApiException):
                obj = await core.read_namespace(ns)
                obj.spec.finalizers = []
                await core.replace_namespace_finalize(ns, obj)
        pending: list[tuple[Any, str]] = [(self.hub_api, ns) for ns in hub_ns]
        for api in self.member_apis.values():
            mcore = k8s.CoreV1Api(api)
            for n in (await mcore.list_namespace()).items:
                if n.metadata.name.startswith(NS_PREFIX):
                    with contextlib.suppress(ApiException):
                        await mcore.delete_namespace(n.metadata.name)
                    pending.append((api, n.metadata.name))
        if not pending:
            return
        log(f"removing {len(pending)} namespaces of earlier runs")

        async def gone() -> bool:
            for api, ns in pending:
                try:
                    await k8s.CoreV1Api(api).read_namespace(ns)
                    return False
                except ApiException as exc:
                    if exc.status != 404:
                        raise
            return True

        await self.wait_for(gone, 180, "earlier runs' namespaces to be deleted", 1.0)

    def start_hub(self, state: FleetState) -> None:
        a = self.args
        port = free_port()
        argv = [*fedctl_command(), "--log-level", a.hub_log_level, "hub", "run",
                "--kubeconfig", state.kubeconfig, "--context", "hub",
                "--state-dir", str(self.state_dir),
                "--cache-dir", str(self.run_dir / "hub-cache"),
                "--workers", str(a.workers),
                "--http-host", "127.0.0.1", "--http-port", str(port)]
        if a.no_leader_elect:
            argv.append("--no-leader-elect")
        self.hub = HubProcess(argv, self.run_dir / "hub.log", self.run_dir)
        self.hub.port = port
        self.hub.start()
        self.result["hub"]["argv"] = argv
        self.result["hub"]["log"] = str(self.hub.log_path)
        log(f"hub pid {self.hub.pid}, log {self.hub.log_path}")

    async def hub_ready(self) -> bool:
        assert self.http is not None and self.hub is not None
        # a standby also answers /readyz 200: first wait to lead
        if (not self.args.no_leader_elect
                and metric(await self.metrics(), "fedctl_leader") != 1):
            return False
        try:
            async with self.http.get(f"http://127.0.0.1:{self.hub.port}/readyz") as resp:
                return resp.status == 200
        except (aiohttp.ClientError, OSError, TimeoutError):
            return False

    async def members_ready(self, members: list[str]) -> bool:
        got = await k8s.CustomObjectsApi(self.hub_api).list_cluster_custom_object(
            GROUP, VERSION, "memberclusters")
        ready = set()
        for m in got.get("items") or []:
            status = m.get("status") or {}
            ok = any(c.get("type") == "Ready" and c.get("status") == "True"
                     for c in status.get("conditions") or [])
            if ok and status.get("installedKinds"):
                ready.add(m["metadata"]["name"])
        return ready >= set(members)

    async def policies_valid(self, ns: str, count: int) -> bool:
        got = await k8s.CustomObjectsApi(self.hub_api).list_namespaced_custom_object(
            GROUP, VERSION, ns, "propagationpolicies")
        valid = 0
        for p in got.get("items") or []:
            for c in (p.get("status") or {}).get("conditions") or []:
                if c.get("type") == "Valid":
                    if c.get("status") != "True":
                        raise RuntimeError(f"policy {p['metadata']['name']} is invalid: "
                                           f"{c.get('message')}")
                    valid += 1
        return valid >= count

    async def sample_hub(self) -> None:
        while True:
            if self.hub is not None and self.hub.alive():
                rss = proc_memory(self.hub.pid).get("rss_mib", 0.0)
                self.hub_peak_sampled = max(self.hub_peak_sampled, rss)
            await asyncio.sleep(1.0)

    async def create_workloads(self, ns: str, items: list[tuple[str, str]], deadline: float
                               ) -> tuple[dict[str, float], dict[str, float], list[str]]:
        """Create every Deployment; (call started, call returned, errors)."""
        a = self.args
        custom = cast(Any, k8s.CustomObjectsApi(self.hub_api))
        sent: dict[str, float] = {}
        done: dict[str, float] = {}
        errors: list[str] = []
        todo = iter(enumerate(items))
        t0 = now()

        async def worker() -> None:
            for i, (name, group) in todo:
                if a.rate > 0:
                    delay = t0 + i / a.rate - now()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if now() >= deadline:
                    errors.append(f"{name}: not created (deadline)")
                    continue
                body = deployment(ns, name, group)
                sent[name] = now()
                for attempt in range(6):
                    try:
                        await custom.create_namespaced_custom_object(
                            "apps", "v1", ns, "deployments", body, _request_timeout=30)
                        done[name] = now()
                        break
                    except ApiException as exc:
                        if exc.status == 409 and attempt > 0:  # an earlier try got through
                            done[name] = now()
                            break
                        if exc.status in (429, 500, 502, 503, 504) and attempt < 5:
                            await asyncio.sleep(0.2 * 2**attempt)
                            continue
                        errors.append(f"{name}: HTTP {exc.status} {exc.reason}")
                        break
                    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                        if attempt < 5:
                            await asyncio.sleep(0.2 * 2**attempt)
                            continue
                        errors.append(f"{name}: {type(exc).__name__}: {exc}"[:200])
                        break

        await asyncio.gather(*(worker() for _ in range(max(1, a.concurrency))))
        return sent, done, errors

    def first_seen(self, name: str, clusters: Iterable[str], after: float = 0.0
                   ) -> tuple[float, str] | None:
        """First appearance of a copy of ``name`` at or after ``after``: (time, cluster)."""
        best: tuple[float, str] | None = None
        for c in clusters:
            for t in self.watches[c].appeared.get(name, ()):
                if t >= after and (best is None or t < best[0]):
                    best = (t, c)
        return best

    def first_available(self, name: str, clusters: Iterable[str], after: float = 0.0
                        ) -> float | None:
        times = [t for c in clusters
                 for t in self.watches[c].became_available.get(name, ()) if t >= after]
        return min(times) if times else None

    def where(self, name: str) -> list[str]:
        return [c for c, w in self.watches.items() if name in w.present]

    async def propagation(self, out: dict[str, Any], ns: str, members: list[str],
                          home: dict[str, str], deadline: float) -> None:
        """Fills ``out`` as it goes, so a phase that times out still reports."""
        a = self.args
        homes = max(1, min(a.home_members, len(members)))
        items = [(f"w{i:05d}", f"g{i % homes}") for i in range(a.workloads)]
        cpu0 = proc_cpu_seconds(self.hub.pid) if self.hub else None
        log(f"creating {a.workloads} Deployments (concurrency {a.concurrency}, "
            f"rate {a.rate or 'unlimited'}/s)")
        sent, done, errors = await self.create_workloads(ns, items, deadline)
        first_sent = min(sent.values()) if sent else now()
        create_span = (max(done.values()) - first_sent) if done else 0.0
        out["created"] = len(done)
        out["create_errors"] = len(errors)
        out["create_error_samples"] = errors[:10]
        out["create_seconds"] = round(create_span, 3)
        out["create_rate_per_s"] = round(len(done) / create_span, 1) if create_span else None
        out["create_call_seconds"] = summary(done[n] - sent[n] for n in done)
        log(f"created {len(done)} in {create_span:.1f}s; waiting for copies on members")

        names = list(done)
        every = list(self.watches)
        timed_out = False
        try:
            await self.wait_for(
                lambda: all(self.first_seen(n, every) is not None for n in names),
                self.remaining(deadline), "every workload to appear on a member")
        except PhaseTimeout:
            timed_out = True
        seen = {n: got for n in names if (got := self.first_seen(n, every)) is not None}
        latencies = [seen[n][0] - done[n] for n in seen]
        out["appeared"] = len(seen)
        out["missing"] = len(names) - len(seen)
        out["missing_samples"] = sorted(set(names) - set(seen))[:10]
        out["timed_out"] = timed_out
        out["latency_seconds"] = summary(latencies)
        # the tail, to tell a stall (slow ones created close together) from a member
        slow = sorted(seen, key=lambda n: seen[n][0] - done[n], reverse=True)[:15]
        out["slowest"] = [{"name": n, "member": seen[n][1],
                           "created_at_s": round(done[n] - first_sent, 2),
                           "latency_s": round(seen[n][0] - done[n], 3)} for n in slow]
        if seen:
            last = max(t for t, _ in seen.values())
            span = last - first_sent
            out["first_create_to_last_appearance_seconds"] = round(span, 3)
            out["throughput_per_s"] = round(len(seen) / span, 2) if span > 0 else None
        placed = Counter(c for _, c in seen.values())
        out["placement"] = {m: placed.get(m, 0) for m in members}
        group_of = dict(items)
        out["misplaced"] = sum(1 for n, (_, c) in seen.items() if home[group_of[n]] != c)
        log(f"{len(seen)}/{len(names)} appeared; p50 "
            f"{out['latency_seconds'].get('p50')}s, max {out['latency_seconds'].get('max')}s")

        # Available: the member's KCM, scheduler and kwok made the pod Ready.
        avail_deadline = min(deadline, now() + a.available_timeout)
        avail_timed_out = False
        try:
            await self.wait_for(
                lambda: all(self.first_available(n, every) is not None for n in seen),
                self.remaining(avail_deadline), "every copy to be available", 0.5)
        except PhaseTimeout:
            avail_timed_out = True
        avail = {n: t for n in seen if (t := self.first_available(n, every)) is not None}
        # Anything but one copy on the home member means the hub moved or duplicated a
        # workload although no member failed (e.g. a controller restart).
        off_home = {n: sorted(c for c in every if c != home[group_of[n]]
                              and self.watches[c].appeared.get(n))
                    for n in seen}
        off_home = {n: cs for n, cs in off_home.items() if cs}
        multi = {n: self.where(n) for n in seen if len(self.where(n)) > 1}
        out["had_copy_off_home"] = {"count": len(off_home),
                                    "samples": dict(list(off_home.items())[:10])}
        out["copies_on_several_members_now"] = {"count": len(multi),
                                                "samples": dict(list(multi.items())[:10])}
        out["not_on_home_now"] = sum(1 for n in seen
                                     if n not in self.watches[home[group_of[n]]].present)
        out["available"] = {
            "count": len(avail), "timed_out": avail_timed_out,
            "latency_seconds": summary(avail[n] - done[n] for n in avail),
        }
        if avail:
            out["available"]["first_create_to_last_available_seconds"] = round(
                max(avail.values()) - first_sent, 3)
        cpu1 = proc_cpu_seconds(self.hub.pid) if self.hub else None
        out["hub"] = {**self.hub_stats(),
                      "cpu_seconds_in_phase": round(cpu1 - cpu0, 2)
                      if cpu0 is not None and cpu1 is not None else None,
                      "metrics": await self.hub_metrics_summary()}
        if timed_out:
            raise PhaseTimeout(f"{out['missing']} of {len(names)} workloads never appeared "
                               "on a member")

    async def failover(self, out: dict[str, Any], members: list[str], deadline: float
                       ) -> None:
        """Fills ``out`` as it goes, so a phase that times out still reports."""
        a = self.args
        counts = {m: len(self.watches[m].present) for m in members}
        victim = max(sorted(members), key=lambda m: counts[m])
        others = [m for m in members if m != victim]
        on_victim = sorted(self.watches[victim].present)
        # a workload that already has a copy elsewhere has nothing to wait for
        elsewhere = [n for n in on_victim if any(n in self.watches[o].present for o in others)]
        moved = [n for n in on_victim if n not in set(elsewhere)]
        out.update({"victim": victim, "workloads_on_victim": len(on_victim),
                    "already_on_another_member_at_kill": len(elsewhere),
                    "copies_per_member_before": counts})
        if not moved:
            out["skipped"] = "no workload on any member"
            return
        self.victim = victim
        cpu0 = proc_cpu_seconds(self.hub.pid) if self.hub else None
        fleet_cpu0 = cpu_by_process(self.state_dir, ["hub", *members])
        writes0 = {c: await self.apiserver_writes(c) for c in ["hub", *others]}
        log(f"failover: SIGKILL the apiserver of {victim} ({len(moved)} workloads)")
        t0 = now()
        await asyncio.to_thread(self.lf.kill_apiserver, victim)
        out["kill_call_seconds"] = round(now() - t0, 3)

        detected: list[float] = []
        scrapes = Counter[str]()

        async def detect() -> None:
            while True:
                samples = await self.metrics()
                scrapes["failed" if not samples else "ok"] += 1
                if metric(samples, "fedctl_cluster_ready", cluster=victim) == 0:
                    detected.append(now() - t0)
                    return
                await asyncio.sleep(0.25)

        detector = asyncio.create_task(detect())
        self.tasks.append(detector)  # cancelled by teardown if we leave early
        fo_deadline = min(deadline, now() + a.failover_timeout)
        timed_out = False
        try:
            await self.wait_for(
                lambda: all(self.first_seen(n, others, t0) is not None for n in moved),
                self.remaining(fo_deadline), f"every workload of {victim} to move")
        except PhaseTimeout:
            timed_out = True
        got = {n: s for n in moved if (s := self.first_seen(n, others, t0)) is not None}
        times = [t - t0 for t, _ in got.values()]
        out.update({
            "moved": len(got), "not_moved": len(moved) - len(got), "timed_out": timed_out,
            "moved_to": dict(Counter(c for _, c in got.values())),
            "first_moved_seconds": round(min(times), 3) if times else None,
            "all_moved_seconds": round(max(times), 3) if times and not timed_out else None,
            "moved_seconds": summary(times),
            "cpu_until_all_moved": {**cpu_delta(
                fleet_cpu0, cpu_by_process(self.state_dir, ["hub", *members])),
                                    "wall_seconds": round(now() - t0, 2)},
        })
        out["apiserver_writes_until_all_moved"] = {
            c: dict((await self.apiserver_writes(c) - w).most_common())
            for c, w in writes0.items()}
        log(f"failover: {len(got)}/{len(moved)} moved"
            + (f", all after {max(times):.1f}s" if times and not timed_out else ""))
        fleet_cpu1 = cpu_by_process(self.state_dir, ["hub", *members])
        writes1 = {c: await self.apiserver_writes(c) for c in ["hub", *others]}
        t_moved = now()
        avail_timed_out = False
        try:
            await self.wait_for(
                lambda: all(self.first_available(n, others, t0) is not None for n in got),
                self.remaining(fo_deadline), "every moved copy to be available", 0.5)
        except PhaseTimeout:
            avail_timed_out = True
        avail = [t - t0 for n in got if (t := self.first_available(n, others, t0)) is not None]
        out["available"] = {
            "count": len(avail), "timed_out": avail_timed_out,
            "all_available_seconds": round(max(avail), 3)
            if avail and len(avail) == len(moved) else None,
            "available_seconds": summary(avail),
            # where the machine's time goes while the receiving members catch up
            "cpu_from_all_moved": {**cpu_delta(
                fleet_cpu1, cpu_by_process(self.state_dir, ["hub", *members])),
                                   "wall_seconds": round(now() - t_moved, 2)}}
        out["available"]["apiserver_writes_from_all_moved"] = {
            c: dict((await self.apiserver_writes(c) - w).most_common())
            for c, w in writes1.items()}
        # give the metrics poller a moment if the move outran it (it should not)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(detector), 5)
        detector.cancel()
        out["hub_detected_not_ready_seconds"] = round(detected[0], 3) if detected else None
        out["metrics_scrapes_while_detecting"] = dict(scrapes)  # failed: the hub's loop was
        # too busy to answer within 5 s, so detection may have happened earlier
        # where the receiving members spent the time (their own controllers' stages)
        out["member_stages"] = {c: await self.member_stages(c, set(got)) for c in
                                sorted({c for _, c in got.values()})}
        cpu1 = proc_cpu_seconds(self.hub.pid) if self.hub else None
        out["hub"] = {**self.hub_stats(),
                      "cpu_seconds_in_phase": round(cpu1 - cpu0, 2)
                      if cpu0 is not None and cpu1 is not None else None,
                      "metrics": await self.hub_metrics_summary()}

        if a.fence and not timed_out:
            log(f"fencing: restarting the apiserver of {victim}")
            t1 = now()
            await self.lf.restart_apiserver(victim)
            self.victim = None
            restarted = now() - t1
            w = self.watches[victim]

            async def fenced() -> bool:
                return w.synced.is_set() and w.relists > 1 and not (w.present & set(moved))

            fence_timed_out = False
            try:
                await self.wait_for(fenced, self.remaining(min(deadline, now() + 300)),
                                    f"old copies to be deleted from {victim}", 0.25)
            except PhaseTimeout:
                fence_timed_out = True
            left = len(w.present & set(moved))
            # when the watch saw each old copy go (a DELETED event, or missing from the
            # relist after the restart), from the restart call
            gone_at = [w.deleted[n] - t1 for n in moved if n in w.deleted and w.deleted[n] >= t1]
            out["fencing"] = {
                "apiserver_restart_seconds": round(restarted, 3),
                "old_copies_left": left, "timed_out": fence_timed_out,
                "deleted_seconds_after_restart_call": summary(gone_at),
            }
        if timed_out:
            raise PhaseTimeout(f"{out['not_moved']} of {len(moved)} workloads did not move "
                               f"off {victim}")

    async def execute(self) -> None:
        a, r = self.args, self.result
        fleet = load_fleet_file(a.fleet)
        members = [c.name for c in fleet.clusters]
        r["parameters"]["members"] = members
        deadline = now() + a.timeout

        self.phase = "fleet"
        log(f"starting the fleet ({len(members)} members) under {self.state_dir}")
        t = now()
        state, reused = await self.fleet_up(fleet)
        r["phases"]["fleet_up_seconds"] = round(now() - t, 2)
        r["fleet"] = {"state_dir": str(self.state_dir), "reused": reused,
                      "rss_gib": round(sum(procs.rss_bytes(p) for p in state.all_procs())
                                       / 2**30, 2)}
        self.hub_api = await api_client(state.kubeconfig, "hub")
        for m in members:
            self.member_apis[m] = await api_client(state.kubeconfig, m)
        if reused:
            self.phase = "cleanup"
            await self.cleanup_previous()

        self.phase = "join"
        t = now()
        await join(self.hub_api, fleet, self.state_dir)  # what `fedctl clusters join` runs
        health = health_spec(self.args)
        if health:  # detection time, as a peer tuned for fast failover would set it
            mc_api = k8s.CustomObjectsApi(self.hub_api)
            for m in members:
                await mc_api.patch_cluster_custom_object(
                    GROUP, VERSION, "memberclusters", m, {"spec": {"health": health}},
                    # documented by the client; its type stub omits it
                    _content_type="application/merge-patch+json")  # type: ignore[call-arg]
        r["phases"]["join_seconds"] = round(now() - t, 2)

        self.phase = "hub-start"
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        t = now()
        self.start_hub(state)
        await self.wait_for(self.hub_ready, min(120, self.remaining(deadline)), "hub /readyz")
        r["phases"]["hub_ready_seconds"] = round(now() - t, 2)
        await self.wait_for(lambda: self.members_ready(members),
                            min(120, self.remaining(deadline)),
                            "the hub to report every member Ready", 0.5)
        r["phases"]["members_ready_seconds"] = round(now() - t, 2)
        r["hub"]["after_start"] = self.hub_stats()
        log(f"hub ready in {r['phases']['hub_ready_seconds']}s, members Ready after "
            f"{r['phases']['members_ready_seconds']}s")

        self.phase = "policies"
        ns = f"{NS_PREFIX}{uuid.uuid4().hex[:6]}"
        r["parameters"]["namespace"] = ns
        await k8s.CoreV1Api(self.hub_api).create_namespace(
            cast(Any, {"metadata": {"name": ns, "labels": {NS_LABEL: "true"}}}))
        home = {f"g{k}": m for k, m in enumerate(members)}
        custom = k8s.CustomObjectsApi(self.hub_api)
        for group, member in home.items():
            await custom.create_namespaced_custom_object(
                GROUP, VERSION, ns, "propagationpolicies",
                policy(ns, group, member, self.args.toleration))
        await self.wait_for(lambda: self.policies_valid(ns, len(home)),
                            min(60, self.remaining(deadline)), "policies Valid", 0.5)
        for m in members:
            self.watches[m] = MemberWatch(m, self.member_apis[m], ns)
            self.tasks.append(asyncio.create_task(self.watches[m].run(), name=f"watch/{m}"))
        self.tasks.append(asyncio.create_task(self.sample_hub(), name="hub-rss"))
        await self.wait_for(lambda: all(w.synced.is_set() for w in self.watches.values()),
                            min(60, self.remaining(deadline)), "member watches")

        self.phase = "propagation"
        r["propagation"] = {}
        await self.propagation(r["propagation"], ns, members, home, deadline)

        if not a.no_failover:
            self.phase = "failover"
            r["failover"] = {}
            await self.failover(r["failover"], members, deadline)

    async def teardown(self) -> None:
        r = self.result
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        r["watches"] = {m: {"events": w.events, "errors": w.errors, "relists": w.relists,
                            **({"last_error": w.last_error} if w.last_error else {})}
                        for m, w in self.watches.items()}
        if self.hub is not None:
            r["hub"]["at_end"] = self.hub_stats()
            r["hub"]["peak_rss_mib_sampled"] = self.hub_peak_sampled
            with contextlib.suppress(Exception):
                r["hub"]["metrics_at_end"] = await self.hub_metrics_summary()
            code = await asyncio.to_thread(self.hub.stop)
            r["hub"]["exit_code"] = code
            r["hub"]["log_summary"] = self.hub.log_summary()
            if not r.get("ok"):
                r["hub"]["log_tail"] = self.hub.tail(40).splitlines()
        if self.http is not None:
            await self.http.close()
        for api in [self.hub_api, *self.member_apis.values()]:
            if api is not None:
                with contextlib.suppress(Exception):
                    await api.close()
        td: dict[str, Any] = {}
        if self.fleet_started and self.args.keep:
            if self.victim is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.lf.restart_apiserver(self.victim), 120)
            td["fleet"] = f"kept under {self.state_dir}"
        elif self.fleet_started or self.lf.exists():
            left = await asyncio.to_thread(self.lf.down)
            td["processes_left"] = left
            if not left and self.state_dir.is_relative_to(self.run_dir):
                shutil.rmtree(self.state_dir, ignore_errors=True)
        shutil.rmtree(self.run_dir / "hub-cache", ignore_errors=True)
        td["run_dir"] = str(self.run_dir)
        r["teardown"] = td


async def run(args: argparse.Namespace, result: dict[str, Any]) -> None:
    bench = Bench(args, result)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    started = now()
    scope = asyncio.timeout(args.timeout)
    try:
        async with scope:
            await bench.execute()
        result["ok"] = True
    except TimeoutError as exc:
        result["error"] = (f"timed out after {args.timeout}s in phase {bench.phase}"
                           if scope.expired() else f"{type(exc).__name__}: {exc}"[:1000])
    except asyncio.CancelledError:
        result["error"] = f"interrupted in phase {bench.phase}"
    except Exception as exc:
        result["error"] = f"phase {bench.phase}: {type(exc).__name__}: {exc}"[:2000]
        traceback.print_exc(file=sys.stderr)
    finally:
        result["failed_phase"] = None if result.get("ok") else bench.phase
        loop.remove_signal_handler(signal.SIGTERM)
        log("tearing down")
        try:
            await asyncio.shield(bench.teardown())
        except Exception as exc:
            result["teardown_error"] = f"{type(exc).__name__}: {exc}"[:500]
        result["wall_seconds"] = round(now() - started, 1)
        result["machine"]["load_avg_after"] = load_avg()
        if not result.get("ok") and bench.hub is not None:
            print(f"--- hub log {bench.hub.log_path} (last lines) ---\n{bench.hub.tail(40)}",
                  file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--workloads", type=int, default=1000, help="Deployments to create")
    ap.add_argument("--concurrency", type=int, default=20, help="create calls in flight")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="at most this many creates per second (0: as fast as possible)")
    ap.add_argument("--workers", type=int, default=16, help="`fedctl hub run --workers`")
    ap.add_argument("--home-members", type=int, default=5,
                    help="workloads go to the first K members (1: all on one member, so "
                         "the failover moves every workload)")
    ap.add_argument("--timeout", type=float, default=1200.0,
                    help="bound on the whole run, seconds (teardown comes after)")
    ap.add_argument("--available-timeout", type=float, default=180.0,
                    help="how long to wait for every copy to be available, seconds")
    ap.add_argument("--failover-timeout", type=float, default=300.0,
                    help="how long to wait for the failed member's workloads to move")
    ap.add_argument("--no-failover", action="store_true", help="skip the failover phase")
    ap.add_argument("--fence", action="store_true",
                    help="after the failover, restart the apiserver and time the removal "
                         "of the old copies")
    ap.add_argument("--toleration", type=float, default=None,
                    help="policies' failover.clusterNotReadySeconds (default: the API's)")
    ap.add_argument("--probe-interval", type=float, default=None,
                    help="members' spec.health.probeIntervalSeconds (default: the API's)")
    ap.add_argument("--probe-timeout", type=float, default=None,
                    help="members' spec.health.probeTimeoutSeconds")
    ap.add_argument("--failure-threshold", type=int, default=None,
                    help="members' spec.health.failureThreshold")
    ap.add_argument("--keep", action="store_true",
                    help=f"reuse a running fleet and leave it running (state dir "
                         f"{KEEP_DIR} unless --state-dir)")
    ap.add_argument("--state-dir", type=Path, default=None, help="fleet state directory")
    ap.add_argument("--fleet", type=Path, default=FLEET_FILE, help="fleet file")
    ap.add_argument("--no-leader-elect", action="store_true",
                    help="pass --no-leader-elect to the hub")
    ap.add_argument("--hub-log-level", default="warning",
                    choices=["debug", "info", "warning", "error"])
    args = ap.parse_args()
    if args.workloads < 1 or args.concurrency < 1:
        ap.error("--workloads and --concurrency must be at least 1")

    result: dict[str, Any] = {
        "benchmark": "propagation",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "parameters": {
            "workloads": args.workloads, "concurrency": args.concurrency,
            "rate_per_s": args.rate or None, "hub_workers": args.workers,
            "home_members": args.home_members,
            "timeout_seconds": args.timeout, "fleet_file": str(args.fleet),
            "workload": "Deployment, 1 replica, requests cpu 10m / memory 16Mi",
            "policy": "5 PropagationPolicies; group gK (workload i: K = i mod home_members): "
                      "clusterAffinities [home: member K] then [failover: the others]; "
                      "Divided/Aggregated",
            "failover_cluster_not_ready_seconds": (
                Failover().cluster_not_ready_seconds if args.toleration is None
                else args.toleration),
            "health_probe": {"interval_seconds": args.probe_interval or HealthPolicy().interval,
                             "timeout_seconds": args.probe_timeout or HealthPolicy().timeout,
                             "failure_threshold": (args.failure_threshold
                                                   or HealthPolicy().failure_threshold)},
        },
        "ok": False, "error": None,
        "phases": {}, "hub": {},
    }
    asyncio.run(run(args, result))
    print(json.dumps(result, indent=2))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
