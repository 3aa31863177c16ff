"""The CRDs under deploy/crds are generated from the models and must not drift."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from policies.crdgen import main, render_crds
from policies.models import KINDS, Placement
from policies.schema import fields_of

CRDS = Path(__file__).resolve().parents[3] / "deploy" / "crds"


def test_checked_in_crds_match_the_models() -> None:
    rendered = render_crds()
    on_disk = {p.name for p in CRDS.glob("*.yaml")}
    assert on_disk == set(rendered), "run: python -m policies.crdgen"
    for name, text in rendered.items():
        assert (CRDS / name).read_text() == text, f"{name} drifted: python -m policies.crdgen"


def test_check_mode_reports_drift(tmp_path: Path) -> None:
    assert main(["--out", str(tmp_path), "--check"]) == 1
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--out", str(tmp_path), "--check"]) == 0


def test_schema_covers_every_model_field() -> None:
    for info in KINDS:
        crd = yaml.safe_load(render_crds()[f"fedctl.dev_{info.plural}.yaml"])
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert version["additionalPrinterColumns"]
        assert crd["spec"]["scope"] == ("Namespaced" if info.namespaced else "Cluster")
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        assert set(spec["properties"]) == {f.json for f in fields_of(info.spec)}


def test_placement_schema_details() -> None:
    crd = yaml.safe_load(render_crds()["fedctl.dev_propagationpolicies.yaml"])
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    placement = spec["properties"]["placement"]["properties"]
    assert set(placement) == {f.json for f in fields_of(Placement)}
    rs = placement["replicaScheduling"]["properties"]
    assert rs["type"]["enum"] == ["Duplicated", "Divided"]
    assert rs["type"]["default"] == "Divided"
    gpu = placement["gpu"]["properties"]
    assert gpu["minMemory"]["x-kubernetes-int-or-string"] is True
    assert gpu["perReplica"]["minimum"] == 1
    assert spec["properties"]["resourceSelectors"]["minItems"] == 1
    assert "resourceSelectors" in spec["required"]
    assert dataclasses.is_dataclass(Placement)
