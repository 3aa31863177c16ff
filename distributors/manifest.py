"""Model-version manifests and receipts, and where they live in a store.

Layout inside a store (relative to its root)::

    <model>/<version>/<path>                     the version's files
    .fedctl/receipts/<model>/<version>.json      this store's record of what it verified
    .fedctl/manifests/<model>/<version>.json     the manifest, written last

A version exists on a store only when its manifest does (atomic publish). The manifest is
byte-identical on every store that holds the version; its ``identity`` is the SHA-256 of
the model, version and sorted (path, size, sha256, crc32c) entries. A receipt maps each
path to (sha256, store fingerprint at verification time) for that store only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from distributors import keys
from distributors.errors import ManifestError

API_VERSION = "fedctl.dev/v1alpha1"
META_DIR = ".fedctl"


def data_prefix(model: str, version: str) -> str:
    return f"{keys.check_name(model, what='model')}/{keys.check_name(version, what='version')}"


def data_key(model: str, version: str, path: str) -> str:
    return keys.join(data_prefix(model, version), path)


def manifest_key(model: str, version: str) -> str:
    return f"{META_DIR}/manifests/{data_prefix(model, version)}.json"


def receipt_key(model: str, version: str) -> str:
    return f"{META_DIR}/receipts/{data_prefix(model, version)}.json"


def manifests_prefix(model: str | None = None) -> str:
    return f"{META_DIR}/manifests/{keys.check_name(model, what='model')}" if model \
        else f"{META_DIR}/manifests"


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str
    size: int
    sha256: str
    crc32c: str

    @property
    def pending(self) -> bool:
        """A file new or changed at the source whose hashes are learnt while it is copied
        (``sha256 == PENDING``); a manifest holding one is provisional: never published."""
        return self.sha256 == PENDING


PENDING = ""


@dataclass(frozen=True, slots=True)
class Manifest:
    model: str
    version: str
    files: tuple[FileEntry, ...]  # sorted by path
    created: str = ""  # ISO-8601, when the version was first sealed (not in identity)
    _identity: str = field(default="", init=False, repr=False, compare=False)

    @staticmethod
    def build(model: str, version: str, files: Iterable[FileEntry],
              created: str = "") -> Manifest:
        keys.check_name(model, what="model")
        keys.check_name(version, what="version")
        ordered = tuple(sorted(files, key=lambda f: f.path))
        seen: set[str] = set()
        for f in ordered:
            keys.check_relative(f.path, what="manifest path")
            if f.path in seen:
                raise ManifestError(f"duplicate path {f.path!r} in {model}/{version}")
            seen.add(f.path)
        return Manifest(model=model, version=version, files=ordered, created=created)

    @property
    def identity(self) -> str:
        if not self._identity:  # computed once: the instance is immutable
            h = hashlib.sha256(f"{self.model}\n{self.version}\n".encode())
            for f in self.files:
                h.update(f"{f.path}\t{f.size}\t{f.sha256}\t{f.crc32c}\n".encode())
            object.__setattr__(self, "_identity", h.hexdigest())
        return self._identity

    @property
    def provisional(self) -> bool:
        return any(f.pending for f in self.files)

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def by_path(self) -> dict[str, FileEntry]:
        return {f.path: f for f in self.files}

    def to_json(self) -> bytes:
        if self.provisional:
            raise ManifestError(f"{self.model}/{self.version}: provisional manifest (files "
                                "not hashed yet) cannot be written")
        doc = {
            "apiVersion": API_VERSION, "kind": "ModelManifest",
            "model": self.model, "version": self.version, "identity": self.identity,
            "created": self.created, "totalSize": self.total_size,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256,
                       "crc32c": f.crc32c} for f in self.files],
        }
        return json.dumps(doc, indent=1, sort_keys=False).encode()

    @staticmethod
    def from_json(data: bytes, where: str = "manifest") -> Manifest:
        try:
            doc = json.loads(data)
            files = [FileEntry(path=str(f["path"]), size=int(f["size"]),
                               sha256=str(f["sha256"]), crc32c=str(f["crc32c"]))
                     for f in doc["files"]]
            m = Manifest.build(str(doc["model"]), str(doc["version"]), files,
                               str(doc.get("created", "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"{where}: malformed manifest ({exc})") from None
        if doc.get("identity") != m.identity:
            raise ManifestError(f"{where}: identity does not match its entries",
                                hint="the manifest was edited or damaged")
        return m


@dataclass(frozen=True, slots=True)
class Receipt:
    """One store's record: path -> (sha256, fingerprint) of objects it verified."""

    identity: str
    files: Mapping[str, tuple[str, str]]
    # Source stores only: entries of files hashed while copied by a sync that could not
    # complete the manifest (path -> entry; ``files`` holds their fingerprints), so the
    # next run reuses them instead of copying those files again.
    hashed: Mapping[str, FileEntry] = field(default_factory=dict)

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {"identity": self.identity,
                               "files": {p: list(v) for p, v in sorted(self.files.items())}}
        if self.hashed:
            doc["hashed"] = {p: [e.size, e.sha256, e.crc32c]
                             for p, e in sorted(self.hashed.items())}
        return json.dumps(doc, separators=(",", ":")).encode()

    @staticmethod
    def from_json(data: bytes) -> Receipt | None:
        """A receipt, or None if unreadable (it is only an optimisation)."""
        try:
            doc: Any = json.loads(data)
            return Receipt(identity=str(doc["identity"]),
                           files={str(p): (str(v[0]), str(v[1]))
                                  for p, v in doc["files"].items()},
                           hashed={str(p): FileEntry(str(p), int(v[0]), str(v[1]), str(v[2]))
                                   for p, v in doc.get("hashed", {}).items()})
        except (ValueError, KeyError, TypeError, IndexError):
            return None
