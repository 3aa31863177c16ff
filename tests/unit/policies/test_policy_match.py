"""Which policy selects a workload."""

from __future__ import annotations

from policies.match import select_overrides, select_policy
from policies.models import OverridePolicy, PropagationPolicy
from policies.parse import load_policies


def pp(name: str, selector: str, *, ns: str | None = "ml", priority: int = 0,
       kind: str = "PropagationPolicy") -> PropagationPolicy:
    meta = f"{{name: {name}, namespace: {ns}}}" if ns else f"{{name: {name}}}"
    (p,) = load_policies(f"""
apiVersion: fedctl.dev/v1alpha1
kind: {kind}
metadata: {meta}
spec:
  priority: {priority}
  resourceSelectors: [{selector}]
""")
    assert isinstance(p, PropagationPolicy)
    return p


BY_KIND = "{apiVersion: apps/v1, kind: Deployment}"
BY_NAME = "{apiVersion: apps/v1, kind: Deployment, name: web}"
BY_LABEL = "{apiVersion: apps/v1, kind: Deployment, labelSelector: {matchLabels: {app: web}}}"


def pick(policies: list[PropagationPolicy], name: str = "web", ns: str = "ml",
         labels: dict[str, str] | None = None) -> str | None:
    p = select_policy(policies, "apps/v1", "Deployment", name, ns, labels or {"app": "web"})
    return p.metadata.name if p else None


def test_specificity_priority_and_scope() -> None:
    kind, name, label = pp("kind", BY_KIND), pp("name", BY_NAME), pp("label", BY_LABEL)
    assert pick([kind, label, name]) == "name"
    assert pick([kind, label]) == "label"
    assert pick([kind, label], labels={"app": "db"}) == "kind"
    assert pick([kind, pp("urgent", BY_KIND, priority=5), name]) == "urgent"
    cluster = pp("global", BY_NAME, ns=None, kind="ClusterPropagationPolicy")
    assert pick([cluster, kind]) == "kind"  # namespaced beats cluster-scoped
    assert pick([cluster, kind], ns="other") == "global"  # namespaced only in its namespace
    assert pick([name], name="api") is None
    assert select_policy([kind], "apps/v1", "StatefulSet", "web", "ml", {}) is None


def test_overrides_least_specific_first() -> None:
    text = """
apiVersion: fedctl.dev/v1alpha1
kind: {kind}
metadata: {meta}
spec:
  resourceSelectors: [{{apiVersion: apps/v1, kind: Deployment}}]
  overrideRules: [{{overriders: {{labels: {{a: b}}}}}}]
"""
    ns = load_policies(text.format(kind="OverridePolicy", meta="{name: ns, namespace: ml}"))
    cl = load_policies(text.format(kind="ClusterOverridePolicy", meta="{name: cl}"))
    ops = [o for o in ns + cl if isinstance(o, OverridePolicy)]
    got = select_overrides(ops, "apps/v1", "Deployment", "web", "ml", {})
    assert [o.metadata.name for o in got] == ["cl", "ns"]
    assert select_overrides(ops, "apps/v1", "Deployment", "web", "other", {})[0].metadata.name \
        == "cl"
