"""MlflowRegistry against an aiohttp app answering as MLflow 3.17.2 did (answers captured
from the real server; the integration test runs the same calls against it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from federation.registry.mlflow import MlflowRegistry
from federation.registry.ports import NotFound, RegistryError, RegistryUnavailable

S3 = "s3://models/origin/fraud/1"
RUN = "mlflow-artifacts:/0/8b1b2bb8d6d2465fac2f315af8222acc/artifacts/model"
LOGGED = "models:/m-0b75ae39d41c411c85c524f003b0bcf8"
LOGGED_URI = "mlflow-artifacts:/0/models/m-0b75ae39d41c411c85c524f003b0bcf8/artifacts"
VERSIONS: dict[str, dict[str, Any]] = {
    "1": {"source": S3, "tags": [{"key": "quantization", "value": "int8"}]},
    "2": {"source": RUN},
    "3": {"source": LOGGED},
    "4": {"source": "hdfs://nn/models/x"},
}


def mv(version: str) -> dict[str, Any]:
    return {"name": "fraud", "version": version, "creation_timestamp": 1796488266934,
            "current_stage": "None", "status": "READY", **VERSIONS[version]}


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error_code": code, "message": message}, status=status)


class Fake:
    def __init__(self) -> None:
        self.aliases = {"production": "1"}
        self.fail_with: int | None = None
        self.auth: list[str | None] = []

    def app(self) -> web.Application:
        app = web.Application()
        base = "/api/2.0/mlflow"
        app.router.add_get(f"{base}/registered-models/alias", self.alias)
        app.router.add_get(f"{base}/registered-models/get", self.model)
        app.router.add_get(f"{base}/model-versions/get", self.version)
        app.router.add_get(f"{base}/model-versions/search", self.search)
        app.router.add_get(f"{base}/model-versions/get-download-uri", self.download)
        return app

    def _check(self, request: web.Request) -> web.Response | None:
        self.auth.append(request.headers.get("Authorization"))
        if self.fail_with:
            return error(self.fail_with, "INTERNAL_ERROR", "database is locked")
        if "filter" not in request.query and request.query.get("name") not in ("fraud",
                                                                               "empty"):
            return error(404, "RESOURCE_DOES_NOT_EXIST",
                         f"Registered Model with name={request.query.get('name')} not found")
        return None

    async def alias(self, request: web.Request) -> web.Response:
        if (bad := self._check(request)) is not None:
            return bad
        version = self.aliases.get(request.query["alias"])
        if version is None:
            return error(400, "INVALID_PARAMETER_VALUE",
                         f"Registered model alias {request.query['alias']} not found.")
        return web.json_response({"model_version": {**mv(version),
                                                    "aliases": [request.query["alias"]]}})

    async def model(self, request: web.Request) -> web.Response:
        return self._check(request) or web.json_response({"registered_model": {}})

    async def version(self, request: web.Request) -> web.Response:
        if (bad := self._check(request)) is not None:
            return bad
        v = request.query["version"]
        if v not in VERSIONS:
            return error(404, "RESOURCE_DOES_NOT_EXIST",
                         f"Model Version (name=fraud, version={v}) not found")
        return web.json_response({"model_version": mv(v)})

    async def search(self, request: web.Request) -> web.Response:
        if (bad := self._check(request)) is not None:
            return bad
        assert request.query["order_by"] == "version_number DESC"
        assert request.query["max_results"] == "1"
        if request.query["filter"] == "name='empty'":
            return web.json_response({})
        assert request.query["filter"] == "name='fraud'"
        return web.json_response({"model_versions": [mv("3")]})

    async def download(self, request: web.Request) -> web.Response:
        if (bad := self._check(request)) is not None:
            return bad
        source = VERSIONS[request.query["version"]]["source"]
        return web.json_response({"artifact_uri": LOGGED_URI if source == LOGGED else source})


@pytest.fixture
async def fake() -> AsyncIterator[tuple[Fake, str]]:
    f = Fake()
    server = TestServer(f.app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield f, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_alias_latest_and_sources(fake: tuple[Fake, str]) -> None:
    _, url = fake
    reg = MlflowRegistry(url, artifacts_destination="s3://models/mlflow/")
    try:
        prod = await reg.resolve("fraud", "production")
        assert (prod.version, prod.source_uri) == ("1", S3)
        assert prod.aliases == ("production",)
        assert dict(prod.tags) == {"quantization": "int8"}
        assert prod.created_ms == 1796488266934
        latest = await reg.resolve("fraud", "latest")
        assert latest.version == "3"
        assert latest.source_uri == ("s3://models/mlflow/0/models/"
                                     "m-0b75ae39d41c411c85c524f003b0bcf8/artifacts")
        run = await reg.get_version("fraud", "2")
        assert run.source_uri == ("s3://models/mlflow/0/8b1b2bb8d6d2465fac2f315af8222acc/"
                                  "artifacts/model")
        with pytest.raises(RegistryError, match="cannot locate source 'hdfs://"):
            await reg.get_version("fraud", "4")
    finally:
        await reg.close()


async def test_proxied_sources_need_the_artifacts_destination(fake: tuple[Fake, str]) -> None:
    _, url = fake
    reg = MlflowRegistry(url)
    with pytest.raises(RegistryError, match="--artifacts-destination is not known"):
        await reg.get_version("fraud", "2")
    assert (await reg.get_version("fraud", "1")).source_uri == S3
    await reg.close()


async def test_not_found_and_outages(fake: tuple[Fake, str]) -> None:
    f, url = fake
    reg = MlflowRegistry(url, token="t0ken")
    try:
        with pytest.raises(NotFound, match="name=nope not found"):
            await reg.resolve("nope", "production")
        with pytest.raises(NotFound, match="alias staging not found"):
            await reg.resolve("fraud", "staging")
        with pytest.raises(NotFound, match="version=9"):
            await reg.get_version("fraud", "9")
        with pytest.raises(NotFound, match="no versions yet"):
            await reg.resolve("empty", "latest")
        f.fail_with = 503
        with pytest.raises(RegistryUnavailable, match="HTTP 503"):
            await reg.resolve("fraud", "production")
        assert set(f.auth) == {"Bearer t0ken"}
        assert "t0ken" not in repr(reg)
    finally:
        await reg.close()


async def test_unreachable_server_is_unavailable() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reg = MlflowRegistry(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(RegistryUnavailable, match="unreachable"):
        await reg.resolve("fraud", "production")
    await reg.close()


def test_bad_tracking_uri() -> None:
    with pytest.raises(RegistryError, match="invalid MLflow tracking URI"):
        MlflowRegistry("127.0.0.1:5000")
