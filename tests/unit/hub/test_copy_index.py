"""The index of member copies by template that the copy watches keep (the orphan scan
reads it instead of every member's cache)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest.mock import sentinel

from federation.catalog.prices import load_price_catalog
from federation.clusters.inventory import node_info, pod_usage
from federation.clusters.watch import Reflector
from federation.hub.members import MemberRecord, Members, WatchedKind

DEPLOY = WatchedKind("apps/v1", "Deployment", "deployments")


async def _never(**_: Any) -> Any:
    raise AssertionError("no apiserver in this test")


def _copy(name: str, binding: str | None) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "fedctl"}
    if binding:
        labels["fedctl.dev/binding"] = binding
    return {"metadata": {"name": name, "namespace": "ml", "labels": labels}}


async def test_copies_are_indexed_by_template_and_forgotten_with_their_member() -> None:
    seen: list[tuple[str, str]] = []
    members = Members(load_price_catalog(), Path("/nonexistent"), lambda _n: None,
                      on_copy=lambda c, _wk, ev, _o: seen.append((c, ev)))
    on_a = members._copy_changed("a", DEPLOY)
    on_b = members._copy_changed("b", DEPLOY)
    on_a("SYNC", _copy("web", "ml.web"))
    on_b("ADDED", _copy("web", "ml.web"))
    on_b("ADDED", _copy("api", "ml.api"))
    assert members.copies_of("apps/v1", "Deployment", "ml", "web") == {"a": "ml.web",
                                                                       "b": "ml.web"}
    on_b("DELETED", _copy("web", "ml.web"))
    assert members.copies_of("apps/v1", "Deployment", "ml", "web") == {"a": "ml.web"}
    on_a("MODIFIED", _copy("web", None))  # someone took our label off: not ours any more
    assert members.copies_of("apps/v1", "Deployment", "ml", "web") == {}
    assert members.copies_of("batch/v1", "Job", "ml", "api") == {}  # kinds kept apart
    assert seen[0] == ("a", "SYNC")  # the hub still hears of every event
    members._members["b"] = MemberRecord(
        name="b", spec={}, labels={}, generation=1,
        nodes=Reflector("n", _never, transform=node_info),
        pods=Reflector("p", _never, transform=pod_usage), applier=sentinel.applier)
    await members.remove("b")
    assert members.copies_of("apps/v1", "Deployment", "ml", "api") == {}
