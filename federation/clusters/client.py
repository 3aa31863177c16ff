"""Kubernetes API clients built from one kubeconfig (never process-wide config)."""

from __future__ import annotations

import ipaddress
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.config import kube_config

from federation.errors import FedctlError

DEFAULT_TIMEOUT = 10.0  # seconds, applied to every request made through these clients
# What fedctl relies on beyond kubernetes_asyncio's documented API, checked against this
# version (a unit test fails when another one is installed): ``client_for`` replaces the
# HTTP session inside the REST client (no public way to turn ``trust_env`` off), and the
# dynamic client's undocumented ``serializer`` keyword keeps responses as plain dicts
# (``syncer.apply.raw_dict``, used by the syncer, the hub and the dev demo)
INTERNALS_CHECKED_WITH = "36.1.0"


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
    return client_for(cfg)


def client_for(cfg: k8s.Configuration) -> k8s.ApiClient:
    """An ApiClient whose HTTP session reads the environment once, not per request.

    kubernetes_asyncio's session is built with ``trust_env=True``, so aiohttp looks up
    proxy variables and ~/.netrc on every request, each in a worker thread (two thread
    hops per API call: ~10% of a busy hub's time, and requests wait for the executor's
    few threads). The proxy that the environment names for this server (HTTPS_PROXY,
    NO_PROXY, as kubectl reads them) is resolved here, once; a kubeconfig ``proxy-url``
    still wins. Kubernetes credentials come from the kubeconfig, never from netrc.

    This reaches into the library (``rest_client.pool_manager``): see
    ``INTERNALS_CHECKED_WITH``.
    """
    if not cfg.proxy:
        cfg.proxy = env_proxy_for(cfg.host or "")
    api = k8s.ApiClient(configuration=cfg)
    rest = api.rest_client
    env_session = rest.pool_manager
    connector = env_session.connector
    env_session.detach()  # the connector (and its TLS context) moves to the new session
    rest.pool_manager = aiohttp.ClientSession(
        connector=connector, trust_env=False,
        read_bufsize=2**21)  # as kubernetes_asyncio: large watch events fit
    return api


def _loopback(host: str) -> bool:
    """Go's net/http never proxies these; neither does kubectl, nor do we."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def env_proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (None: direct, or bypassed)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme or "https")
    if not proxy or _loopback(host) or urllib.request.proxy_bypass(host):
        return None
    return proxy
