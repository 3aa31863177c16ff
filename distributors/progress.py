"""Progress: JSON events (``fedctl artifacts sync -o json``), a progress line for people, a rate
limiter."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO


class Events(Protocol):
    def emit(self, event: dict[str, Any]) -> None: ...


class NullEvents:
    def emit(self, event: dict[str, Any]) -> None:
        return None


class RecordingEvents:
    """Keeps every event (tests, benchmarks)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def emit(self, event: dict[str, Any]) -> None:
        with self._lock:
            self.events.append(dict(event))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


class JsonEvents:
    """One JSON object per line (``-o json``); flushed so a reader sees each event."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._lock = threading.Lock()

    def emit(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, separators=(",", ":"))
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()


class HumanEvents:
    """Plan and publish lines on stdout; a redrawn progress bar on stderr if it is a tty."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self._tty = self._err.isatty()
        self._clock = clock
        self._lock = threading.Lock()
        self._last = 0.0

    def emit(self, event: dict[str, Any]) -> None:
        kind = event["event"]
        with self._lock:
            if kind == "progress":
                if self._tty and self._clock() - self._last > 0.2:
                    self._last = self._clock()
                    total = max(1, int(event["bytes_total"]))
                    done = int(event["bytes_done"])
                    width = 30
                    fill = int(width * min(done, total) / total)
                    self._err.write(f"\r[{'#' * fill}{'.' * (width - fill)}] "
                                    f"{_human(done)}/{_human(total)} "
                                    f"{event['files_done']}/{event['files_total']} files")
                    self._err.flush()
                return
            if self._tty:
                self._err.write("\r\033[K")
            line = _describe(event)
            if line:
                self._out.write(line + "\n")
                self._out.flush()


def _describe(e: dict[str, Any]) -> str | None:
    kind = e["event"]
    if kind == "plan":
        return (f"{e['store']}: {e['copy']} to copy ({_human(e['copy_bytes'])}), "
                f"{e['check']} to check, {e['skip']} unchanged, {e['delete']} to delete"
                + (" [dry run]" if e.get("dry_run") else ""))
    if kind == "sealed":
        return f"{e['store']}: sealed {e['model']}/{e['version']} ({e['files']} files hashed)"
    if kind == "published":
        return f"{e['store']}: published {e['model']}/{e['version']} {e['identity'][:12]}"
    if kind == "failed":
        return f"{e['store']}: FAILED {e.get('path') or ''} {e['error']}"
    if kind == "deleted-version":
        return f"{e['store']}: retention removed {e['model']}/{e['version']}"
    return None


def _human(n: int) -> str:
    x = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if x < 1024 or unit == "GiB":
            return f"{x:.0f}{unit}" if unit == "B" else f"{x:.1f}{unit}"
        x /= 1024
    return f"{x:.1f}GiB"


class RateLimiter:
    """A token bucket shared by all transfers (bytes/second); None means unlimited."""

    def __init__(self, rate: float | None, *, burst: float | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = rate
        self._burst = burst if burst is not None else (rate or 0.0)
        self._tokens = self._burst
        self._clock, self._sleep = clock, sleep
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self, n: int) -> None:
        if not self.rate:
            return
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


def parse_rate(text: str) -> float:
    """``50M`` -> 50 MiB/s, ``800K``, ``1G``, plain bytes."""
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    t = text.strip().upper().removesuffix("B").removesuffix("I")
    mult = 1
    if t and t[-1] in units:
        mult = units[t[-1]]
        t = t[:-1]
    value = float(t)
    if value <= 0:
        raise ValueError("rate must be positive")
    return value * mult
