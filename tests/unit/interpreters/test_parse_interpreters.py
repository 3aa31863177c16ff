"""WorkloadInterpreter YAML from text (a ConfigMap's value) and how declarative specs
replace each other in a running registry (``Interpreters.set_extra``)."""

from __future__ import annotations

from typing import Any

import pytest

from federation.errors import InputError, InputErrors
from federation.interpreters.interpreter import Interpreters, UnsupportedKind
from federation.interpreters.spec import KindSpec, parse_interpreters

SOURCE = "configmap fedctl-system/mx/mx.yaml"


def interpreter(kind: str, group: str = "kubeflow.org", replicas: str = "replicas") -> str:
    return f"""\
apiVersion: fedctl.dev/v1alpha1
kind: WorkloadInterpreter
metadata: {{name: {kind.lower()}}}
spec:
  target: {{group: {group}, kind: {kind}}}
  components:
    - each: spec.replicaSpecs.*
      replicas: {replicas}
      podSpec: template.spec
"""


def job(kind: str, group: str = "kubeflow.org") -> dict[str, Any]:
    return {"apiVersion": f"{group}/v1", "kind": kind, "metadata": {"name": "j"},
            "spec": {"replicaSpecs": {"Worker": {"replicas": 3, "template": {
                "spec": {"containers": [{"name": "c", "image": "i"}]}}}}}}


def test_several_documents_parse_with_the_source_recorded() -> None:
    specs = parse_interpreters(interpreter("MXJob") + "---\n" + interpreter("ChainerJob"),
                               SOURCE)
    assert [(s.key, s.source) for s in specs] == [("kubeflow.org/MXJob", SOURCE),
                                                  ("kubeflow.org/ChainerJob", SOURCE)]


def test_an_error_names_the_source_line_and_field_of_each_bad_document() -> None:
    text = interpreter("MXJob") + "---\n" + interpreter("ChainerJob", replicas="a.*")
    with pytest.raises(InputErrors) as err:
        parse_interpreters(text, SOURCE)
    msg = str(err.value)
    # the second document's replicas path, on line 18 of the text ("---" is line 10)
    assert msg.startswith(f"{SOURCE}:18: spec.components[0].replicas: ")
    assert "wildcards" in msg


def test_bad_yaml_and_empty_text_are_errors_with_the_source() -> None:
    with pytest.raises(InputError) as err:
        parse_interpreters("spec: [unclosed\n", SOURCE)
    assert str(err.value).startswith(f"{SOURCE}:")
    assert "invalid YAML" in str(err.value)
    with pytest.raises(InputError) as err:
        parse_interpreters("# nothing here\n", SOURCE)
    assert "no WorkloadInterpreter document" in str(err.value)


def test_set_extra_replaces_the_declarative_specs_in_place() -> None:
    interp = Interpreters()
    with pytest.raises(UnsupportedKind):
        interp.components(job("MXJob"))
    assert interp.set_extra(parse_interpreters(interpreter("MXJob"), SOURCE)) == []
    assert interp.replicas(job("MXJob")) == {"Worker": 3}
    assert interp.set_extra([]) == []  # taken away again
    assert not interp.supports(job("MXJob"))
    assert interp.supports(job("PyTorchJob"))  # the built-ins stay


def test_a_declarative_spec_overrides_the_built_in_and_the_earlier_of_two_wins() -> None:
    interp = Interpreters()
    builtin = interp.spec_for(job("PyTorchJob"))
    first = parse_interpreters(interpreter("PyTorchJob"), "file a.yaml")
    second = parse_interpreters(interpreter("PyTorchJob"), SOURCE)
    conflicts = interp.set_extra([*first, *second])
    assert interp.spec_for(job("PyTorchJob")) == first[0] != builtin
    assert conflicts == [f"{SOURCE}: kind kubeflow.org/PyTorchJob is already defined by "
                         "file a.yaml; this definition is ignored (remove one of the two)"]
    interp.set_extra([])
    assert interp.spec_for(job("PyTorchJob")) == builtin


def test_set_extra_accepts_specs_built_in_code() -> None:
    spec = KindSpec(group="example.dev", kind="Thing", components=(), duplicated=True)
    interp = Interpreters()
    assert interp.set_extra([spec]) == []
    assert "example.dev/Thing" in interp.kinds()
