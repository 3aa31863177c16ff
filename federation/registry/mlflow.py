"""``MlflowRegistry``: the MLflow model registry over its REST API 2.0 (aiohttp).

Calls used: ``registered-models/alias`` (an alias), ``model-versions/search`` ordered by
``version_number DESC`` ("latest"), ``model-versions/get`` and
``model-versions/get-download-uri``.

A version's ``source`` becomes a concrete URI of the files (checked on MLflow 3.17.2):

* ``s3://``, ``gs://``, ``file://`` sources (a version created over REST with such a
  source) are kept as they are; the registry stores them verbatim;
* ``models:/m-<id>`` (MLflow 3 logged models) and ``runs:/<run>/<path>`` are resolved by
  the server's ``get-download-uri``, which answers with the artifact URI, usually
  ``mlflow-artifacts:/<experiment>/models/m-<id>/artifacts``;
* ``mlflow-artifacts:/<path>`` lives under the server's ``--artifacts-destination``
  (``s3://bucket/prefix``), which the server does not report: give it as
  ``artifacts_destination`` or such versions fail with a ``RegistryError`` saying so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import aiohttp

from federation.registry.ports import (
    LATEST,
    ModelVersionInfo,
    NotFound,
    RegistryError,
    RegistryUnavailable,
)

API = "/api/2.0/mlflow"
CONCRETE_SCHEMES = ("s3", "gs", "file")


class MlflowRegistry:
    def __init__(self, tracking_uri: str, *, artifacts_destination: str | None = None,
                 token: str | None = None, username: str | None = None,
                 password: str | None = None, timeout: float = 10.0,
                 session: aiohttp.ClientSession | None = None) -> None:
        if not tracking_uri.startswith(("http://", "https://")):
            raise RegistryError(f"invalid MLflow tracking URI {tracking_uri!r}",
                                hint="use http://host:port or https://host")
        self.tracking_uri = tracking_uri.rstrip("/")
        self.artifacts_destination = (artifacts_destination.rstrip("/")
                                      if artifacts_destination else None)
        self._headers: dict[str, str] = {}
        self._auth: aiohttp.BasicAuth | None = None
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif username is not None:
            self._auth = aiohttp.BasicAuth(username, password or "")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._own_session = session is None

    def __repr__(self) -> str:  # never shows credentials
        return f"MlflowRegistry({self.tracking_uri!r})"

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    # ---- the ModelRegistry protocol ------------------------------------------------------
    async def resolve(self, model: str, channel: str) -> ModelVersionInfo:
        if channel == LATEST:
            doc = await self._get("model-versions/search", {
                "filter": f"name={_quote(model)}", "order_by": "version_number DESC",
                "max_results": "1"})
            found = doc.get("model_versions") or []
            if not found:
                await self._get("registered-models/get", {"name": model})  # 404 if unknown
                raise NotFound(f"MLflow model {model!r} has no versions yet",
                               hint="register a version first")
            return await self._info(found[0])
        doc = await self._get("registered-models/alias", {"name": model, "alias": channel})
        return await self._info(_field(doc, "model_version", "registered-models/alias"))

    async def get_version(self, model: str, version: str) -> ModelVersionInfo:
        doc = await self._get("model-versions/get", {"name": model, "version": version})
        return await self._info(_field(doc, "model_version", "model-versions/get"))

    # ---- helpers -------------------------------------------------------------------------
    async def _info(self, mv: Mapping[str, Any]) -> ModelVersionInfo:
        model, version = str(mv.get("name", "")), str(mv.get("version", ""))
        tags = {str(t["key"]): str(t.get("value", "")) for t in mv.get("tags") or []
                if isinstance(t, dict) and "key" in t}
        return ModelVersionInfo(
            model=model, version=version,
            source_uri=await self.source_uri(model, version, str(mv.get("source", ""))),
            tags=tags,
            aliases=tuple(str(a) for a in mv.get("aliases") or []),
            created_ms=int(mv.get("creation_timestamp") or 0),
        )

    async def source_uri(self, model: str, version: str, source: str) -> str:
        """The concrete ``s3://``/``gs://``/``file://`` URI of a version's files."""
        scheme = urlparse(source).scheme
        if scheme in ("models", "runs"):
            doc = await self._get("model-versions/get-download-uri",
                                  {"name": model, "version": version})
            source = str(doc.get("artifact_uri", ""))
            scheme = urlparse(source).scheme
        if scheme in CONCRETE_SCHEMES:
            return source.rstrip("/")
        if scheme == "mlflow-artifacts":
            if not self.artifacts_destination:
                raise RegistryError(
                    f"MLflow {model} version {version}: source {source!r} is served by the "
                    "tracking server's artifact proxy, and its --artifacts-destination is "
                    "not known", hint="set the ModelSource's mlflow.artifactStore (bucket "
                    "and prefix of the server's --artifacts-destination)")
            rel = urlparse(source).path.lstrip("/")
            return f"{self.artifacts_destination}/{rel}".rstrip("/")
        raise RegistryError(
            f"MLflow {model} version {version}: cannot locate source {source!r}",
            hint="register versions with an s3://, gs:// or file:// source, or a "
                 "models:/ or runs:/ source stored in the server's artifact store")

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

    async def _get(self, endpoint: str, params: Mapping[str, str]) -> dict[str, Any]:
        url = f"{self.tracking_uri}{API}/{endpoint}"
        try:
            async with self._client().get(url, params=params, headers=self._headers,
                                          auth=self._auth) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RegistryUnavailable(
                f"MLflow at {self.tracking_uri} is unreachable: {type(exc).__name__}: {exc}",
                hint="check that the tracking server runs; fedctl retries") from None
        doc = _json(text)
        if status == 200:
            return doc
        code = str(doc.get("error_code", ""))
        message = str(doc.get("message", text[:200]))
        if status >= 500 or status == 429:
            raise RegistryUnavailable(f"MLflow {endpoint}: HTTP {status} {message}",
                                      hint="fedctl retries")
        if code == "RESOURCE_DOES_NOT_EXIST" or status == 404 or (
                endpoint == "registered-models/alias" and "not found" in message):
            raise NotFound(f"MLflow: {message}",
                           hint="check the model name and channel (an alias or 'latest')")
        if status in (401, 403):
            raise RegistryError(f"MLflow {endpoint}: HTTP {status} {message}",
                                hint="check the ModelSource's credentialsSecretRef")
        raise RegistryError(f"MLflow {endpoint}: HTTP {status} {code} {message}".strip())


def _quote(name: str) -> str:
    """A model name as an MLflow filter string literal."""
    if "'" not in name:
        return f"'{name}'"
    if '"' not in name:
        return f'"{name}"'
    raise RegistryError(f"model name {name!r} holds both quote characters",
                        hint="MLflow filters cannot express it; rename the model")


def _json(text: str) -> dict[str, Any]:
    import json

    try:
        doc = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _field(doc: Mapping[str, Any], key: str, endpoint: str) -> Mapping[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise RegistryError(f"MLflow {endpoint}: answer has no {key!r}")
    return value
