"""The real local fleet for integration tests: one per test session, torn down after.

Teardown fails the run if any process of the fleet is left behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from federation.clusters.client import api_client
from federation.clusters.join import join
from federation.dev.localfleet import FleetState, LocalFleet
from federation.fleet import load_fleet_file

from .helpers import processes_under

FLEET_FILE = Path(__file__).with_name("fleet.yaml")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def local_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalFleet]:
    state_dir = tmp_path_factory.mktemp("fleet")
    lf = LocalFleet(state_dir)
    try:
        asyncio.run(lf.up(load_fleet_file(FLEET_FILE)))
        yield lf
    finally:
        left = lf.down()
        leaked = processes_under(state_dir)
        assert not left, f"fleet processes still alive after down: {left}"
        assert not leaked, f"processes leaked after down: {leaked}"


@pytest.fixture
def fleet_state(local_fleet: LocalFleet) -> FleetState:
    """The fleet's state as recorded now (fault tests restart processes: pids change)."""
    return local_fleet.load()


@pytest.fixture
async def member_api(fleet_state: FleetState) -> AsyncIterator[dict[str, object]]:
    from federation.clusters.client import api_client

    clients = {}
    for c in fleet_state.clusters:
        clients[c.name] = await api_client(fleet_state.kubeconfig, c.context)
    try:
        yield clients
    finally:
        for cl in clients.values():
            await cl.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def joined(local_fleet: LocalFleet) -> FleetState:
    fleet_state = local_fleet.load()

    async def run() -> None:
        hub = await api_client(fleet_state.kubeconfig, "hub")
        try:
            # as `fedctl clusters join` does: the stores' endpoints and credentials
            local = {s.endpoint.name: s.endpoint for s in fleet_state.stores}
            await join(hub, load_fleet_file(FLEET_FILE), local_fleet.state_dir, local)
        finally:
            await hub.close()

    asyncio.run(run())
    return fleet_state
