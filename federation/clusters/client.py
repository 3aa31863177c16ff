"""Kubernetes API clients built from one kubeconfig (never process-wide config)."""

from __future__ import annotations

from pathlib import Path

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.config import kube_config

from federation.errors import FedctlError

DEFAULT_TIMEOUT = 10.0  # seconds, applied to every request made through these clients


class ClusterConnectionError(FedctlError):
    """A cluster's API could not be reached or its credentials were rejected."""


async def api_client(kubeconfig: str | Path, context: str | None = None) -> k8s.ApiClient:
    """An ApiClient for one cluster; the caller owns it and must close it."""
    cfg = k8s.Configuration()
    try:
        await kube_config.load_kube_config(
            config_file=str(kubeconfig), context=context, client_configuration=cfg,
            persist_config=False,
        )
    except Exception as exc:  # kube_config raises ConfigException and plain errors
        raise ClusterConnectionError(
            f"cannot load kubeconfig {kubeconfig} (context {context or '<current>'}): {exc}",
            hint="check the file and the context name",
        ) from None
    return k8s.ApiClient(configuration=cfg)
