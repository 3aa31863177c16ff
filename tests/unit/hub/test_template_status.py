"""The hub template's aggregated status: written only when it changes, with the fields
the kind can store, and sums no copy reports any more removed (not left stale)."""

from __future__ import annotations

from typing import Any

from federation.hub.bindings import TemplateKey
from federation.hub.reconcile import Reconciler
from federation.interpreters.interpreter import Interpreters

from .fakes import APPS_STATUS, FakeHub, Fleet, OneCluster


class DeploymentStatusServer(FakeHub):
    """Stands in for the hub apiserver's status subresource of a built-in Deployment:
    a merge patch, unknown fields dropped, zero fields omitted (as the real one does)."""

    def __init__(self, kept: frozenset[str] | set[str] = APPS_STATUS) -> None:
        super().__init__()
        self.kept = kept
        self.status: dict[str, Any] = {}
        self.patches: list[dict[str, Any]] = []

    async def request(self, method: str, path: str, *, body: dict[str, Any],
                      **kwargs: Any) -> dict[str, Any]:
        assert method == "patch" and path.endswith("/status")
        self.patches.append(body["status"])
        for k, v in body["status"].items():
            if k not in self.kept:
                continue
            if v is None or v == 0:
                self.status.pop(k, None)
            else:
                self.status[k] = v
        return {"status": dict(self.status)}


def _reconciler(server: DeploymentStatusServer) -> Reconciler:
    return Reconciler(hub=server, members=Fleet([]),
                      interpreters=Interpreters(), scheduler=OneCluster(None),
                      policies=list, overrides=list, template=lambda _k: None,
                      binding=lambda _k: None)


def _template(status: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"replicas": 1, "template": {"spec": {"containers": []}}},
            "status": dict(status)}


def _copy(ready: int) -> dict[str, Any]:
    status: dict[str, Any] = {"replicas": 1, "updatedReplicas": 1}
    if ready:
        status |= {"readyReplicas": ready, "availableReplicas": ready}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "ns", "generation": 1},
            "spec": {"replicas": 1}, "status": status}


KEY = TemplateKey("apps/v1", "Deployment", "ns", "web")


async def test_fields_the_kind_drops_are_learnt_and_not_rewritten() -> None:
    # a schema without updatedReplicas (the interpreter aggregates the kind's own fields,
    # but a CRD's structural schema, or an older version of it, may lack one)
    server = DeploymentStatusServer(APPS_STATUS - {"updatedReplicas"})
    rec = _reconciler(server)
    await rec._write_template_status(KEY, _template(server.status), {"c1": _copy(1)})
    assert server.status == {"replicas": 1, "readyReplicas": 1, "availableReplicas": 1}
    assert "updatedReplicas" in server.patches[0]  # sent once: the server decides
    # the template now carries what the server stored: nothing to write
    await rec._write_template_status(KEY, _template(server.status), {"c1": _copy(1)})
    await rec._write_template_status(KEY, _template(server.status), {"c1": _copy(1)})
    assert len(server.patches) == 1
    # a real change is still written, without the fields the kind cannot hold
    await rec._write_template_status(KEY, _template(server.status),
                                     {"c1": _copy(1), "c2": _copy(1)})
    assert len(server.patches) == 2
    assert "updatedReplicas" not in server.patches[1]
    assert server.status["readyReplicas"] == 2


async def test_ready_replicas_of_a_copy_that_moved_away_are_removed() -> None:
    server = DeploymentStatusServer()
    rec = _reconciler(server)
    await rec._write_template_status(KEY, _template(server.status), {"dead": _copy(1)})
    assert server.status["readyReplicas"] == 1
    # failed over: the only copy is new and not ready yet
    await rec._write_template_status(KEY, _template(server.status), {"new": _copy(0)})
    assert server.patches[-1]["readyReplicas"] is None
    assert "readyReplicas" not in server.status and "availableReplicas" not in server.status
    before = len(server.patches)
    await rec._write_template_status(KEY, _template(server.status), {"new": _copy(0)})
    assert len(server.patches) == before  # absent == null == 0: nothing to write
