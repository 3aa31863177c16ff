"""Object stores the hub stages models into: a ``MemberCluster`` / ``ModelSource`` store
reference (``objectStores[]``) with its credentials Secret resolved into a distributors
``StoreConfig``.

Credentials are read from the Secret the reference names (keys ``accessKey`` and
``secretKey``) and kept only in the ``StoreConfig`` (its repr hides them); a missing Secret
or key is an error naming the store and the Secret, never a silent anonymous store.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from distributors.base import StoreConfig
from federation.errors import FedctlError

SecretGetter = Callable[[str, str], Awaitable[Mapping[str, str] | None]]


class StoreCredentialsError(FedctlError):
    """A store's credentials Secret is missing or incomplete."""


def store_from_uri(uri: str) -> tuple[str, str, str]:
    """(provider, bucket, key prefix) of ``s3://b/p``, ``gs://b/p`` or ``file:///dir``."""
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise FedctlError(f"not an object-store URI: {uri!r}",
                          hint="expected s3://bucket/prefix, gs://bucket/prefix or file:///dir")
    if scheme == "file":
        return "file", "", rest
    provider = {"s3": "s3", "gs": "gcs"}.get(scheme)
    if provider is None:
        raise FedctlError(f"unsupported object-store URI scheme {scheme!r} in {uri!r}",
                          hint="staging reads s3://, gs:// and file:// sources")
    bucket, _, prefix = rest.partition("/")
    return provider, bucket, prefix.strip("/")


class StoreResolver:
    """Turns store references into ``StoreConfig``s, reading credential Secrets through
    ``get_secret`` (cached for ``ttl`` seconds: a rotated Secret is picked up)."""

    def __init__(self, get_secret: SecretGetter, *, ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._get = get_secret
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Mapping[str, str] | None]] = {}

    async def secret(self, namespace: str, name: str) -> Mapping[str, str] | None:
        now = self._clock()
        hit = self._cache.get((namespace, name))
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        data = await self._get(namespace, name)
        self._cache[(namespace, name)] = (now, data)
        return data

    async def config(self, ref: Mapping[str, Any], default_namespace: str, *,
                     bucket: str | None = None, prefix: str | None = None) -> StoreConfig:
        """The ``StoreConfig`` of one reference; ``bucket``/``prefix`` replace the
        reference's (a registry version's artifact location inside that store)."""
        name = str(ref.get("name") or "")
        access = secret_key = None
        sref = ref.get("secretRef") or None
        if sref:
            ns = str(sref.get("namespace") or default_namespace)
            data = await self.secret(ns, str(sref.get("name")))
            if data is None:
                raise StoreCredentialsError(
                    f"object store {name}: credentials Secret {ns}/{sref.get('name')} "
                    "not found", hint="create it with keys accessKey and secretKey")
            access, secret_key = data.get("accessKey"), data.get("secretKey")
            if not access or not secret_key:
                raise StoreCredentialsError(
                    f"object store {name}: Secret {ns}/{sref.get('name')} lacks accessKey "
                    "or secretKey", hint="set both keys")
        provider = str(ref.get("provider") or "")
        return StoreConfig(
            name=name, provider=provider, region=str(ref.get("region") or ""),
            bucket=bucket if bucket is not None else str(ref.get("bucket") or ""),
            prefix=prefix if prefix is not None else str(ref.get("prefix") or ""),
            endpoint=ref.get("endpoint") or None,
            root=ref.get("root") or None,
            access_key=access, secret_key=secret_key,
            path_style=bool(ref.get("pathStyle", True)),
            checksum_mode=str(ref.get("checksumMode") or "when_supported"),
            edge=bool(ref.get("edge", False)),
            project=ref.get("project") or None)


def decode_secret(data: Mapping[str, str] | None) -> dict[str, str]:
    """A Secret's ``data`` (base64) as text."""
    return {k: base64.b64decode(v).decode() for k, v in (data or {}).items()}
