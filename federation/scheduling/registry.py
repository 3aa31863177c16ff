"""The explicit plugin registry: filters in the order they run, scorers by name.

Filters run cheapest and most explanatory first; ``capacity`` runs last so that every
rule (taints, affinity, sovereignty, kind, GPU type, budget) is checked before it: a
cluster failing only capacity keeps the replicas it already runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from federation.scheduling.framework import FilterPlugin, ScorePlugin
from federation.scheduling.plugins.affinity import Affinity
from federation.scheduling.plugins.artifact_cached import ArtifactCached
from federation.scheduling.plugins.balanced import Balanced, Binpack
from federation.scheduling.plugins.budget import Budget
from federation.scheduling.plugins.capacity import Capacity
from federation.scheduling.plugins.cost import Cost
from federation.scheduling.plugins.data_locality import DataLocality
from federation.scheduling.plugins.gpu_preference import GpuPreference
from federation.scheduling.plugins.gpu_type import GpuType
from federation.scheduling.plugins.kind_installed import KindInstalled
from federation.scheduling.plugins.ready_taints import ReadyTaints
from federation.scheduling.plugins.sovereignty import Sovereignty

FILTERS: Mapping[str, FilterPlugin] = MappingProxyType({
    "readyTaints": ReadyTaints(),
    "affinity": Affinity(),
    "sovereignty": Sovereignty(),
    "kindInstalled": KindInstalled(),
    "gpuType": GpuType(),
    "budget": Budget(),
    "capacity": Capacity(),
})

SCORERS: Mapping[str, ScorePlugin] = MappingProxyType({
    "cost": Cost(),
    "dataLocality": DataLocality(),
    "gpuPreference": GpuPreference(),
    "artifactCached": ArtifactCached(),
    "balanced": Balanced(),
    "binpack": Binpack(),
})
