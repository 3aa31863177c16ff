"""Webhook signature, dedup and the aiohttp route (401/404/200/400/500)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from federation.registry.webhook import (
    DeliveryDedup,
    RegistryEvent,
    WebhookRejected,
    make_webhook_route,
    parse_event,
    sign,
    verify_signature,
)

# A delivery captured from a real MLflow 3.17.2 server (webhook secret "s3cr3t") after
# `registered-models/alias` moved alias production of model fraud to version 2.
REAL_ID = "629e0a5d-6ca3-4508-a802-6fe30d2dcbee"
REAL_TS = "1796488300"
REAL_SIG = "v1,awl+VfiIRL76RzjcPxeGGEXcFmaWbAQLTGUAgTXkcow="
REAL_BODY = (b'{"entity": "model_version_alias", "action": "created", "timestamp": '
             b'"2026-12-05T16:31:40.314051+00:00", "data": {"name": "fraud", "alias": '
             b'"production", "version": "2"}}')
SECRET = b"s3cr3t"
NOW = float(REAL_TS) + 1


def test_signature_matches_a_real_mlflow_delivery() -> None:
    assert sign(SECRET, REAL_ID, REAL_TS, REAL_BODY) == REAL_SIG
    verify_signature(SECRET, REAL_ID, REAL_TS, REAL_BODY, REAL_SIG, now=NOW)


@pytest.mark.parametrize(("secret", "delivery", "ts", "body", "sig", "reason"), [
    (b"wrong", REAL_ID, REAL_TS, REAL_BODY, REAL_SIG, "does not match"),
    (SECRET, "other-id", REAL_TS, REAL_BODY, REAL_SIG, "does not match"),
    (SECRET, REAL_ID, REAL_TS, REAL_BODY + b" ", REAL_SIG, "does not match"),
    (SECRET, REAL_ID, REAL_TS, REAL_BODY, "sha256=" + "0" * 64, "does not match"),
    (SECRET, REAL_ID, REAL_TS, REAL_BODY, "v1,not base64!", "does not match"),
    (SECRET, REAL_ID, REAL_TS, REAL_BODY, "", "missing X-MLflow-Signature"),
    (SECRET, "", REAL_TS, REAL_BODY, REAL_SIG, "missing X-MLflow-Delivery-Id"),
    (SECRET, REAL_ID, "", REAL_BODY, REAL_SIG, "missing X-MLflow-Timestamp"),
    (SECRET, REAL_ID, "yesterday", REAL_BODY, REAL_SIG, "not Unix seconds"),
])
def test_bad_deliveries_are_rejected(secret: bytes, delivery: str, ts: str, body: bytes,
                                     sig: str, reason: str) -> None:
    with pytest.raises(WebhookRejected, match=reason):
        verify_signature(secret, delivery, ts, body, sig, now=NOW)


def test_timestamp_window_both_ways() -> None:
    sent = float(REAL_TS)
    verify_signature(SECRET, REAL_ID, REAL_TS, REAL_BODY, REAL_SIG, now=sent + 300)
    with pytest.raises(WebhookRejected, match="from now"):
        verify_signature(SECRET, REAL_ID, REAL_TS, REAL_BODY, REAL_SIG, now=sent + 301)
    with pytest.raises(WebhookRejected, match="from now"):
        verify_signature(SECRET, REAL_ID, REAL_TS, REAL_BODY, REAL_SIG, now=sent - 301)
    with pytest.raises(WebhookRejected):
        verify_signature(SECRET, REAL_ID, REAL_TS, REAL_BODY, REAL_SIG, now=sent + 20,
                         window=10)


def test_any_of_several_signatures_may_match() -> None:
    verify_signature(SECRET, REAL_ID, REAL_TS, REAL_BODY, f"v1,AAAA {REAL_SIG}", now=NOW)
    with pytest.raises(WebhookRejected):
        verify_signature(SECRET, REAL_ID, REAL_TS, REAL_BODY, "v2," + REAL_SIG[3:], now=NOW)


def test_parse_event() -> None:
    ev = parse_event(REAL_BODY, REAL_ID)
    assert ev == RegistryEvent("model_version_alias", "created", "fraud", "2", "production",
                               REAL_ID)
    mv = parse_event(json.dumps({"entity": "model_version", "action": "created",
                                 "data": {"name": "m", "version": 3}}).encode(), "d")
    assert (mv.version, mv.alias) == ("3", None)
    for bad in (b"[]", b"{", b'{"entity": "x", "action": "y", "data": {}}',
                b'{"entity": 1, "action": "y", "data": {"name": "m"}}'):
        with pytest.raises(ValueError):
            parse_event(bad, "d")


def test_dedup_is_a_bounded_lru() -> None:
    d = DeliveryDedup(capacity=2)
    assert not d.seen("a")
    assert not d.seen("b")
    assert d.seen("a")  # a is now the most recent
    assert not d.seen("c")  # evicts b
    assert len(d) == 2
    assert d.seen("a")
    assert not d.seen("b")
    d.forget("b")
    assert not d.seen("b")
    with pytest.raises(ValueError):
        DeliveryDedup(capacity=0)


class Receiver:
    def __init__(self) -> None:
        self.events: list[tuple[str, RegistryEvent]] = []
        self.fail = False

        self.followed: set[str] | None = None  # None: every model

    async def on_event(self, key: str, event: RegistryEvent) -> bool:
        if self.fail:
            raise RuntimeError("boom")
        self.events.append((key, event))
        return self.followed is None or event.model in self.followed


@pytest.fixture
async def served() -> AsyncIterator[tuple[TestClient[web.Request, web.Application], Receiver]]:
    app = web.Application()
    rx = Receiver()
    secrets = {"ns1/mlflow": SECRET}
    make_webhook_route(app, "/webhooks/mlflow/{namespace}/{source}", secrets.get,
                       rx.on_event, clock=lambda: NOW)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client, rx
    finally:
        await client.close()


def headers(delivery: str = REAL_ID, sig: str = REAL_SIG) -> dict[str, str]:
    return {"X-MLflow-Delivery-Id": delivery, "X-MLflow-Timestamp": REAL_TS,
            "X-MLflow-Signature": sig, "Content-Type": "application/json"}


async def test_route_accepts_then_drops_duplicates(
        served: tuple[TestClient[web.Request, web.Application], Receiver]) -> None:
    client, rx = served
    resp = await client.post("/webhooks/mlflow/ns1/mlflow", data=REAL_BODY, headers=headers())
    assert resp.status == 200
    assert rx.events == [("ns1/mlflow", parse_event(REAL_BODY, REAL_ID))]
    again = await client.post("/webhooks/mlflow/ns1/mlflow", data=REAL_BODY,
                              headers=headers())
    assert again.status == 200
    assert (await again.json()) == {"duplicate": True}
    assert len(rx.events) == 1


async def test_route_rejects_bad_signature_without_logging_secrets(
        served: tuple[TestClient[web.Request, web.Application], Receiver],
        caplog: pytest.LogCaptureFixture) -> None:
    client, rx = served
    caplog.set_level(logging.DEBUG)
    bad = sign(b"not-the-secret", REAL_ID, REAL_TS, REAL_BODY)
    resp = await client.post("/webhooks/mlflow/ns1/mlflow", data=REAL_BODY,
                             headers=headers(sig=bad))
    assert resp.status == 401
    missing = await client.post("/webhooks/mlflow/ns1/mlflow", data=REAL_BODY,
                                headers={"X-MLflow-Delivery-Id": "x"})
    assert missing.status == 401
    assert rx.events == []
    assert "rejected" in caplog.text
    for secret_text in ("s3cr3t", "not-the-secret", REAL_SIG, bad):
        assert secret_text not in caplog.text


async def test_route_unknown_source_is_404(
        served: tuple[TestClient[web.Request, web.Application], Receiver]) -> None:
    client, rx = served
    resp = await client.post("/webhooks/mlflow/ns1/other", data=REAL_BODY, headers=headers())
    assert resp.status == 404
    assert rx.events == []


async def test_route_bad_body_400_and_handler_failure_500_then_retry(
        served: tuple[TestClient[web.Request, web.Application], Receiver]) -> None:
    client, rx = served
    body = b'{"entity": "model_version"}'
    resp = await client.post("/webhooks/mlflow/ns1/mlflow", data=body, headers=headers(
        "d-bad", sign(SECRET, "d-bad", REAL_TS, body)))
    assert resp.status == 400
    rx.fail = True
    resp = await client.post("/webhooks/mlflow/ns1/mlflow", data=REAL_BODY, headers=headers())
    assert resp.status == 500
    rx.fail = False  # MLflow retries 5xx: the redelivery is handled, not dropped
    resp = await client.post("/webhooks/mlflow/ns1/mlflow", data=REAL_BODY, headers=headers())
    assert resp.status == 200
    assert len(rx.events) == 1


async def test_route_unknown_model_is_404(
        served: tuple[TestClient[web.Request, web.Application], Receiver]) -> None:
    client, rx = served
    rx.followed = {"some-other-model"}
    resp = await client.post("/webhooks/mlflow/ns1/mlflow", data=REAL_BODY, headers=headers())
    assert resp.status == 404
    assert "follows no model" in (await resp.json())["error"]
