from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from federation.cli.models import (
    as_list,
    describe,
    list_table,
    progress,
    stage_outcome,
    staged,
    wait_staged,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def sub(status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "fedctl.dev/v1alpha1", "kind": "ModelSubscription",
            "metadata": {"name": "fraud", "namespace": "ml",
                         "creationTimestamp": "2026-12-05T11:58:00Z"},
            "spec": {"source": "mlflow", "model": "fraud-detector", "channel": "production",
                     **spec},
            "status": status or {}}


def entry(cluster: str, state: str, version: str = "2", **kw: Any) -> dict[str, Any]:
    return {"cluster": cluster, "store": f"{cluster}-s3", "variant": "default",
            "version": version, "state": state, **kw}


def test_list_row_counts_verified_clusters_of_the_desired_version() -> None:
    s = sub({"desiredVersion": "2", "switchedVersion": "1",
             "conditions": [{"type": "Ready", "status": "False", "reason": "Staging"}],
             "clusters": [entry("a", "Verified"), entry("b", "Copying"),
                          entry("c", "Verified", version="1")]})
    assert staged(s["status"]) == "1/3"
    out = list_table([s], NOW, wide=True).splitlines()
    assert out[0].split() == ["NAMESPACE", "NAME", "MODEL", "CHANNEL", "DESIRED", "SWITCHED",
                              "STAGED", "READY", "AGE", "SOURCE", "LAST", "GOOD", "REASON"]
    assert out[1].split() == ["ml", "fraud", "fraud-detector", "production", "2", "1", "1/3",
                              "False", "2m", "mlflow", "-", "Staging"]


def test_a_pinned_version_shows_in_the_channel_column() -> None:
    row = list_table([sub(version="7")], NOW).splitlines()[1].split()
    assert row[3] == "=7"


def test_progress_shows_bytes_and_failure_reasons() -> None:
    assert progress(entry("a", "Copying", bytesDone=512 * 2**20, bytesTotal=2**31)) == \
        "Copying 512.0 MiB/2.0 GiB (25%)"
    assert progress(entry("a", "Failed", reason="MissingFile")) == "Failed: MissingFile"
    assert progress({"cluster": "a"}) == "Pending"


def test_describe_lists_every_cluster_and_failure_messages() -> None:
    text = describe(sub({"desiredVersion": "2", "clusters": [
        entry("edge-1", "Failed", reason="MissingFile", message="missing tokenizer.json"),
        entry("cloud-1", "Verified", uri="s3://b/fraud-detector/2", servingVersion="1")]}))
    assert "Model:         fraud-detector (source mlflow, channel production)" in text
    rows = [ln.split() for ln in text.splitlines()]
    assert ["cloud-1", "cloud-1-s3", "default", "2", "Verified", "1",
            "s3://b/fraud-detector/2"] in rows
    assert "  edge-1: missing tokenizer.json" in text
    assert "No clusters selected." in describe(sub())


def test_stage_outcome() -> None:
    assert stage_outcome(sub({"switchedVersion": "3"}), "3") == "switched"
    assert stage_outcome(sub({"clusters": [entry("a", "Copying", "3")]}), "3") is None
    failed = stage_outcome(sub({"clusters": [entry("a", "Failed", "3", reason="BuildFailed",
                                                   message="bad onnx")]}), "3")
    assert failed == "failed: a: BuildFailed bad onnx"
    # a failure of another version does not count
    assert stage_outcome(sub({"clusters": [entry("a", "Failed", "2")]}), "3") is None


class Seq:
    """Subscriptions returning a scripted sequence of objects on get()."""

    def __init__(self, states: list[dict[str, Any]]) -> None:
        self.states = states

    async def list(self, namespace: str | None) -> list[dict[str, Any]]:
        return []

    async def get(self, namespace: str, name: str) -> dict[str, Any]:
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    async def pin(self, namespace: str, name: str, version: str) -> dict[str, Any]:
        return self.states[0]


def test_wait_staged_follows_progress_until_switched() -> None:
    seq = Seq([sub({"clusters": [entry("a", "Pending", "3")]}),
               sub({"clusters": [entry("a", "Copying", "3", bytesDone=1, bytesTotal=2)]}),
               sub({"switchedVersion": "3", "clusters": [entry("a", "Verified", "3")]})])
    lines: list[str] = []
    rc = asyncio.run(wait_staged(seq, "ml", "fraud", "3", 10, lines.append, interval=0))
    assert rc == 0
    assert lines == ["a: Pending\n", "a: Copying 1 B/2 B (50%)\n", "a: Verified\n",
                     "modelsubscription ml/fraud switched to version 3\n"]


def test_wait_staged_fails_on_a_failed_cluster_and_on_timeout() -> None:
    lines: list[str] = []
    bad = Seq([sub({"clusters": [entry("a", "Failed", "3", reason="StoreUnreachable")]})])
    assert asyncio.run(wait_staged(bad, "ml", "fraud", "3", 10, lines.append, interval=0)) == 1
    assert lines[-1] == "modelsubscription ml/fraud: failed: a: StoreUnreachable\n"
    slow = Seq([sub({"clusters": [entry("a", "Copying", "3")]})])
    assert asyncio.run(wait_staged(slow, "ml", "fraud", "3", 0, lines.append, interval=0)) == 1
    assert lines[-1].startswith("timed out after 0s")


def test_as_list_is_a_kubectl_list() -> None:
    assert as_list([sub()])["kind"] == "List"
