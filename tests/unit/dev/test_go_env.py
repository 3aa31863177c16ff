"""The fleet's Go processes collect garbage less often unless the user says otherwise."""

from __future__ import annotations

from federation.dev.controlplane import FLEET_GOGC, go_runtime_env


def test_go_processes_get_the_fleet_gogc() -> None:
    for role in ("etcd", "apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        assert go_runtime_env(role, {}) == {"GOGC": FLEET_GOGC}


def test_the_operator_simulator_is_python_and_left_alone() -> None:
    assert go_runtime_env("operators", {}) == {}


def test_gogc_in_the_environment_wins() -> None:
    assert go_runtime_env("apiserver", {"GOGC": "100"}) == {}
