"""Errors of the distributors, all ``FedctlError``s with one-line, actionable messages.

``StoreError`` carries the store's name; ``retryable`` says whether tenacity may try the
operation again (timeouts, connection resets, throttling, 5xx) or not (missing bucket, bad
credentials, checksum mismatch, bad keys).
"""

from __future__ import annotations

from federation.errors import FedctlError, InputError


class StoreError(FedctlError):
    """An object-store operation failed. ``str()`` names the store and what to do."""

    retryable = False

    def __init__(self, store: str, message: str, *, hint: str | None = None) -> None:
        self.store = store
        super().__init__(f"object store {store}: {message}", hint=hint)


class RetryableStoreError(StoreError):
    """A transient failure: timeout, connection reset, throttling, HTTP 5xx."""

    retryable = True


class StoreUnreachable(RetryableStoreError):
    """The endpoint did not answer (connection refused, DNS, timeout)."""


class BucketNotFound(StoreError):
    """The bucket (or file root) does not exist."""


class AccessDenied(StoreError):
    """Credentials were rejected or lack permission."""


class ObjectNotFound(StoreError):
    """The object does not exist."""


class ChecksumMismatch(StoreError):
    """Bytes read or written do not match the manifest."""


class UnsafeKey(InputError):
    """A key escapes its prefix (``..``, absolute path, link out of a file root)."""


class ManifestError(FedctlError):
    """A manifest is missing, malformed or inconsistent."""


class SyncError(FedctlError):
    """A sync finished with failed transfers; nothing was published for those stores."""
