"""Detached local processes for the fleet: start, probe, pause, resume, stop.

Each process runs in its own session (so its whole group can be signalled), writes its
output to a log file, and is identified by pid plus kernel start time, so a recycled pid is
never mistaken for ours.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class ProcRecord:
    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    log: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ProcRecord:
        return ProcRecord(
            name=str(data["name"]),
            pid=int(data["pid"]),
            start_ticks=int(data["start_ticks"]),
            argv=tuple(data["argv"]),
            log=str(data["log"]),
        )


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) from /proc, or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # comm may contain spaces/parens: split after the last ')'.
    rest = raw[raw.rindex(")") + 2 :].split()
    return rest[0], int(rest[19])


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def spawn(
    name: str,
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ProcRecord:
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=full_env,
            cwd=str(cwd) if cwd else None,
            close_fds=True,
        )
    info = _stat(proc.pid)
    ticks = info[1] if info else 0
    return ProcRecord(name, proc.pid, ticks, tuple(argv), str(log))


def state(rec: ProcRecord) -> str:
    """'running', 'stopped' (SIGSTOP), or 'exited'."""
    _reap(rec.pid)
    info = _stat(rec.pid)
    if info is None or info[1] != rec.start_ticks or info[0] in ("Z", "X"):
        return "exited"
    if info[0] in ("T", "t"):
        return "stopped"
    return "running"


def alive(rec: ProcRecord) -> bool:
    return state(rec) != "exited"


def _signal_group(rec: ProcRecord, sig: int) -> None:
    if not alive(rec):
        return
    try:
        os.killpg(rec.pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid, sig)


def _await_state(rec: ProcRecord, wanted: str, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = state(rec)
        if current == wanted or current == "exited":
            return
        time.sleep(0.01)


def pause(rec: ProcRecord) -> None:
    """SIGSTOP the process group and return once the kernel reports it stopped."""
    _signal_group(rec, signal.SIGSTOP)
    _await_state(rec, "stopped")


def resume(rec: ProcRecord) -> None:
    _signal_group(rec, signal.SIGCONT)
    _await_state(rec, "running")


def stop(rec: ProcRecord, *, grace: float = 10.0) -> None:
    """SIGTERM the group, wait up to ``grace`` seconds, then SIGKILL. Idempotent."""
    if not alive(rec):
        return
    _signal_group(rec, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
    _signal_group(rec, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not alive(rec):
            return
        time.sleep(0.05)
    _signal_group(rec, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(rec) and time.monotonic() < deadline:
        time.sleep(0.05)


def kill(rec: ProcRecord) -> None:
    """SIGKILL at once: a crash, as a fault for tests."""
    _signal_group(rec, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(rec) and time.monotonic() < deadline:
        time.sleep(0.02)


def rss_bytes(rec: ProcRecord) -> int:
    """Resident set size of the process (not its children), 0 if gone."""
    if not alive(rec):
        return 0
    try:
        for line in Path(f"/proc/{rec.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        return 0
    return 0


def log_tail(rec: ProcRecord, lines: int = 20) -> str:
    try:
        text = Path(rec.log).read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
