"""Layering: the pure core never imports clients, the hub, I/O or cloud SDKs.

Two checks: the import-linter contract from pyproject.toml (``lint-imports``), and an
equivalent AST walk that also follows first-party imports transitively, so a pure module
cannot reach a forbidden one through a helper either.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
CONTRACT = next(c for c in CONFIG["contracts"] if c["type"] == "forbidden")
FIRST_PARTY = tuple(CONFIG["root_packages"])


def _module_file(name: str) -> Path | None:
    base = ROOT / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _imports(name: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _pure_modules() -> list[str]:
    mods = []
    for source in CONTRACT["source_modules"]:
        root = ROOT / Path(*source.split("."))
        files = [root.with_suffix(".py")] if root.with_suffix(".py").exists() else sorted(
            root.rglob("*.py"))
        for f in files:
            rel = f.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            mods.append(".".join(parts))
    return mods


def _forbidden(mod: str) -> str | None:
    for f in CONTRACT["forbidden_modules"]:
        if mod == f or mod.startswith(f + "."):
            return f
    return None


def test_pure_core_never_reaches_forbidden_modules() -> None:
    sources = _pure_modules()
    assert "federation.scheduling.runtime" in sources and "policies.models" in sources
    seen: dict[str, str | None] = {m: None for m in sources}
    queue = list(sources)
    while queue:
        mod = queue.pop()
        path = _module_file(mod)
        if path is None:
            continue
        for imp in _imports(mod, path):
            bad = _forbidden(imp)
            assert bad is None, f"{mod} imports {imp} (forbidden: {bad}); chain from {seen}"
            if imp.startswith(FIRST_PARTY) and imp not in seen and _module_file(imp):
                seen[imp] = mod
                queue.append(imp)


def test_import_linter_contract() -> None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    assert Path(exe).exists(), "import-linter is a dev dependency"
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BROKEN" not in proc.stdout and "KEPT" in proc.stdout


def test_registry_matches_policy_score_names() -> None:
    from federation.scheduling.registry import SCORERS
    from policies.models import SCORE_PLUGINS

    assert tuple(SCORERS) == SCORE_PLUGINS
    for name, plugin in SCORERS.items():
        assert plugin.name == name
