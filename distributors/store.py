"""Opening a store: ``open_store`` builds the backend (S3, GCS or a directory) for a
``StoreConfig``. The protocol and configuration types live in ``distributors.base`` (which
the backends import) and are re-exported here for callers.
"""

from __future__ import annotations

from distributors.base import ObjectMeta, ReadStream, Store, StoreConfig, TransferSettings
from distributors.errors import StoreError

__all__ = ["ObjectMeta", "ReadStream", "Store", "StoreConfig", "TransferSettings", "open_store"]


def open_store(cfg: StoreConfig, settings: TransferSettings | None = None) -> Store:
    """Build the backend for ``cfg``. The backend modules are imported on first use: each
    pulls in its cloud SDK, which costs every ``fedctl`` command otherwise."""
    settings = settings or TransferSettings()
    if cfg.provider == "s3":
        from distributors.s3 import S3Store

        return S3Store(cfg, settings)
    if cfg.provider == "gcs":
        from distributors.gcs import GcsStore

        return GcsStore(cfg, settings)
    if cfg.provider == "file":
        from distributors.localfs import FileStore

        return FileStore(cfg)
    raise StoreError(cfg.name, f"unknown provider {cfg.provider!r}",
                     hint="use s3, gcs or file")
