"""Member clusters as kind clusters, for machines with Docker (``fedctl dev up --runtime kind``).

Only the members' control planes move into kind: the hub stays local processes (so it keeps
no controller-manager), and kwok still runs locally against each kind cluster with the same
stages and the same fake GPU nodes. Nothing is downloaded besides kind's node image.
This path is not exercised on machines without Docker (none here has it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from federation.errors import FleetError

KIND_CONFIG = {
    "kind": "Cluster",
    "apiVersion": "kind.x-k8s.io/v1alpha4",
    "networking": {"apiServerAddress": "127.0.0.1", "apiServerPort": 0},
}


def cluster_name(fleet: str, member: str) -> str:
    return f"fedctl-{fleet}-{member}"[:50]


def require_tools() -> None:
    missing = [t for t in ("docker", "kind") if shutil.which(t) is None]
    if missing:
        raise FleetError(
            f"--runtime kind needs {' and '.join(missing)} on PATH",
            hint="install Docker and kind, or use the default --runtime binary",
        )
    info = subprocess.run(["docker", "info"], capture_output=True, text=True, check=False)
    if info.returncode != 0:
        raise FleetError("the Docker engine is not reachable (`docker info` failed)",
                         hint="start Docker, or use the default --runtime binary")


def create_cluster(name: str, kubeconfig: Path, config_path: Path) -> None:
    config_path.write_text(yaml.safe_dump(KIND_CONFIG))
    proc = subprocess.run(
        ["kind", "create", "cluster", "--name", name, "--config", str(config_path),
         "--kubeconfig", str(kubeconfig), "--wait", "180s"],
        capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise FleetError(f"kind create cluster {name} failed:\n{proc.stderr[-2000:]}")


def delete_cluster(name: str) -> None:
    if shutil.which("kind") is None:
        return
    subprocess.run(["kind", "delete", "cluster", "--name", name], capture_output=True,
                   check=False)


def rename_context(kubeconfig: Path, context: str) -> dict[str, object]:
    """Load kind's kubeconfig and name its cluster, user and context ``context``."""
    data = yaml.safe_load(kubeconfig.read_text())
    data["clusters"][0]["name"] = context
    data["users"][0]["name"] = f"{context}-admin"
    data["contexts"] = [{"name": context,
                         "context": {"cluster": context, "user": f"{context}-admin"}}]
    data["current-context"] = context
    kubeconfig.write_text(yaml.safe_dump(data))
    kubeconfig.chmod(0o600)
    return dict(data)
