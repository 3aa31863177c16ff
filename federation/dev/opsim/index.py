"""Children by controller: which watched objects each custom resource owns."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from federation.dev.opsim.common import controller_of
from federation.interpreters.interpreter import group_of

ChildKey = tuple[str, str]  # (kind key, "namespace/name")


@dataclass(frozen=True, slots=True)
class OwnerRef:
    kind: str  # kind key of the controller (group/Kind)
    namespace: str
    name: str
    uid: str


class OwnerIndex:
    def __init__(self) -> None:
        self._owner: dict[ChildKey, OwnerRef] = {}
        self._children: dict[str, set[ChildKey]] = {}

    def update(self, kind: str, key: str, event: str,
               obj: Mapping[str, Any]) -> OwnerRef | None:
        """Record one watch event; return the controller it concerns (old one on delete)."""
        child: ChildKey = (kind, key)
        old = self._owner.pop(child, None)
        if old is not None:
            kids = self._children.get(old.uid)
            if kids is not None:
                kids.discard(child)
                if not kids:
                    del self._children[old.uid]
        if event == "DELETED":
            return old
        ref = controller_of(obj)
        if ref is None or not ref.get("uid"):
            return old
        group = group_of(str(ref.get("apiVersion", "")))
        owner_kind = f"{group}/{ref.get('kind')}" if group else str(ref.get("kind"))
        namespace = key.split("/", 1)[0] if "/" in key else ""
        new = OwnerRef(owner_kind, namespace, str(ref.get("name")), str(ref["uid"]))
        self._owner[child] = new
        self._children.setdefault(new.uid, set()).add(child)
        return new

    def children(self, uid: str) -> frozenset[ChildKey]:
        return frozenset(self._children.get(uid, ()))
