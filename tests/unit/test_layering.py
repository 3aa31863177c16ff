"""Layering: the import-linter contracts in pyproject.toml hold (``lint-imports``, which
also follows indirect imports), and every first-party package is placed in a layer, which
import-linter itself does not require: a package missing from the layers would be
unconstrained.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
# the dev fleet and its tools sit outside the product layers; a forbidden contract keeps
# product code from importing them
OUTSIDE_LAYERS = {"federation.dev"}


def _layered(container: str) -> set[str]:
    names: set[str] = set()
    for contract in CONFIG["contracts"]:
        if contract["type"] != "layers":
            continue
        for layer in contract["layers"]:
            names.update(n.strip() for n in layer.replace(":", "|").split("|"))
    return {n for n in names if n == container or n.startswith(container + ".")}


def _children(package: str) -> set[str]:
    base = ROOT / Path(*package.split("."))
    out = {f"{package}.{p.stem}" for p in base.glob("*.py") if p.stem != "__init__"}
    out |= {f"{package}.{p.parent.name}" for p in base.glob("*/__init__.py")}
    return out


def test_import_linter_contracts_hold() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    assert Path(exe).exists(), "import-linter is a dev dependency"
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kept = proc.stdout.count(" KEPT")
    assert kept == len(CONFIG["contracts"]), proc.stdout


def test_every_federation_package_is_in_a_layer() -> None:
    missing = _children("federation") - _layered("federation") - OUTSIDE_LAYERS
    assert not missing, f"add {sorted(missing)} to the layers contract in pyproject.toml"
    assert "policies" in _layered("policies") and "distributors" in _layered("distributors")


def test_registry_matches_policy_score_names() -> None:
    from federation.scheduling.registry import SCORERS
    from policies.models import SCORE_PLUGINS

    assert tuple(SCORERS) == SCORE_PLUGINS
    for name, plugin in SCORERS.items():
        assert plugin.name == name
