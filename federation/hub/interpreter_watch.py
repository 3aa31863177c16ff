"""Declarative interpreters installed while the hub runs (as Karmada's
ResourceInterpreterCustomization, in the format of ``--interpreter`` files).

The hub watches the ConfigMaps in namespace ``fedctl-system`` labelled
``fedctl.dev/interpreter=true``; every value of their ``data`` is WorkloadInterpreter
YAML (one or more documents). The hub's ``Interpreters`` then hold the built-ins, the
``--interpreter`` files' specs and the ConfigMaps' specs (ConfigMaps by name, then key),
a declarative spec overriding the built-in of its kind and a kind defined twice keeping
the earlier definition (``Interpreters.set_extra``). When what is in use changes,
``on_change`` runs (the hub re-plans its kind watches and queues every template).

A key that does not parse is reported (logged as an error naming the ConfigMap, key,
line and what to do; listed on ``/readyz`` without failing it) and the interpreters that
key defined before stay in use; nothing else is affected. A key removed, or its
ConfigMap deleted or unlabelled, takes its kinds away.

``InterpreterState`` is the pure part (ConfigMaps' data in, specs and errors out);
``InterpreterWatcher`` watches the ConfigMaps and applies what changes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from federation.errors import FedctlError
from federation.interpreters.interpreter import Interpreters
from federation.interpreters.spec import KindSpec, parse_interpreters

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

log = logging.getLogger(__name__)

NAMESPACE = "fedctl-system"
LABEL = "fedctl.dev/interpreter"
SELECTOR = f"{LABEL}=true"
DETAIL = "invalid interpreters"  # the /readyz detail listing the keys that do not parse

Source = tuple[str, str]  # (ConfigMap name, data key)


class InterpreterState:
    """The declarative specs in use and how the ConfigMaps change them (pure)."""

    def __init__(self, files: Iterable[KindSpec] = (), namespace: str = NAMESPACE) -> None:
        self.files = tuple(files)  # --interpreter files: read once, always first
        self.namespace = namespace
        # per ConfigMap key: its text last seen, and the specs it defines (the last that
        # parsed) or the error of its text
        self._texts: dict[Source, str] = {}
        self._specs: dict[Source, tuple[KindSpec, ...]] = {}
        self._errors: dict[Source, str] = {}

    def where(self, name: str, key: str) -> str:
        return f"configmap {self.namespace}/{name}/{key}"

    def update(self, configmaps: Mapping[str, Mapping[str, Any] | None]
               ) -> tuple[tuple[KindSpec, ...], list[str]]:
        """The declarative specs to use once the labelled ConfigMaps are ``configmaps``
        (name -> data), and the errors of the keys that do not parse (those keep the
        specs they defined before)."""
        texts: dict[Source, str] = {}
        specs: dict[Source, tuple[KindSpec, ...]] = {}
        errors: dict[Source, str] = {}
        for name in sorted(configmaps):
            data = configmaps[name] or {}
            for key in sorted(data):
                src, text = (name, str(key)), str(data[key])
                texts[src] = text
                before = self._specs.get(src)
                if self._texts.get(src) == text:  # unchanged: parsed already
                    if src in self._errors:
                        errors[src] = self._errors[src]
                    if before is not None:
                        specs[src] = before
                    continue
                try:
                    specs[src] = tuple(parse_interpreters(text, self.where(*src)))
                except FedctlError as exc:
                    errors[src] = self._message(exc, name, before)
                    if before is not None:
                        specs[src] = before
        self._texts, self._specs, self._errors = texts, specs, errors
        return ((*self.files, *(s for src in sorted(specs) for s in specs[src])),
                [errors[src] for src in sorted(errors)])

    def _message(self, exc: FedctlError, name: str,
                 before: tuple[KindSpec, ...] | None) -> str:
        fix = f"fix it with `kubectl -n {self.namespace} edit configmap {name}`"
        kept = (f"the hub keeps the interpreters this key defined before "
                f"({', '.join(s.key for s in before)})" if before else
                "this key defines no interpreter until it parses")
        return f"{exc}; {fix}; {kept}"

    def short_errors(self) -> str:
        """One line per key that does not parse (its first error), for ``/readyz``."""
        out = []
        for src in sorted(self._errors):
            first = self._errors[src].split("\n", 1)[0]
            out.append(first[:300])
        return " | ".join(out)


class InterpreterWatcher:
    """Watches the interpreter ConfigMaps on the hub and applies them to ``interpreters``.
    ``details`` is the hub's ``readiness_details``; ``on_change`` runs when the specs in
    use changed."""

    def __init__(self, state: InterpreterState, interpreters: Interpreters,
                 details: MutableMapping[str, str], on_change: Callable[[], None]) -> None:
        self.state = state
        self.interpreters = interpreters
        self._details = details
        self._on_change = on_change
        # what ``interpreters`` holds (None: not set yet, the first change sets it)
        self._applied: tuple[KindSpec, ...] | None = None
        self._reported: tuple[str, ...] = ()
        self._conflicts: list[str] = []  # kinds defined twice (the earlier kept)
        self.synced = asyncio.Event()  # set once the ConfigMaps were first listed

    def changed(self, configmaps: Mapping[str, Mapping[str, Any] | None]) -> None:
        """The labelled ConfigMaps are now ``configmaps`` (name -> data)."""
        specs, errors = self.state.update(configmaps)
        changed = specs != self._applied
        if changed:
            self._conflicts = self.interpreters.set_extra(specs)
        conflicts = self._conflicts
        problems = (*errors, *conflicts)
        if problems != self._reported:  # each problem once, not on every relist
            for text in problems:
                if text not in self._reported:
                    log.error("interpreters: %s", text)
            self._reported = problems
        self._details[DETAIL] = " | ".join(
            [*(e for e in [self.state.short_errors()] if e), *conflicts])
        if changed:
            self._applied = specs
            log.info("interpreters: declarative kinds now %s",
                     ", ".join(s.key for s in specs) or "none")
            self._on_change()

    async def run(self, hub: ApiClient) -> None:
        """Watch the ConfigMaps on ``hub`` until cancelled."""
        from kubernetes_asyncio import client as k8s

        from federation.clusters.watch import Reflector

        ns = self.state.namespace
        refl: Reflector[dict[str, Any]] = Reflector(
            f"hub/configmap/{ns}/interpreters",
            k8s.CoreV1Api(hub).list_namespaced_config_map,
            list_kwargs={"namespace": ns, "label_selector": SELECTOR},
            on_change=lambda _e, _o: self.changed(
                {str((o.get("metadata") or {}).get("name")): o.get("data") or {}
                 for o in refl.store.values()}))
        task = asyncio.ensure_future(refl.run())
        try:
            await refl.synced.wait()
            if not refl.store:  # listed and none: the files' specs stay
                self.changed({})
            self.synced.set()
            await task
        finally:
            task.cancel()
            self._details.pop(DETAIL, None)
