"""Which policy governs a workload.

Among the propagation policies whose resourceSelectors select the workload (a namespaced
policy only in its own namespace), the winner is the highest ``priority``; then a
namespaced policy over a cluster-scoped one; then a selector by name over one by labels
over one by kind only; then the policy name. The same rules pick override policies, all
of which apply (in that order, least specific first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from policies.models import OverridePolicy, PropagationPolicy, ResourceSelector


def _specificity(sel: ResourceSelector) -> int:
    if sel.name is not None:
        return 2
    if sel.label_selector is not None:
        return 1
    return 0


def _match(selectors: Iterable[ResourceSelector], namespaced_in: str | None, api_version: str,
           kind: str, name: str, namespace: str, labels: Mapping[str, str]) -> int | None:
    if namespaced_in is not None and namespaced_in != namespace:
        return None
    best: int | None = None
    for sel in selectors:
        if sel.selects(api_version, kind, name, namespace, labels):
            s = _specificity(sel)
            best = s if best is None else max(best, s)
    return best


def select_policy(policies: Iterable[PropagationPolicy], api_version: str, kind: str,
                  name: str, namespace: str, labels: Mapping[str, str]
                  ) -> PropagationPolicy | None:
    ranked = []
    for p in policies:
        s = _match(p.spec.resource_selectors, None if p.cluster_scoped else p.metadata.namespace,
                   api_version, kind, name, namespace, labels)
        if s is not None:
            ranked.append(((-p.spec.priority, 1 if p.cluster_scoped else 0, -s,
                            p.metadata.name), p))
    if not ranked:
        return None
    ranked.sort(key=lambda kp: kp[0])
    return ranked[0][1]


def select_overrides(policies: Iterable[OverridePolicy], api_version: str, kind: str,
                     name: str, namespace: str, labels: Mapping[str, str]
                     ) -> list[OverridePolicy]:
    """Matching override policies, least specific first (later ones win on conflict)."""
    ranked = []
    for p in policies:
        s = _match(p.spec.resource_selectors, None if p.cluster_scoped else p.metadata.namespace,
                   api_version, kind, name, namespace, labels)
        if s is not None:
            ranked.append(((0 if p.cluster_scoped else 1, s, p.metadata.name), p))
    ranked.sort(key=lambda kp: kp[0])
    return [p for _, p in ranked]
