"""What the hub needs from a model registry: resolve a channel to a version, read a version.

Pure types; the adapters are ``mlflow.MlflowRegistry`` and ``objectstore.StoreRegistry``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from federation.errors import FedctlError

LATEST = "latest"  # the channel meaning "the highest version number"


@dataclass(frozen=True, slots=True)
class ModelVersionInfo:
    model: str
    version: str  # "2"
    source_uri: str  # where the files are: s3://bucket/key/prefix | gs://… | file:///…
    tags: Mapping[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    created_ms: int = 0


class RegistryError(FedctlError):
    """A registry answered, but not with what was asked for (bad model, channel, source)."""


class NotFound(RegistryError):
    """The model, alias or version does not exist in the registry."""


class RegistryUnavailable(FedctlError):
    """The registry could not be reached or answered with a server error: retry later."""


class ModelRegistry(Protocol):
    async def resolve(self, model: str, channel: str) -> ModelVersionInfo:
        """The version ``channel`` (an alias, or ``latest``) points at."""
        ...

    async def get_version(self, model: str, version: str) -> ModelVersionInfo: ...

    async def close(self) -> None: ...


def version_order(version: str) -> tuple[int, int, str]:
    """Sort key: numeric versions by value, above them others lexically."""
    if version.isdigit():
        return (0, int(version), "")
    return (1, 0, version)
