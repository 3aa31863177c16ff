"""Copies of referenced objects: the hub's own writes are not drift; other changes are."""

from __future__ import annotations

from typing import Any

from federation.hub.bindings import TemplateKey
from federation.hub.deps import DependencySync
from federation.interpreters.interpreter import Interpreters

from .fakes import Fleet

KEY = TemplateKey("apps/v1", "Deployment", "ml", "api")
REF = ("ConfigMap", "ml", "cfg")


def _cm(rv: str) -> dict[str, Any]:
    return {"metadata": {"name": "cfg", "namespace": "ml", "resourceVersion": rv}}


def test_only_changes_that_are_not_ours_resync_the_referrers() -> None:
    deps = DependencySync(Fleet([]), Interpreters(), lambda _d: None)
    assert deps.copy_changed("m1", "ConfigMap", "MODIFIED", _cm("1")) == set()  # no referrer
    deps.index[REF] = {KEY}
    deps._seen[("m1", REF, KEY)] = "digest"
    deps._written[("m1", REF)] = "7"
    assert deps.copy_changed("m1", "ConfigMap", "MODIFIED", _cm("7")) == set()  # our write
    assert ("m1", REF, KEY) in deps._seen
    assert deps.copy_changed("m1", "ConfigMap", "MODIFIED", _cm("8")) == {KEY}  # an edit
    assert ("m1", REF, KEY) not in deps._seen  # so the next sync applies it again
    deps._written[("m1", REF)] = "9"
    assert deps.copy_changed("m1", "ConfigMap", "DELETED", _cm("9")) == {KEY}
