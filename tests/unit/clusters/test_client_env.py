"""The API client reads proxy settings once, the way kubectl does, and its session
never looks at the environment per request."""

from __future__ import annotations

import importlib.metadata

import pytest
from kubernetes_asyncio import client as k8s

from federation.clusters.client import INTERNALS_CHECKED_WITH, client_for, env_proxy_for


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY",
                "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_no_proxy_configured(no_proxy_env: pytest.MonkeyPatch) -> None:
    assert env_proxy_for("https://api.example.test:6443") is None


def test_https_proxy_used_for_remote_server(no_proxy_env: pytest.MonkeyPatch) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", "http://127.0.0.2:3128")
    assert env_proxy_for("https://api.example.test:6443") == "http://127.0.0.2:3128"


def test_no_proxy_list_bypasses(no_proxy_env: pytest.MonkeyPatch) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", "http://127.0.0.2:3128")
    no_proxy_env.setenv("NO_PROXY", ".example.test")
    assert env_proxy_for("https://api.example.test:6443") is None


@pytest.mark.parametrize("url", ["https://127.0.0.1:6443", "https://127.3.4.5",
                                 "https://localhost:443", "https://[::1]:6443"])
def test_loopback_never_proxied(no_proxy_env: pytest.MonkeyPatch, url: str) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", "http://127.0.0.2:3128")
    assert env_proxy_for(url) is None


async def test_session_does_not_trust_env(no_proxy_env: pytest.MonkeyPatch) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", "http://127.0.0.2:3128")
    cfg = k8s.Configuration()
    cfg.host = "https://api.example.test:6443"
    api = client_for(cfg)
    try:
        session = api.rest_client.pool_manager
        assert session.trust_env is False
        assert not session.closed
        assert api.rest_client.proxy == "http://127.0.0.2:3128"
    finally:
        await api.close()
    assert api.rest_client.pool_manager.closed


async def test_kubeconfig_proxy_wins(no_proxy_env: pytest.MonkeyPatch) -> None:
    no_proxy_env.setenv("HTTPS_PROXY", "http://127.0.0.2:3128")
    cfg = k8s.Configuration()
    cfg.host = "https://api.example.test:6443"
    cfg.proxy = "http://127.0.0.3:8080"
    api = client_for(cfg)
    try:
        assert api.rest_client.proxy == "http://127.0.0.3:8080"
    finally:
        await api.close()


def test_the_installed_client_library_is_the_one_client_for_was_checked_against() -> None:
    installed = importlib.metadata.version("kubernetes_asyncio")
    assert installed == INTERNALS_CHECKED_WITH, (
        f"kubernetes_asyncio {installed} is installed, fedctl was checked with "
        f"{INTERNALS_CHECKED_WITH}: check that RESTClientObject.__init__ still builds "
        "pool_manager as client_for expects and that DynamicClient.request still takes "
        "serializer=, then update INTERNALS_CHECKED_WITH and the pin in pyproject.toml")
