"""/readyz: ready or not on the first line, details after it that never fail it."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from federation.hub.http import HubMetrics, make_app


async def _readyz(metrics: HubMetrics, ready: bool) -> tuple[int, str]:
    app = make_app(metrics, alive=lambda: True, ready=lambda: ready, refresh=lambda: None)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        resp = await client.get("/readyz")
        return resp.status, await resp.text()


async def test_details_are_shown_and_do_not_fail_readiness() -> None:
    metrics = HubMetrics()
    assert await _readyz(metrics, True) == (200, "ok")
    metrics.readiness_details["kinds not served"] = "kubeflow.org/MXJob, kubeflow.org/JAXJob"
    metrics.readiness_details["empty"] = ""
    assert await _readyz(metrics, True) == (
        200, "ok\nkinds not served: kubeflow.org/MXJob, kubeflow.org/JAXJob")
    status, text = await _readyz(metrics, False)
    assert status == 503 and text.startswith("not ready\nkinds not served: ")
