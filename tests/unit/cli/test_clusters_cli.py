"""`fedctl clusters`: which fleet `join` uses, who fences, errors without a hub."""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from federation.cli.clusters import (
    dev_fleet_file,
    fence_user,
    fenced_cell,
    kubeconfig_user,
)
from federation.cli.main import main
from federation.clusters.fencing import fence_patch
from federation.dev.localfleet import ClusterState, FleetState, LocalFleet
from federation.dev.procs import ProcRecord
from federation.errors import FedctlError

FLEET = """\
apiVersion: fedctl.dev/v1alpha1
kind: Fleet
metadata: {name: t}
clusters:
  - {name: a, provider: onprem, region: r1}
  - {name: b, provider: onprem, region: r1}
"""


def this_process() -> ProcRecord:
    """A record of the test process itself: a fleet process that is certainly running."""
    raw = Path(f"/proc/{os.getpid()}/stat").read_text()
    ticks = int(raw[raw.rindex(")") + 2:].split()[19])
    return ProcRecord("hub/apiserver", os.getpid(), ticks, ("python",), "/dev/null")


def write_state(state_dir: Path, source: str, members: list[str],
                proc: ProcRecord | None) -> None:
    hub = ClusterState("hub", "hub", "https://127.0.0.1:1", "hub", {},
                       {"apiserver": proc} if proc else {})
    clusters = [hub] + [ClusterState(n, "member", "https://127.0.0.1:2", n, {})
                        for n in members]
    LocalFleet(state_dir).save(FleetState("t", source, str(state_dir),
                                          str(state_dir / "kubeconfig"), 0.0, clusters, []))


def test_join_defaults_to_the_running_dev_fleets_file(tmp_path: Path) -> None:
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(FLEET)
    write_state(tmp_path / "st", str(fleet_file), ["a", "b"], this_process())
    fleet = dev_fleet_file(tmp_path / "st")
    assert [c.name for c in fleet.clusters] == ["a", "b"]


def test_join_without_fleet_or_file_says_pass_f_or_dev_up(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clusters", "--state-dir", str(tmp_path / "none"), "join"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "no fleet file given and no dev fleet running under" in err
    assert "pass -f FLEET, or run `fedctl dev up`" in err


def test_join_with_a_stopped_dev_fleet(tmp_path: Path) -> None:
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(FLEET)
    gone = ProcRecord("hub/apiserver", 2**22 + 7, 1, ("x",), "/dev/null")
    write_state(tmp_path / "st", str(fleet_file), ["a", "b"], gone)
    with pytest.raises(FedctlError, match=r"is not running \(pass -f FLEET, or run `fedctl"):
        dev_fleet_file(tmp_path / "st")


def test_join_dev_fleet_file_gone_or_changed(tmp_path: Path) -> None:
    write_state(tmp_path / "st", "relative/fleet.yaml", ["a", "b"], this_process())
    with pytest.raises(FedctlError, match=r"started from 'relative/fleet\.yaml', which is "
                                          r"not found from"):
        dev_fleet_file(tmp_path / "st")
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(FLEET)
    write_state(tmp_path / "st", str(fleet_file), ["a", "c"], this_process())
    with pytest.raises(FedctlError, match="now names clusters a, b but the dev fleet runs a, c"):
        dev_fleet_file(tmp_path / "st")


KUBECONFIG: dict[str, Any] = {
    "current-context": "hub",
    "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "hub-admin"}},
                 {"name": "m1", "context": {"cluster": "m1", "user": "m1-user"}}],
}


def test_kubeconfig_user() -> None:
    assert kubeconfig_user(KUBECONFIG, None) == "hub-admin"
    assert kubeconfig_user(KUBECONFIG, "m1") == "m1-user"
    assert kubeconfig_user(KUBECONFIG, "nope") is None
    assert kubeconfig_user("not a mapping", None) is None


def test_fence_user_order(tmp_path: Path) -> None:
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump(KUBECONFIG))
    assert fence_user(" carol ", kc, None, {"USER": "dave"}) == "carol"
    assert fence_user(None, kc, "m1", {"USER": "dave"}) == "m1-user"
    assert fence_user(None, tmp_path / "missing", None, {"USER": "dave"}) == "dave"


def test_fenced_cell() -> None:
    mc: dict[str, Any] = {"metadata": {"name": "m"}}
    assert fenced_cell(mc) == ""
    at = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    mc["metadata"]["annotations"] = fence_patch("alice", at, "power")["metadata"]["annotations"]
    assert fenced_cell(mc) == "yes (by alice at 2026-12-05T09:00:00Z)"
    mc["metadata"]["annotations"] = {"fedctl.dev/fenced-by": "alice"}
    assert fenced_cell(mc) == "invalid record (unfence it)"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_list_with_an_unreachable_hub_is_one_line_and_nonzero(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kc = tmp_path / "kubeconfig"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "hub",
        "clusters": [{"name": "hub", "cluster": {
            "server": f"https://127.0.0.1:{closed_port()}", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "u"}}]}))
    rc = main(["clusters", "--kubeconfig", str(kc), "--state-dir", str(tmp_path / "none"),
               "list"])
    err = capsys.readouterr().err
    assert rc == 1
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: cannot reach the hub at https://127.0.0.1:")


def test_list_without_hub_or_dev_fleet(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clusters", "--state-dir", str(tmp_path), "list"]) == 1
    err = capsys.readouterr().err
    assert f"no hub given and no dev fleet under {tmp_path}" in err
    assert "`fedctl dev up`" in err
