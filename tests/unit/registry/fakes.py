"""A model registry in memory, behind the ``ModelRegistry`` protocol."""

from __future__ import annotations

from federation.registry.ports import (
    LATEST,
    ModelVersionInfo,
    NotFound,
    RegistryUnavailable,
    version_order,
)


class FakeRegistry:
    def __init__(self) -> None:
        self.versions: dict[str, dict[str, ModelVersionInfo]] = {}
        self.aliases: dict[tuple[str, str], str] = {}
        self.down = 0  # answer RegistryUnavailable this many more times
        self.calls = 0
        self.closed = False

    def add(self, model: str, version: str) -> ModelVersionInfo:
        info = ModelVersionInfo(model=model, version=version,
                                source_uri=f"s3://models/{model}/{version}")
        self.versions.setdefault(model, {})[version] = info
        return info

    async def resolve(self, model: str, channel: str) -> ModelVersionInfo:
        self.calls += 1
        if self.down > 0:
            self.down -= 1
            raise RegistryUnavailable("registry is down")
        versions = self.versions.get(model)
        if not versions:
            raise NotFound(f"no model {model!r}")
        if channel == LATEST:
            return versions[max(versions, key=version_order)]
        if (model, channel) not in self.aliases:
            raise NotFound(f"no alias {channel!r}")
        return versions[self.aliases[(model, channel)]]

    async def get_version(self, model: str, version: str) -> ModelVersionInfo:
        try:
            return self.versions[model][version]
        except KeyError:
            raise NotFound(f"no version {model}/{version}") from None

    async def close(self) -> None:
        self.closed = True
