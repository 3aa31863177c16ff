"""`fedctl get placements` and `fedctl explain` on bindings from a fake hub."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from federation.cli.decision_table import render_record, table_lines, verdict_lines
from federation.cli.explain import explain, find_binding, parse_target, record_of
from federation.cli.get import age, context_namespace, get_placements
from federation.cli.plan import render_table
from federation.errors import FedctlError
from federation.scheduling.decision_record import decision_record
from federation.scheduling.explain import decision_to_dict
from policies.models import ObjectMeta, PropagationPolicy, PropagationSpec, ResourceSelector
from tests.unit.scheduling.test_decision_record import gpu_demand, placed_decision

NOW = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)


class FakeHub:
    """``Bindings`` over a fixed list; records the namespaces asked for."""

    def __init__(self, bindings: list[dict[str, Any]]) -> None:
        self.bindings = bindings
        self.asked: list[str | None] = []

    async def list(self, namespace: str | None) -> list[dict[str, Any]]:
        self.asked.append(namespace)
        return [b for b in self.bindings
                if namespace is None or b["metadata"]["namespace"] == namespace]


def binding(ns: str, name: str, kind: str = "Deployment", api_version: str = "apps/v1", *,
            clusters: str = "a,b", record: dict[str, Any] | None = None,
            scheduled: str = "True", cost: float | None = 12.5,
            created: datetime = NOW - timedelta(minutes=3, seconds=5)) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [{"type": "Scheduled", "status": scheduled, "reason": "Placed",
                        "message": "placed"}],
        "phase": "Running"}
    if cost is not None:
        status["hourlyCost"] = cost
    if record is not None:
        status["decision"] = record
    return {"apiVersion": "fedctl.dev/v1alpha1", "kind": "ResourceBinding",
            "metadata": {"namespace": ns, "name": f"{name}-{kind.lower()}",
                         "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "spec": {"resource": {"apiVersion": api_version, "kind": kind, "namespace": ns,
                                  "name": name},
                     "policy": f"PropagationPolicy/{ns}/p", "clusterNames": clusters},
            "status": status}


def record() -> dict[str, Any]:
    return decision_record(placed_decision(), prices="cat@1", egress="eg@1", top=3)


def test_plan_and_explain_draw_one_table() -> None:
    dec = placed_decision()
    policy = PropagationPolicy(kind="PropagationPolicy",
                               metadata=ObjectMeta(name="p", namespace="default"),
                               spec=PropagationSpec(resource_selectors=(
                                   ResourceSelector(api_version="apps/v1",
                                                    kind="Deployment"),)))
    plan_lines = render_table(gpu_demand(), policy, dec).splitlines()
    data = decision_to_dict(dec)
    from federation.scheduling.decision_record import full_rows, ranked

    order = [r[0] for r in ranked(full_rows(dec.diagnosis), frozenset(dec.placement.clusters))]
    clusters = sorted(data["clusters"], key=lambda c: order.index(c["cluster"]))
    ours = table_lines(data["weights"], clusters) + verdict_lines(data)
    assert ours == plan_lines[1:]


def test_explain_renders_the_record_with_what_it_left_out() -> None:
    hub = FakeHub([binding("shop", "web", record=record()), binding("other", "web")])
    text = asyncio.run(explain(hub, "deployment/web", "shop", "table"))
    lines = text.splitlines()
    assert hub.asked == ["shop"]
    assert lines[0] == ("Deployment shop/web (apps/v1): policy PropagationPolicy/shop/p; "
                        "gang None; clusters a,b")
    assert lines[1].split()[:3] == ["CLUSTER", "VERDICT", "GPU"]
    assert lines[2].split()[1] == "placed"
    assert len([ln for ln in lines if ln.startswith(("h", "l", "t"))]) == 3
    assert any(ln.startswith("SCHEDULABLE: placed 2 replica(s)") for ln in lines)
    more = next(ln for ln in lines if "more cluster(s) not shown" in ln)
    assert more.startswith("6 more cluster(s) not shown: ")
    assert "filtered" in more
    assert lines[-1].startswith("prices: catalog cat@1, egress eg@1; decision digest ")
    assert record()["digest"] in lines[-1]


@pytest.mark.parametrize("fmt,load", [("json", json.loads), ("yaml", yaml.safe_load)])
def test_explain_json_yaml_is_the_record(fmt: str, load: Any) -> None:
    hub = FakeHub([binding("shop", "web", record=record())])
    assert load(asyncio.run(explain(hub, "Deployment/web", "shop", fmt))) == record()


def test_explain_errors_say_what_exists() -> None:
    hub = FakeHub([binding("shop", "web", record=record()),
                   binding("shop", "train", "Job", "batch/v1", record=record()),
                   binding("shop", "train", "Job", "batch.volcano.sh/v1alpha1",
                           record=record()),
                   binding("shop", "bare", scheduled="False")])
    with pytest.raises(FedctlError) as err:
        asyncio.run(explain(hub, "statefulset/web", "shop", "table"))
    assert str(err.value) == ("no placement for statefulset/web in namespace shop "
                              "(placed under that name: deployment.apps/web)")
    with pytest.raises(FedctlError, match=r"no placement for deployment/nope in namespace "
                                          r"shop \(`fedctl get placements -n shop` lists"):
        asyncio.run(explain(hub, "deployment/nope", "shop", "table"))
    with pytest.raises(FedctlError) as err:
        asyncio.run(explain(hub, "job/train", "shop", "table"))
    assert "names 2 workloads (name the group: job.batch.volcano.sh/train, " \
           "job.batch/train)" in str(err.value)
    assert "Job shop/train (batch/v1)" in asyncio.run(
        explain(hub, "job.batch/train", "shop", "table"))
    assert "(batch.volcano.sh/v1alpha1)" in asyncio.run(
        explain(hub, "jobs.batch.volcano.sh/train", "shop", "table"))
    with pytest.raises(FedctlError) as err:
        asyncio.run(explain(hub, "deployment/bare", "shop", "table"))
    assert str(err.value).startswith(
        "ResourceBinding shop/bare-deployment records no decision; its Scheduled condition "
        "says False Placed: placed (the hub records one")
    for bad in ("web", "/web", "deployment/", "a/b/c"):
        with pytest.raises(FedctlError, match="use KIND/NAME"):
            parse_target(bad)


def test_record_of_refuses_an_unknown_record_version() -> None:
    b = binding("shop", "web", record={**record(), "version": 99})
    with pytest.raises(FedctlError, match=r"status\.decision\.version is 99, this "
                                          r"fedctl reads version 1"):
        record_of(b)
    assert find_binding([b], "deployments/web", "shop") is b


def test_get_placements_table_and_wide() -> None:
    hub = FakeHub([binding("shop", "web", record=record()),
                   binding("shop", "api", clusters="", scheduled="False", cost=None),
                   binding("other", "x", "Job", "batch/v1", clusters="a,b,c",
                           created=NOW - timedelta(days=3, hours=2))])
    out, err = asyncio.run(get_placements(hub, "shop", "table", NOW))
    assert err == ""
    assert out.splitlines() == [
        "NAMESPACE   NAME   KIND         CLUSTERS   COST/H   SCHEDULED   AGE",
        "shop        api    Deployment   <none>     -        False       3m5s",
        "shop        web    Deployment   a,b        $12.50   True        3m5s",
    ]
    out, _ = asyncio.run(get_placements(hub, None, "wide", NOW))
    lines = out.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "KIND", "CLUSTERS", "COST/H",
                                "SCHEDULED", "AGE", "POLICY", "GPU", "TOP", "SCORE", "PHASE",
                                "PRICES"]
    assert lines[1].split()[:7] == ["other", "x", "Job", "a,b,c", "$12.50", "True", "3d2h"]
    web = lines[3].split()
    assert web[:2] == ["shop", "web"]
    placed = [c for c in record()["clusters"] if c["replicas"] > 0]
    assert web[8] == "H100-80GB" and web[9] == f"{placed[0]['total']:.1f}"
    assert web[-1] == "cat@1"
    assert lines[1].split()[-4:] == ["-", "-", "Running", "-"]  # no record: dashes


def test_get_placements_empty_and_json() -> None:
    out, err = asyncio.run(get_placements(FakeHub([]), "shop", "table", NOW))
    assert (out, err) == ("", "No resources found in shop namespace.\n")
    b = binding("shop", "web", record=record())
    out, _ = asyncio.run(get_placements(FakeHub([b]), None, "json", NOW))
    data = json.loads(out)
    assert data["kind"] == "List" and data["items"] == [b]
    out, _ = asyncio.run(get_placements(FakeHub([b]), None, "yaml", NOW))
    assert yaml.safe_load(out)["items"] == [b]


def test_age_like_kubectl() -> None:
    def at(**kw: float) -> str:
        return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert [age(at(seconds=s), NOW) for s in (0, 119, 120, 185)] == ["0s", "119s", "2m",
                                                                       "3m5s"]
    assert age(at(minutes=42), NOW) == "42m"
    assert age(at(hours=5, minutes=7), NOW) == "5h7m"
    assert age(at(hours=30), NOW) == "30h"
    assert age(at(days=40), NOW) == "40d"
    assert age(at(days=800), NOW) == "2y"
    assert age(None, NOW) == "<unknown>" and age("yesterday", NOW) == "<invalid>"


def test_context_namespace() -> None:
    cfg = {"current-context": "a", "contexts": [
        {"name": "a", "context": {"namespace": "team"}}, {"name": "b", "context": {}}]}
    assert context_namespace(cfg, None) == "team"
    assert context_namespace(cfg, "b") is None
    assert context_namespace("junk", None) is None


def test_render_record_with_nothing_left_out() -> None:
    rec = decision_record(placed_decision(), prices="p", egress="e", top=50)
    text = render_record("title", rec)
    assert "not shown" not in text
    assert text.count("\n") == 1 + 1 + 9 + 3 + 1
