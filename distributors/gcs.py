"""``gs://`` stores with google-cloud-storage.

Uploads are resumable (chunked) with ``checksum="crc32c"``: the library checks the bytes
against the server's CRC32C at finalisation; we also compare the final object's CRC32C
with the manifest. Against real GCS, uploads from a local file above the threshold use
``transfer_manager.upload_chunks_concurrently`` (XML multipart); emulators without the XML
API (fake-gcs-server) use the resumable path. Server-side copies use ``rewrite``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, BinaryIO, NoReturn

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc
from google.cloud import storage

from distributors import keys
from distributors.base import (
    ObjectMeta,
    ReadStream,
    Store,
    StoreConfig,
    TransferSettings,
    stat_written,
)
from distributors.errors import (
    AccessDenied,
    BucketNotFound,
    ChecksumMismatch,
    ObjectNotFound,
    RetryableStoreError,
    StoreError,
    StoreUnreachable,
)
from distributors.resume import Held, SessionGone

_GRANULE = 256 * 1024
_READ = 1024 * 1024


class GcsStore:
    provider = "gcs"

    def __init__(self, cfg: StoreConfig, settings: TransferSettings) -> None:
        self.cfg = cfg
        self._settings = settings
        self._prefix = cfg.prefix.strip("/")
        if cfg.endpoint:
            from google.auth import credentials as gcreds

            anonymous: Any = gcreds.AnonymousCredentials
            self._client = storage.Client(
                project=cfg.project or "fedctl-dev", credentials=anonymous(),
                client_options={"api_endpoint": cfg.endpoint})
        else:
            try:
                self._client = storage.Client(project=cfg.project)
            except auth_exc.DefaultCredentialsError:
                raise AccessDenied(cfg.name, "no Google credentials found",
                                   hint="run `gcloud auth application-default login` or "
                                        "set GOOGLE_APPLICATION_CREDENTIALS") from None
        _size_pool(self._client, settings.connections)
        self._bucket = self._client.bucket(cfg.bucket)
        self._chunk = max(_GRANULE, settings.chunk_size // _GRANULE * _GRANULE)
        self._parallel = (settings.gcs_parallel_chunks if settings.gcs_parallel_chunks
                          is not None else cfg.endpoint is None)
        self._domain = f"gcs|{cfg.endpoint or 'google'}"
        self._timeout = (5.0, settings.timeout)
        self._status_query = (settings.gcs_status_query if settings.gcs_status_query
                              is not None else cfg.endpoint is None)
        self._list_page = max(1, settings.gcs_list_page_size or (
            1000 if cfg.endpoint is None else 10_000))

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def region(self) -> str:
        return self.cfg.region

    @property
    def copy_domain(self) -> str | None:
        return self._domain

    def _key(self, key: str) -> str:
        return keys.join(self._prefix, key)

    @property
    def bucket(self) -> str:
        return self.cfg.bucket

    def native_key(self, key: str) -> str:
        """The object's name in the bucket (prefix included)."""
        return self._key(key)

    def _fail(self, exc: BaseException, key: str | None = None) -> NoReturn:
        err = translate(self.cfg, exc, key)
        if isinstance(err, ObjectNotFound) and not self._bucket_exists():
            err = _bucket_missing(self.cfg)
        raise err from None

    def _bucket_exists(self) -> bool:
        try:
            return bool(self._bucket.exists(timeout=self._timeout, retry=None))
        except Exception:
            return True

    def list(self, prefix: str) -> Iterator[ObjectMeta]:
        full = self._key(prefix.rstrip("/")) + "/" if prefix else (
            self._prefix + "/" if self._prefix else "")
        cut = len(self._prefix) + 1 if self._prefix else 0
        try:
            blobs = self._client.list_blobs(
                self.cfg.bucket, prefix=full, page_size=self._list_page, timeout=self._timeout,
                retry=None,
                fields="items(name,size,crc32c,generation),nextPageToken")
            for b in blobs:
                yield ObjectMeta(key=b.name[cut:], size=int(b.size or 0), crc32c=b.crc32c,
                                 fingerprint=str(b.generation))
        except Exception as exc:
            err = translate(self.cfg, exc)
            raise (_bucket_missing(self.cfg) if isinstance(err, ObjectNotFound) else err) \
                from None

    def stat(self, key: str, *, checksum: bool = True) -> ObjectMeta | None:
        try:
            b = self._bucket.get_blob(self._key(key), timeout=self._timeout, retry=None)
        except Exception as exc:
            self._fail(exc, key)
        if b is None:
            if not self._bucket_exists():
                raise _bucket_missing(self.cfg)
            return None
        return _meta(key, b)

    def open_read(self, key: str, start: int = 0, end: int | None = None) -> ReadStream:
        if end is None:
            meta = self.stat(key, checksum=False)
            if meta is None:
                raise ObjectNotFound(self.name, f"{key}: no such object")
            end = meta.size
        return _RangeReader(self, self._bucket.blob(self._key(key)), key, start, end,
                            self._chunk)

    def read_bytes(self, key: str) -> bytes:
        try:
            data: bytes = self._bucket.blob(self._key(key)).download_as_bytes(
                timeout=self._timeout, checksum="crc32c", retry=None)
            return data
        except Exception as exc:
            self._fail(exc, key)

    def write(self, key: str, stream: BinaryIO, size: int, crc32c: str) -> ObjectMeta:
        blob = self._bucket.blob(self._key(key), chunk_size=self._chunk)
        local = getattr(stream, "local_path", None)
        try:
            if self._parallel and local and size >= self._settings.multipart_threshold:
                from google.cloud.storage import transfer_manager

                transfer_manager.upload_chunks_concurrently(
                    local, blob, chunk_size=self._chunk, max_workers=self._settings.concurrency)
                blob.reload(timeout=self._timeout, retry=None)
            else:
                blob.upload_from_file(stream, size=size, checksum="crc32c", retry=None,
                                      timeout=self._timeout, rewind=False)
        except Exception as exc:
            self._fail(exc, key)
        if blob.crc32c != crc32c:
            self._discard(blob)
            raise ChecksumMismatch(self.name, f"{key}: stored CRC32C {blob.crc32c} != "
                                              f"manifest {crc32c}")
        return _meta(key, blob)

    def _discard(self, blob: Any) -> None:
        with contextlib.suppress(Exception):
            blob.delete(timeout=self._timeout)

    def write_bytes(self, key: str, data: bytes) -> ObjectMeta:
        blob = self._bucket.blob(self._key(key))
        try:
            blob.upload_from_string(data, checksum="crc32c", retry=None, timeout=self._timeout)
        except Exception as exc:
            self._fail(exc, key)
        return _meta(key, blob)

    def copy_from(self, source: Store, src_key: str, key: str, size: int,
                  crc32c: str) -> ObjectMeta:
        if source.copy_domain != self.copy_domain:
            raise StoreError(self.name, f"cannot copy server-side from {source.name}")
        dst = self._bucket.blob(self._key(key))
        src = self._client.bucket(source.bucket).blob(source.native_key(src_key))
        try:
            token, _, _ = dst.rewrite(src, timeout=self._timeout, retry=None)
            while token is not None:
                token, _, _ = dst.rewrite(src, token=token, timeout=self._timeout,
                                         retry=None)
        except Exception as exc:
            self._fail(exc, key)
        return stat_written(self, key, "copy")

    # ---- resumable sessions (distributors/resume.py) ---------------------------------
    # The session is created through the SDK (``create_resumable_upload_session``); each
    # request then streams one segment of the source with a known Content-Length, so
    # memory stays at one read buffer whatever the request size (the SDK's
    # ``ResumableUpload`` reads every chunk into memory and cannot be rebuilt from a
    # journaled URL through its public API). The protocol is the documented one:
    # ``Content-Range: bytes a-b/total`` -> 308 + ``Range`` until the last byte, then 200.
    @property
    def resumable_sequential(self) -> bool:
        return True

    @property
    def resumable_concurrency(self) -> int:
        return 1

    def resumable_part_size(self, size: int) -> int | None:
        t = self._settings.resumable_threshold
        if not t or size < t:
            return None
        return max(_GRANULE, self._settings.gcs_request_size // _GRANULE * _GRANULE)

    def resumable_start(self, key: str, size: int, crc32c: str,
                        part_size: int) -> dict[str, Any]:
        blob = self._bucket.blob(self._key(key))
        blob.crc32c = crc32c  # GCS checks it when the last byte arrives
        try:
            url = blob.create_resumable_upload_session(
                content_type="application/octet-stream", size=size, checksum=None,
                timeout=self._timeout, retry=None)
        except Exception as exc:
            self._fail(exc, key)
        return {"url": url, "confirmed": 0, "inflight": None}

    def resumable_held(self, key: str, session: dict[str, Any], size: int,
                       part_size: int) -> Held | None:
        if not self._status_query:
            # The server cannot be asked (fake-gcs-server finalises the object on a status
            # query): continue at the last offset the server confirmed. A request in
            # flight at a kill is sent again: fake-gcs-server drops an incomplete request
            # body; if it had stored the whole request before the kill, the resent bytes
            # are appended twice and the final size/CRC32C check fails, which discards the
            # object and starts afresh (``resumable_complete``) -- never a wrong object.
            return Held(offset=int(session.get("confirmed") or 0))
        resp = self._session_request(key, session, {"Content-Range": f"bytes */{size}"})
        if resp.status_code == 308:
            return Held(offset=_range_end(resp.headers.get("Range")))
        if resp.status_code in (200, 201):
            return Held(offset=size)  # finalised before the last run could record it
        return None

    def _session_request(self, key: str, session: dict[str, Any], headers: dict[str, str],
                         body: Any = None) -> Any:
        try:
            resp = self._client._http.request(
                "PUT", session["url"], data=body, headers=headers,
                timeout=(5.0, max(self._settings.timeout, 600.0)))
        except ShortSource as exc:
            raise RetryableStoreError(self.name, f"{key}: {exc}") from None
        except Exception as exc:
            self._fail(exc, key)
        if resp.status_code in (404, 410):
            raise SessionGone(self.name, f"{key}: resumable session is gone")
        if resp.status_code in (408, 429) or resp.status_code >= 500:
            raise RetryableStoreError(self.name, f"{key}: transient error HTTP "
                                                 f"{resp.status_code}")
        return resp

    def resumable_put(self, key: str, session: dict[str, Any], index: int, start: int,
                      end: int, size: int, crc32c: str, stream: ReadStream) -> int:
        body = _SizedBody(stream, end - start)
        resp = self._session_request(key, session, {
            "Content-Range": f"bytes {start}-{end - 1}/{size}",
            "Content-Type": "application/octet-stream"}, body)
        if body.left:
            raise RetryableStoreError(self.name, f"{key}: source ended {body.left} bytes "
                                                 "early")
        if resp.status_code == 308:
            return _range_end(resp.headers.get("Range"))
        if resp.status_code in (200, 201):
            return size
        if resp.status_code == 400 and end == size:
            raise ChecksumMismatch(self.name, f"{key}: the store rejected the upload "
                                              f"(HTTP 400): {resp.text[:200]}")
        raise StoreError(self.name, f"{key}: resumable upload failed: HTTP "
                                    f"{resp.status_code} {resp.text[:200]}")

    def resumable_complete(self, key: str, session: dict[str, Any], size: int,
                           crc32c: str) -> ObjectMeta:
        meta = stat_written(self, key, "upload")
        if meta.size != size or meta.crc32c != crc32c:
            self._discard(self._bucket.blob(self._key(key)))
            raise ChecksumMismatch(self.name, f"{key}: stored CRC32C {meta.crc32c} != "
                                              f"manifest {crc32c}")
        return meta

    def resumable_abort(self, key: str, session: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):
            self._client._http.request("DELETE", session["url"], timeout=self._timeout)

    def delete(self, key: str) -> None:
        try:
            self._bucket.blob(self._key(key)).delete(timeout=self._timeout, retry=None)
        except gexc.NotFound:
            return
        except Exception as exc:
            self._fail(exc, key)

    def close(self) -> None:
        self._client.close()


def _size_pool(client: Any, connections: int) -> None:
    """Give the client's HTTP session a connection pool as large as the requests it may
    have in flight (requests' default of 10 makes urllib3 discard connections)."""
    from requests.adapters import HTTPAdapter

    http = client._http
    for scheme in ("http://", "https://"):
        old = http.adapters.get(scheme)
        retries = getattr(old, "max_retries", 0)
        http.mount(scheme, HTTPAdapter(pool_connections=connections,
                                       pool_maxsize=connections, max_retries=retries))


class ShortSource(Exception):
    """The source stream ended before the request's Content-Length."""


class _SizedBody:
    """A request body of exactly ``n`` bytes read from ``stream`` in 1 MiB reads; ``len``
    lets requests send a Content-Length instead of chunked encoding."""

    def __init__(self, stream: ReadStream, n: int) -> None:
        self._s, self.left = stream, n
        self._buf = memoryview(b"")

    def __len__(self) -> int:
        return self.left + len(self._buf)

    def read(self, n: int = -1, /) -> bytes:
        if not self._buf and self.left > 0:
            data = self._s.read(min(_READ, self.left))
            if not data:  # never leave the server waiting for promised bytes
                raise ShortSource(f"source ended {self.left} bytes early")
            self.left -= len(data)
            self._buf = memoryview(data)
        if n < 0 or n >= len(self._buf):
            out, self._buf = bytes(self._buf), memoryview(b"")
            return out
        out = bytes(self._buf[:n])
        self._buf = self._buf[n:]
        return out


def _range_end(header: str | None) -> int:
    """``bytes=0-N`` -> N + 1 (bytes the server holds); no header -> 0."""
    if not header:
        return 0
    _, _, last = header.rpartition("-")
    return int(last) + 1


class _RangeReader:
    """Bytes ``[start, end)`` fetched one ranged GET of ``chunk`` bytes at a time."""

    def __init__(self, store: GcsStore, blob: Any, key: str, start: int, end: int,
                 chunk: int) -> None:
        self._store, self._blob, self._key = store, blob, key
        self._pos, self._end, self._chunk = start, end, chunk
        self._buf = memoryview(b"")

    def read(self, n: int = -1, /) -> bytes:
        if n < 0:
            parts = [bytes(self._buf)]
            self._buf = memoryview(b"")
            while self._pos < self._end:
                parts.append(self._fetch(self._end - self._pos))
            return b"".join(parts)
        if not self._buf and self._pos < self._end:
            self._buf = memoryview(self._fetch(min(self._chunk, self._end - self._pos)))
        out = bytes(self._buf[:n])
        self._buf = self._buf[n:]
        return out

    def _fetch(self, n: int) -> bytes:
        try:
            data: bytes = self._blob.download_as_bytes(
                start=self._pos, end=self._pos + n - 1, raw_download=True, checksum=None,
                timeout=self._store._timeout, retry=None)
        except Exception as exc:
            self._store._fail(exc, self._key)
        self._pos += len(data)
        if not data:
            raise RetryableStoreError(self._store.name, f"{self._key}: short read")
        return data

    def close(self) -> None:
        self._buf = memoryview(b"")


def _meta(key: str, b: Any) -> ObjectMeta:
    return ObjectMeta(key=key, size=int(b.size or 0), crc32c=b.crc32c,
                      fingerprint=str(b.generation))


def _bucket_missing(cfg: StoreConfig) -> BucketNotFound:
    return BucketNotFound(cfg.name, f"bucket {cfg.bucket!r} does not exist at "
                                    f"{cfg.endpoint or 'Google Cloud Storage'}",
                          hint="create it or fix 'bucket' in the fleet file")


def translate(cfg: StoreConfig, exc: BaseException, key: str | None = None) -> StoreError:
    import requests
    from google.resumable_media import common as rm

    name = cfg.name
    where = cfg.endpoint or "Google Cloud Storage"
    what = f"{key}: " if key else ""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, gexc.RetryError) and exc.cause is not None:
        exc = exc.cause
    if isinstance(exc, requests.exceptions.ConnectionError | auth_exc.TransportError):
        return StoreUnreachable(name, f"cannot reach endpoint {where}",
                                hint="check the store's endpoint and that it is running")
    if isinstance(exc, requests.exceptions.Timeout):
        return RetryableStoreError(name, f"{what}timeout talking to {where}")
    if isinstance(exc, auth_exc.DefaultCredentialsError | auth_exc.RefreshError):
        return AccessDenied(name, "Google credentials missing or rejected",
                            hint="run `gcloud auth application-default login`")
    if isinstance(exc, rm.DataCorruption):
        return RetryableStoreError(name, f"{what}checksum mismatch during transfer")
    status: int | None = None
    if isinstance(exc, gexc.GoogleAPICallError):
        status = exc.code
    elif isinstance(exc, rm.InvalidResponse):
        status = getattr(exc.response, "status_code", None)
    if status == 404:
        return ObjectNotFound(name, f"{what}no such object")
    if status in (401, 403):
        return AccessDenied(name, f"{what}access denied (HTTP {status}) at {where}",
                            hint="check the store's credentials and bucket permissions")
    if status in (408, 429) or (status is not None and status >= 500):
        return RetryableStoreError(name, f"{what}transient error HTTP {status}")
    msg = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return StoreError(name, f"{what}{msg}")
