"""`fedctl clusters fence|unfence|list|join` run in-process against the test fleet's hub."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from federation.cli.clusters import NO_MEMBERS
from federation.cli.main import main
from federation.clusters.client import api_client
from federation.clusters.fencing import ANNOTATIONS, fence_record, parse_time
from federation.clusters.join import get_member
from federation.dev.localfleet import FleetState, LocalFleet


def fedctl(state: FleetState, capsys: pytest.CaptureFixture[str],
           *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(["clusters", "--state-dir", state.state_dir, *args])
    out = capsys.readouterr()
    return rc, out.out, out.err


def member(state: FleetState, name: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        hub = await api_client(state.kubeconfig, "hub")
        try:
            mc = await get_member(hub, name)
        finally:
            await hub.close()
        assert mc is not None
        return mc

    return asyncio.run(run())


def annotations(mc: dict[str, Any]) -> dict[str, str]:
    got: dict[str, str] = mc["metadata"].get("annotations") or {}
    return {k: v for k, v in got.items() if k in ANNOTATIONS}


def test_list_on_a_cluster_without_the_crd_prints_the_hint(
        local_fleet: LocalFleet, capsys: pytest.CaptureFixture[str]) -> None:
    state = local_fleet.load()
    # a member serves no fedctl CRDs: as a hub before the first join
    rc, out, err = fedctl(state, capsys, "--kubeconfig", state.kubeconfig, "--context",
                          "member1", "list", "--no-probe")
    assert (rc, out, err) == (0, NO_MEMBERS + "\n", "")
    rc, out, err = fedctl(state, capsys, "--kubeconfig", state.kubeconfig, "--context",
                          "member1", "list", "-o", "json")
    assert (rc, json.loads(out), err) == (0, [], NO_MEMBERS + "\n")


def test_fence_list_unfence(joined: FleetState, capsys: pytest.CaptureFixture[str]) -> None:
    state = joined
    spec_before = member(state, "member2")["spec"]
    try:
        before = datetime.now(UTC).replace(microsecond=0)
        rc, out, err = fedctl(state, capsys, "fence", "member2", "--reason", "rack power lost",
                              "--by", "alice")
        assert rc == 0, err
        mc = member(state, "member2")
        fence = fence_record(mc)
        assert fence is not None
        assert (fence.source, fence.by, fence.reason) == ("operator", "alice",
                                                          "rack power lost")
        assert before <= fence.at <= datetime.now(UTC) + timedelta(seconds=1)
        at = annotations(mc)["fedctl.dev/fenced-at"]
        assert parse_time(at) == fence.at and at.endswith("Z")
        assert mc["spec"] == spec_before  # a merge patch of annotations only
        assert out.startswith(f"member2 fenced by alice at {at}: rack power lost;")

        rc, out, err = fedctl(state, capsys, "fence", "member2", "--by", "bob")
        assert rc == 1 and out == ""
        assert err == (f"error: member2 is already fenced by alice at {at}: rack power lost "
                       "(run `fedctl clusters unfence member2` first to record a new fence)\n")
        assert annotations(member(state, "member2"))["fedctl.dev/fenced-by"] == "alice"

        rc, out, err = fedctl(state, capsys, "list", "--no-probe")
        assert rc == 0, err
        lines = out.splitlines()
        assert lines[0].split()[-1] == "FENCED"
        col = lines[0].index("FENCED")
        fenced = {line.split()[0]: line[col:].strip() for line in lines[1:]}
        assert fenced == {"member1": "", "member2": f"yes (by alice at {at})", "member3": ""}
        rc, out, err = fedctl(state, capsys, "list", "--no-probe", "-o", "json")
        assert {m["name"]: m["fence"] for m in json.loads(out)} == {
            "member1": None, "member3": None,
            "member2": {"source": "operator", "by": "alice", "at": at,
                        "reason": "rack power lost"}}

        # joining again (the dev fleet's own file: no -f) keeps the fence
        rc, out, err = fedctl(state, capsys, "join")
        assert rc == 0, err
        assert [line.split()[:2] for line in out.splitlines()[1:]] == [
            ["member1", "updated"], ["member2", "updated"], ["member3", "updated"]]
        assert annotations(member(state, "member2"))["fedctl.dev/fenced-by"] == "alice"

        rc, out, err = fedctl(state, capsys, "unfence", "member2")
        assert (rc, err) == (0, "")
        assert out == f"member2 unfenced (was fenced by alice at {at}: rack power lost)\n"
        assert annotations(member(state, "member2")) == {}
        rc, out, err = fedctl(state, capsys, "unfence", "member2")
        assert (rc, out) == (0, "member2 is not fenced\n")
    finally:
        fedctl(state, capsys, "unfence", "member2")


def test_fence_defaults_to_the_kubeconfig_user_and_names_known_clusters(
        joined: FleetState, capsys: pytest.CaptureFixture[str]) -> None:
    state = joined
    cfg = yaml.safe_load(Path(state.kubeconfig).read_text())
    user = next(c["context"]["user"] for c in cfg["contexts"] if c["name"] == "hub")
    try:
        rc, out, err = fedctl(state, capsys, "fence", "member3")
        assert rc == 0, err
        fence = fence_record(member(state, "member3"))
        assert fence is not None and (fence.by, fence.reason) == (user, "")
    finally:
        fedctl(state, capsys, "unfence", "member3")
    assert fence_record(member(state, "member3")) is None

    rc, out, err = fedctl(state, capsys, "fence", "nope")
    assert (rc, out) == (1, "")
    assert err == ("error: no member cluster named 'nope' "
                   "(known: member1, member2, member3)\n")
