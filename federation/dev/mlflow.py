"""The local fleet's model registry: a real MLflow tracking server on 127.0.0.1.

MLflow is installed from PyPI into its own virtualenv (``<cache>/mlflow-venv``, pinned
``MLFLOW_VERSION``) so its many dependencies never meet fedctl's; ``scripts/bootstrap``
creates it (``python -m federation.dev.mlflow``), and the check is cheap when it is there.

``fedctl dev up`` runs ``mlflow server`` with a SQLite backend in the fleet's state
directory and the fleet's MinIO store as artifact destination (``s3://<bucket>/mlflow``),
webhooks allowed to loopback over http (local development only), and telemetry off.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from federation.dev.build import cache_root
from federation.dev.objectstores import StoreEndpoint
from federation.errors import ToolchainError

# 3.18.0 is on PyPI but needs mlflow-tracing==3.18.0, which is not: 3.17.2 is the newest
# release whose dependencies all resolve.
MLFLOW_VERSION = "3.17.2"
REQUIREMENTS = (f"mlflow=={MLFLOW_VERSION}", "boto3>=1.35")  # boto3: S3 artifact store
ARTIFACTS_PREFIX = "mlflow"  # the server's artifacts live under s3://<bucket>/mlflow
WEBHOOK_CACHE_TTL = 5  # seconds the server caches its webhook list (MLflow default: 60)


def venv_dir() -> Path:
    return cache_root() / "mlflow-venv"


def mlflow_binary() -> Path:
    return venv_dir() / "bin" / "mlflow"


def installed_version(venv: Path | None = None) -> str | None:
    """The mlflow version in the virtualenv, or None (absent or broken). Read from the
    dist-info directory: importing mlflow takes seconds."""
    venv = venv or venv_dir()
    for site in sorted((venv / "lib").glob("python*/site-packages")):
        for info in site.glob("mlflow-*.dist-info"):
            version = info.name[len("mlflow-"): -len(".dist-info")]
            if (venv / "bin" / "mlflow").exists():
                return version
    return None


def ensure_installed(venv: Path | None = None, python: str = sys.executable) -> bool:
    """Create the virtualenv with MLflow unless the pinned version is there already.
    Returns True when it installed something."""
    venv = venv or venv_dir()
    if installed_version(venv) == MLFLOW_VERSION:
        return False
    if not (venv / "bin" / "python").exists():
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                             *REQUIREMENTS], check=False)
    if result.returncode != 0 or installed_version(venv) != MLFLOW_VERSION:
        raise ToolchainError(f"installing mlflow {MLFLOW_VERSION} into {venv} failed",
                             hint="see pip's output above")
    return True


def require_installed() -> Path:
    """The ``mlflow`` executable of the pinned version, or a ToolchainError saying how to
    install it."""
    found = installed_version()
    if found != MLFLOW_VERSION:
        what = f"mlflow {found}" if found else "no mlflow"
        raise ToolchainError(
            f"the fleet's model registry needs mlflow {MLFLOW_VERSION} in {venv_dir()}, "
            f"found {what}", hint="run scripts/bootstrap (or `python -m federation.dev.mlflow`)")
    return mlflow_binary()


@dataclass(frozen=True, slots=True)
class ServerConfig:
    port: int
    data_dir: Path  # holds mlflow.db
    store: StoreEndpoint  # the S3 store (MinIO) holding artifacts
    encryption_key: str  # Fernet key for webhook secrets at rest

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def artifacts_destination(self) -> str:
        return f"s3://{self.store.bucket}/{ARTIFACTS_PREFIX}"


def server_argv(binary: Path, cfg: ServerConfig) -> list[str]:
    return [
        str(binary), "server",
        "--host", "127.0.0.1",
        "--port", str(cfg.port),
        "--backend-store-uri", f"sqlite:///{cfg.data_dir / 'mlflow.db'}",
        "--artifacts-destination", cfg.artifacts_destination,
        "--workers", "1",  # 2 shared cores; one process also means one webhook cache
    ]


def server_env(cfg: ServerConfig) -> dict[str, str]:
    store = cfg.store
    return {
        "MLFLOW_S3_ENDPOINT_URL": store.endpoint or "",
        "AWS_ACCESS_KEY_ID": store.access_key or "",
        "AWS_SECRET_ACCESS_KEY": store.secret_key or "",
        "AWS_DEFAULT_REGION": store.region or "us-east-1",
        "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",  # the hub listens on 127.0.0.1
        "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": cfg.encryption_key,
        "MLFLOW_WEBHOOK_CACHE_TTL": str(WEBHOOK_CACHE_TTL),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }


def new_encryption_key() -> str:
    """A Fernet key (what MLflow encrypts webhook secrets with)."""
    import base64

    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def load_or_create_key(path: Path) -> str:
    """The fleet's webhook-secret key, created once (mode 0600) so a restarted server still
    reads the secrets it stored."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = new_encryption_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


def health_url(url: str) -> str:
    return f"{url}/health"


if __name__ == "__main__":  # scripts/bootstrap
    did = ensure_installed()
    print(f"mlflow {MLFLOW_VERSION}: {'installed' if did else 'cached'} -> {venv_dir()}")
