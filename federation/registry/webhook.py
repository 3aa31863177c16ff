"""The MLflow model-registry webhook receiver: signature, replay window, dedup, the route.

MLflow (checked against the 3.17.2 server) sends each delivery with the headers
``X-MLflow-Delivery-Id``, ``X-MLflow-Timestamp`` (Unix seconds) and, when the webhook has a
secret, ``X-MLflow-Signature: v1,<base64(HMAC-SHA256(secret, f"{id}.{ts}.{body}"))>``. The
body is ``{"entity", "action", "timestamp", "data": {"name", "version"?, "alias"?, ...}}``.
Delivery is best effort, so the hub polls too (``poll.py``); a webhook only makes it sooner.

Nothing here logs a secret or a signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-MLflow-Signature"
TIMESTAMP_HEADER = "X-MLflow-Timestamp"
DELIVERY_ID_HEADER = "X-MLflow-Delivery-Id"
SIGNATURE_VERSION = "v1"
MAX_BODY = 1024 * 1024  # registry events are small JSON documents


class WebhookRejected(Exception):
    """A delivery that must not be acted on; ``reason`` is safe to log (no secrets)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    entity: str  # registered_model | model_version | model_version_tag | model_version_alias
    action: str  # created | updated | deleted | set
    model: str
    version: str | None
    alias: str | None
    delivery_id: str


def sign(secret: bytes, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-MLflow-Signature`` value MLflow sends for this delivery."""
    mac = hmac.new(secret, f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION},{base64.b64encode(mac.digest()).decode()}"


def verify_signature(secret: bytes, delivery_id: str, timestamp: str, body: bytes,
                     signature: str, *, now: float, window: float = 300.0) -> None:
    """Raise ``WebhookRejected`` unless ``signature`` is MLflow's for this delivery and the
    timestamp lies within ``window`` seconds of ``now``. Several space-separated signatures
    (Standard Webhooks' key rotation form) are accepted if any one matches."""
    if not delivery_id:
        raise WebhookRejected(f"missing {DELIVERY_ID_HEADER}")
    if not timestamp:
        raise WebhookRejected(f"missing {TIMESTAMP_HEADER}")
    if not signature:
        raise WebhookRejected(f"missing {SIGNATURE_HEADER}")
    try:
        sent = int(timestamp)
    except ValueError:
        raise WebhookRejected(f"{TIMESTAMP_HEADER} is not Unix seconds") from None
    if abs(now - sent) > window:
        raise WebhookRejected(f"timestamp {sent} is {now - sent:+.0f}s from now "
                              f"(window {window:.0f}s)")
    expected = base64.b64decode(sign(secret, delivery_id, timestamp, body).split(",", 1)[1])
    for part in signature.split():
        version, _, value = part.partition(",")
        if version != SIGNATURE_VERSION:
            continue
        try:
            got = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(got, expected):
            return
    raise WebhookRejected("signature does not match")


def parse_event(body: bytes, delivery_id: str) -> RegistryEvent:
    """The event in a delivery body; ``ValueError`` when it is not one."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("body is not a JSON object")
    data = doc.get("data")
    entity, action = doc.get("entity"), doc.get("action")
    if not isinstance(entity, str) or not isinstance(action, str) or not isinstance(data, dict):
        raise ValueError("body needs string 'entity', 'action' and an object 'data'")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("data.name is missing")
    version, alias = data.get("version"), data.get("alias")
    return RegistryEvent(
        entity=entity, action=action, model=name,
        version=str(version) if version is not None else None,
        alias=str(alias) if alias is not None else None,
        delivery_id=delivery_id,
    )


class DeliveryDedup:
    """The most recent ``capacity`` delivery ids, least recently seen dropped first."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, delivery_id: str) -> bool:
        """True if ``delivery_id`` was seen before; records it otherwise."""
        if delivery_id in self._ids:
            self._ids.move_to_end(delivery_id)
            return True
        self._ids[delivery_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return False

    def forget(self, delivery_id: str) -> None:
        """Let a redelivery through again (the first attempt failed to be handled)."""
        self._ids.pop(delivery_id, None)

    def __len__(self) -> int:
        return len(self._ids)


def make_webhook_route(app: web.Application, path: str,
                       secret_for: Callable[[str], bytes | None],
                       on_event: Callable[[str, RegistryEvent], Awaitable[bool | None]], *,
                       clock: Callable[[], float] = time.time, window: float = 300.0,
                       dedup: DeliveryDedup | None = None) -> None:
    """Add ``POST path`` to ``app``. The key passed to ``secret_for`` and ``on_event`` is
    the path's placeholders joined by '/' in path order (``{namespace}/{source}`` gives
    ``"ns/src"``). Answers: 404 when ``secret_for`` knows no such source; 401 for a missing
    or wrong signature or a timestamp outside ``window`` (nothing is handed on); 200 for a
    duplicate delivery id (dropped) or a handled event; 400 for a signed body that is not
    an event; 404 when ``on_event`` returns False (no subscription follows the event's
    model); 500 when ``on_event`` fails (MLflow retries 5xx; the id is not kept)."""
    ids = dedup if dedup is not None else DeliveryDedup()

    async def handle(request: web.Request) -> web.Response:
        key = "/".join(request.match_info.values())
        secret = secret_for(key)
        if secret is None:
            log.info("webhook for unknown source %s from %s", key, request.remote)
            return web.json_response({"error": f"unknown source {key}"}, status=404)
        delivery_id = request.headers.get(DELIVERY_ID_HEADER, "")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.json_response({"error": "body too large"}, status=413)
        body = await request.read()
        try:
            verify_signature(secret, delivery_id, request.headers.get(TIMESTAMP_HEADER, ""),
                             body, request.headers.get(SIGNATURE_HEADER, ""),
                             now=clock(), window=window)
        except WebhookRejected as exc:
            log.warning("webhook for %s rejected (delivery %s from %s): %s", key,
                        delivery_id[:64] or "-", request.remote, exc.reason)
            return web.json_response({"error": "rejected: " + exc.reason}, status=401)
        if ids.seen(delivery_id):
            log.debug("webhook for %s: duplicate delivery %s dropped", key, delivery_id)
            return web.json_response({"duplicate": True})
        try:
            event = parse_event(body, delivery_id)
        except ValueError as exc:
            log.warning("webhook for %s: delivery %s is not a registry event: %s", key,
                        delivery_id, exc)
            return web.json_response({"error": str(exc)}, status=400)
        try:
            handled = await on_event(key, event)
        except Exception:
            ids.forget(delivery_id)
            log.exception("webhook for %s: handling delivery %s failed", key, delivery_id)
            return web.json_response({"error": "handler failed"}, status=500)
        if handled is False:
            return web.json_response(
                {"error": f"source {key} follows no model {event.model!r}"}, status=404)
        return web.json_response({"ok": True})

    app.router.add_post(path, handle)
