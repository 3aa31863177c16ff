"""The hub's cache transforms: interned strings, managedFields dropped, records keyed by
the object they came from."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from federation.clusters.compact import INTERN_MAX, cached_form, interned
from federation.clusters.inventory import PodUsage, pod_usage
from federation.clusters.watch import Reflector


def _obj(name: str) -> dict[str, Any]:
    # decoded from JSON, as a watch event is: no string shared with another object
    out: dict[str, Any] = json.loads(json.dumps({
        "metadata": {"name": name, "namespace": "ml", "uid": "u" * 36,
                     "labels": {"app": "web"},
                     "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}",
                                     "note": "x" * (INTERN_MAX + 1)},
                     "managedFields": [{"manager": "kubectl"}]},
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"image": "nginx"}]}}}}))
    return out


def test_interned_shares_keys_and_short_values_and_keeps_the_value() -> None:
    a, b = _obj("a"), _obj("b")
    assert a["spec"]["template"]["spec"]["containers"][0]["image"] is not \
        b["spec"]["template"]["spec"]["containers"][0]["image"]
    ia, ib = interned(a), interned(b)
    assert ia == a and ib == b
    key_a = next(k for k in ia["metadata"] if k == "labels")
    key_b = next(k for k in ib["metadata"] if k == "labels")
    assert key_a is key_b
    assert ia["spec"]["template"]["spec"]["containers"][0]["image"] is \
        ib["spec"]["template"]["spec"]["containers"][0]["image"]
    long_a, long_b = ia["metadata"]["annotations"]["note"], ib["metadata"]["annotations"]["note"]
    assert long_a == long_b and long_a is not long_b  # long strings are left alone


def test_cached_form_drops_what_fedctl_never_reads() -> None:
    kept = cached_form(_obj("a"))
    assert "managedFields" not in kept["metadata"]
    assert kept["metadata"]["annotations"] == {"note": "x" * (INTERN_MAX + 1)}
    assert kept["spec"]["replicas"] == 2


def _pod(name: str, node: str | None) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ml", "resourceVersion": "1"},
            "spec": {"nodeName": node, "containers": [
                {"resources": {"requests": {"cpu": "1"}}}]},
            "status": {"phase": "Running"}}


def test_a_transforming_reflector_keys_records_by_their_object() -> None:
    lists = [[_pod("a", "n1"), _pod("b", "n2")], [_pod("b", "n2")]]
    seen: list[tuple[str, PodUsage]] = []

    class Resp:
        def __init__(self, items: list[dict[str, Any]]) -> None:
            self.items = items

        async def json(self) -> dict[str, Any]:
            return {"metadata": {"resourceVersion": "9"}, "items": self.items}

        def release(self) -> None:
            pass

    async def list_call(**_: Any) -> Resp:
        return Resp(lists.pop(0))

    refl = Reflector("pods", list_call, transform=pod_usage,
                     on_change=lambda kind, rec: seen.append((kind, rec)))

    async def go() -> None:
        await refl.list_once()
        assert refl.store == {"ml/a": PodUsage("n1", None, 0, 1000, 0),
                              "ml/b": PodUsage("n2", None, 0, 1000, 0)}
        seen.clear()
        await refl.list_once()  # "a" went away while we were not watching

    asyncio.run(go())
    assert list(refl.store) == ["ml/b"]
    # the relist reports the deletion with the record it last held
    assert ("DELETED", PodUsage("n1", None, 0, 1000, 0)) in seen


def test_raw_watch_builds_no_api_client_and_keeps_events_raw() -> None:
    from unittest.mock import patch

    from federation.clusters.watch import RawWatch

    with patch("kubernetes_asyncio.watch.watch.ApiClient",
               side_effect=AssertionError("an ApiClient per watch")):
        w = RawWatch()
    line = json.dumps({"type": "ADDED", "object": {
        "kind": "Pod", "metadata": {"name": "p", "resourceVersion": "5"}}})
    event = w.unmarshal_event(line, "V1Pod")
    assert event["raw_object"]["metadata"]["name"] == "p"
    assert event["object"] == event["raw_object"]  # not turned into a V1Pod
    assert w.resource_version == "5"
    asyncio.run(w.close())
