"""The hub's cache transforms: interned strings, managedFields dropped, records keyed by
the object they came from."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from federation.clusters.compact import INTERN_MAX, cached_form, interned
from federation.clusters.inventory import PodUsage, pod_usage
from federation.clusters.watch import Reflector, parse_event, watch_events


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


class _Body:
    def __init__(self, lines: list[bytes]) -> None:
        self._lines = lines

    async def readline(self) -> bytes:
        return self._lines.pop(0) if self._lines else b""


class _Response:
    """What a generated list call returns with ``_preload_content=False``."""

    def __init__(self, lines: list[bytes]) -> None:
        self.content = _Body(lines)
        self.released = False

    def release(self) -> None:
        self.released = True


def _line(type_: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": type_, "object": obj}).encode() + b"\n"


def test_a_watch_streams_raw_events_and_raises_the_error_it_is_sent() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "p", "namespace": "ml", "resourceVersion": "5"}}
    calls: list[dict[str, Any]] = []
    resp = _Response([_line("ADDED", pod), b"\n", _line("BOOKMARK", {
        "metadata": {"resourceVersion": "6"}}), _line("ERROR", {
            "kind": "Status", "code": 410, "reason": "Expired", "message": "too old"})])

    async def list_pods(**kwargs: Any) -> _Response:
        calls.append(kwargs)
        return resp

    async def go() -> list[dict[str, Any]]:
        return [e async for e in watch_events(list_pods, resource_version="4")]

    with pytest.raises(ApiException) as err:
        asyncio.run(go())
    assert err.value.status == 410 and "too old" in str(err.value.reason)
    assert calls == [{"resource_version": "4", "watch": True, "_preload_content": False}]
    assert resp.released

    refl = Reflector("pods", list_pods, timeout_seconds=60)
    resp.content = _Body([_line("ADDED", pod), _line("BOOKMARK", {
        "metadata": {"resourceVersion": "6"}})])
    asyncio.run(refl._watch_once())
    assert refl.store == {"ml/p": pod}  # the raw dict, not a V1Pod
    assert refl.resource_version == "6"


@pytest.mark.parametrize("line", [b"not json", b'{"type": "ADDED"}', b"[1]"])
def test_a_line_that_is_not_an_event_is_a_value_error(line: bytes) -> None:
    with pytest.raises(ValueError, match="malformed watch event"):
        parse_event(line)


def test_a_status_in_place_of_an_event_is_the_api_error() -> None:
    with pytest.raises(ApiException) as err:
        parse_event(b'{"kind": "Status", "code": 403, "reason": "Forbidden", "message": "no"}')
    assert err.value.status == 403

