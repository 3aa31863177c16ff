"""Small helpers shared by integration tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def processes_under(state_dir: Path) -> list[str]:
    """Command lines of live processes that mention ``state_dir`` (leak detection)."""
    needle = str(state_dir)
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        state = stat[stat.rindex(")") + 2 :].split()[0]
        if needle in cmd and state not in ("Z", "X"):
            found.append(f"{proc.name}: {cmd[:160]}")
    return found


async def eventually(check: Callable[[], Awaitable[T | None]], *, timeout: float = 60.0,
                     interval: float = 0.5, what: str = "condition") -> T:
    """Poll until ``check`` returns a truthy value; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = await check()
            if value:
                return value
        except Exception as exc:  # keep polling; report the last error on timeout
            last_exc = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                         + (f" (last error: {last_exc!r})" if last_exc else ""))
