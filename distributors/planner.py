"""The sync planner: pure functions from manifests and store listings to actions.

Nothing here does I/O or reads a clock. Source and destination are compared by the
manifest's content hashes (and the destination's own full-object CRC32C where its listing
reports one), never by modification time or ETag. A destination object is trusted without
a checksum read only when its receipt says we verified exactly this content *and* the
store's fingerprint of the object has not changed since.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from distributors.base import ObjectMeta
from distributors.manifest import FileEntry, Manifest, Receipt


class Kind(StrEnum):
    COPY = "copy"  # transfer the file
    CHECK = "check"  # ask the store for its checksum (or re-read); copy if it differs
    SKIP = "skip"  # already there and verified
    DELETE = "delete"  # in the destination version but not in the manifest


@dataclass(frozen=True, slots=True)
class Action:
    kind: Kind
    path: str
    reason: str
    size: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    store: str
    manifest: Manifest
    actions: tuple[Action, ...]
    unpublish_first: bool  # an older manifest must vanish before files change
    publish: bool  # write receipt + manifest at the end

    def of(self, kind: Kind) -> list[Action]:
        return [a for a in self.actions if a.kind is kind]

    @property
    def noop(self) -> bool:
        return not self.publish and all(a.kind is Kind.SKIP for a in self.actions)

    @property
    def copy_bytes(self) -> int:
        return sum(a.size for a in self.actions if a.kind is Kind.COPY)


def plan_file(entry: FileEntry, meta: ObjectMeta | None,
              receipt: Receipt | None) -> Action:
    if entry.pending:
        return Action(Kind.COPY, entry.path, "new or changed at the source", entry.size)
    if meta is None:
        return Action(Kind.COPY, entry.path, "missing", entry.size)
    if meta.size != entry.size:
        return Action(Kind.COPY, entry.path, f"size {meta.size} != {entry.size}", entry.size)
    if meta.crc32c is not None:
        if meta.crc32c == entry.crc32c:
            return Action(Kind.SKIP, entry.path, "store crc32c matches", entry.size)
        return Action(Kind.COPY, entry.path, "crc32c differs", entry.size)
    if receipt is not None and receipt.files.get(entry.path) == (entry.sha256,
                                                                 meta.fingerprint):
        return Action(Kind.SKIP, entry.path, "unchanged since verified", entry.size)
    return Action(Kind.CHECK, entry.path, "not verified yet", entry.size)


def plan_destination(store: str, source: Manifest, dest_manifest: Manifest | None,
                     dest_receipt: Receipt | None,
                     listing: Mapping[str, ObjectMeta]) -> Plan:
    """What to do so that ``store`` holds exactly ``source``.

    ``listing`` maps paths relative to the version prefix to the destination's metadata.
    """
    actions = [plan_file(f, listing.get(f.path), dest_receipt) for f in source.files]
    wanted = {f.path for f in source.files}
    actions += [Action(Kind.DELETE, p, "not in manifest") for p in sorted(listing)
                if p not in wanted]
    changes = any(a.kind is not Kind.SKIP for a in actions)
    same = dest_manifest is not None and dest_manifest.identity == source.identity
    receipt_ok = dest_receipt is not None and dest_receipt.identity == source.identity
    publish = changes or not same or not receipt_ok
    # A reader must never pair a manifest with files it does not describe: when files of
    # a published version will change, the manifest goes first.
    unpublish = dest_manifest is not None and changes
    return Plan(store=store, manifest=source, actions=tuple(actions),
                unpublish_first=unpublish, publish=publish)


@dataclass(frozen=True, slots=True)
class SourceRefresh:
    """Which source files need hashing to (re)build the source manifest."""

    reuse: tuple[FileEntry, ...]
    rehash: tuple[ObjectMeta, ...]

    @property
    def current(self) -> bool:
        return not self.rehash


def refresh_source(manifest: Manifest | None, receipt: Receipt | None,
                   listing: Mapping[str, ObjectMeta]) -> SourceRefresh:
    """Reuse a source manifest's entries whose objects are provably unchanged.

    An entry (of the manifest, else one the receipt kept from an incomplete sync that
    hashed it while copying) is reused when the object still has the size it had, and
    either the store's CRC32C equals the entry's or the receipt's fingerprint equals the
    store's.
    """
    old = manifest.by_path() if manifest else {}
    reuse: list[FileEntry] = []
    rehash: list[ObjectMeta] = []
    for path in sorted(listing):
        meta = listing[path]
        entry = old.get(path) or (receipt.hashed.get(path) if receipt is not None else None)
        ok = entry is not None and entry.size == meta.size and (
            (meta.crc32c is not None and meta.crc32c == entry.crc32c)
            or (receipt is not None
                and receipt.files.get(path) == (entry.sha256, meta.fingerprint)))
        if ok and entry is not None:
            reuse.append(entry)
        else:
            rehash.append(meta)
    return SourceRefresh(reuse=tuple(reuse), rehash=tuple(rehash))
