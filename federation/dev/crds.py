"""CustomResourceDefinitions of the AI workload kinds, for clusters with no operator.

The local fleet installs these on the hub (every kind, so templates can be stored) and on
each member (the kinds its fleet entry lists in ``simulate.workloadKinds``; all by default),
so API discovery on a member tells which kinds it can run. Group, version, kind and plural
are the real ones; schemas keep unknown fields (the operators' full schemas are not needed
to store objects). Status is a subresource, as with the real operators.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client as k8s

from federation.catalog.kinds import WorkloadKind
from federation.clusters.crds import ensure_crds


def crd_manifest(k: WorkloadKind) -> dict[str, Any]:
    preserve = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": k.crd_name,
                     "labels": {"fedctl.dev/test-crd": "true"}},
        "spec": {
            "group": k.group,
            "scope": "Namespaced",
            "names": {"kind": k.kind, "plural": k.plural, "singular": k.kind.lower(),
                      "listKind": f"{k.kind}List", "shortNames": list(k.short_names)},
            "versions": [{
                "name": k.version, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": preserve, "status": preserve},
                }},
                "subresources": {"status": {}},
            }],
        },
    }


async def install(api: k8s.ApiClient, kinds: tuple[WorkloadKind, ...],
                  timeout: float = 60.0) -> None:
    """Create the CRDs (idempotent) and wait until each is Established."""
    await ensure_crds(api, [crd_manifest(k) for k in kinds], timeout)
