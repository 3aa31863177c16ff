"""The interpreter ConfigMaps applied to the hub's registry: what a change, a bad key, a
removed key and a kind defined twice do (``InterpreterState``, ``InterpreterWatcher``)."""

from __future__ import annotations

import logging

import pytest

from federation.hub.interpreter_watch import DETAIL, InterpreterState, InterpreterWatcher
from federation.interpreters.interpreter import Interpreters
from federation.interpreters.spec import parse_interpreters

MX = """\
apiVersion: fedctl.dev/v1alpha1
kind: WorkloadInterpreter
metadata: {name: mxjobs}
spec:
  target: {group: kubeflow.org, kind: MXJob}
  components:
    - each: spec.mxReplicaSpecs.*
      replicas: replicas
      podSpec: template.spec
"""
BAD_MX = MX.replace("replicas: replicas", "replicas: a.*")  # line 8: wildcard


class Watch:
    def __init__(self, files: str = "") -> None:
        self.interp = Interpreters()
        self.details: dict[str, str] = {}
        self.changes = 0
        specs = parse_interpreters(files, "file f.yaml") if files else []
        self.watcher = InterpreterWatcher(InterpreterState(specs), self.interp,
                                          self.details, self.count)

    def count(self) -> None:
        self.changes += 1

    @property
    def kinds(self) -> set[str]:
        return {k for k in self.interp.kinds() if "MXJob" in k or "Chainer" in k}


def test_a_configmap_adds_its_kinds_and_taking_it_away_removes_them() -> None:
    w = Watch()
    w.watcher.changed({})
    assert w.kinds == set() and w.changes == 1
    w.watcher.changed({"mx": {"mx.yaml": MX}})
    assert w.kinds == {"kubeflow.org/MXJob"} and w.changes == 2
    w.watcher.changed({"mx": {"mx.yaml": MX}})  # a relist, nothing new
    assert w.changes == 2
    w.watcher.changed({})
    assert w.kinds == set() and w.changes == 3
    assert w.details[DETAIL] == ""


def test_a_bad_key_is_reported_and_keeps_its_previous_specs(
        caplog: pytest.LogCaptureFixture) -> None:
    w = Watch()
    w.watcher.changed({"mx": {"mx.yaml": MX}})
    other = MX.replace("MXJob", "ChainerJob")
    with caplog.at_level(logging.ERROR):
        w.watcher.changed({"mx": {"mx.yaml": BAD_MX}, "ch": {"ch.yaml": other}})
        w.watcher.changed({"mx": {"mx.yaml": BAD_MX}, "ch": {"ch.yaml": other}})
    assert w.kinds == {"kubeflow.org/MXJob", "kubeflow.org/ChainerJob"}
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # once, not on every relist
    assert errors[0].startswith(
        "interpreters: configmap fedctl-system/mx/mx.yaml:8: spec.components[0].replicas:")
    assert "kubectl -n fedctl-system edit configmap mx" in errors[0]
    assert "keeps the interpreters this key defined before (kubeflow.org/MXJob)" in errors[0]
    assert w.details[DETAIL].startswith("configmap fedctl-system/mx/mx.yaml:8: ")
    w.watcher.changed({"mx": {"mx.yaml": MX}, "ch": {"ch.yaml": other}})  # fixed
    assert w.details[DETAIL] == ""


def test_a_bad_new_key_defines_nothing_until_it_parses() -> None:
    w = Watch()
    w.watcher.changed({"mx": {"mx.yaml": BAD_MX}})
    assert w.kinds == set()
    assert "defines no interpreter until it parses" in w.details[DETAIL]
    assert w.details[DETAIL].startswith("configmap fedctl-system/mx/mx.yaml:8")
    w.watcher.changed({"mx": {"mx.yaml": MX}})
    assert w.kinds == {"kubeflow.org/MXJob"}


def test_a_kind_in_a_file_and_a_configmap_keeps_the_file_s(
        caplog: pytest.LogCaptureFixture) -> None:
    w = Watch(files=MX)
    with caplog.at_level(logging.ERROR):
        w.watcher.changed({"mx": {"mx.yaml": MX.replace("podSpec", "containers: [x]\n"
                                                        "      podSpec")}})
    assert w.interp.spec_for({"apiVersion": "kubeflow.org/v1", "kind": "MXJob"}
                             ).source == "file f.yaml"
    assert "already defined by file f.yaml" in w.details[DETAIL]
    assert any("already defined by file f.yaml" in r.getMessage() for r in caplog.records)


def test_configmaps_apply_by_name_then_key() -> None:
    state = InterpreterState()
    specs, errors = state.update({"b": {"x.yaml": MX}, "a": {"z.yaml": MX, "y.yaml": MX}})
    assert errors == []
    assert [s.source for s in specs] == ["configmap fedctl-system/a/y.yaml",
                                         "configmap fedctl-system/a/z.yaml",
                                         "configmap fedctl-system/b/x.yaml"]
