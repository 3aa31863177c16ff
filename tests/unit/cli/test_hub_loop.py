"""``fedctl hub run`` runs on uvloop where it is installed (a dependency on Linux)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from federation.cli.hub import event_loop_factory


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not a dependency there")
def test_the_hub_loop_is_uvloop() -> None:
    factory = event_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert type(loop).__module__.startswith("uvloop")
        assert loop.run_until_complete(asyncio.sleep(0, "ran")) == "ran"
    finally:
        loop.close()
