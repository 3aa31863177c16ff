"""When a training gang may start on its new clusters: never while its old copy may run.

Two copies of a PyTorchJob writing one checkpoint directory can destroy the run, so a
training gang (SingleCluster / AllOrNothing) that leaves a cluster starts elsewhere only
once its copy there is **known** to be stopped:

* the cluster answers: its copy is deleted (foreground: the object stays until the
  garbage collector has deleted its pods) and the new copy waits until the member's watch
  shows the old one gone;
* the cluster does not answer but is **fenced** (``fedctl clusters fence``, or a lapsed
  pull-mode agent lease): an operator or the agent vouches that nothing runs there; the
  copy is deleted when the cluster answers again (``pendingCleanup``);
* the cluster does not answer and is not fenced: nothing is started; the binding's
  ``Failover`` condition says ``AwaitingFence`` and names the command that unblocks it.

Inference and stateless kinds never come here: they move after the policy's toleration
and their old copies keep serving until the new ones are Ready (``purgeMode``).

Pure: the reconciler gathers what it knows about each old cluster and does the deletes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class OldCopy:
    """What the hub knows about a training gang's copy on a cluster it is leaving."""

    cluster: str
    ready: bool          # the member answers (its health probe passes)
    fenced: bool         # an operator's fence or a lapsed agent lease
    present: bool        # our copy is still there (watched, or listed); False: known gone
    terminating: bool = False  # its deletion has been requested already


@dataclass(frozen=True, slots=True)
class Gate:
    """The verdict for one reconcile."""

    delete: tuple[str, ...] = ()          # answering clusters whose copy to delete now
    stopping: tuple[str, ...] = ()        # answering clusters whose copy is still there
    awaiting_fence: tuple[str, ...] = ()  # silent, unfenced clusters that may still run it
    remember: tuple[str, ...] = ()        # clusters to keep in ``pendingCleanup``

    @property
    def open(self) -> bool:
        """True when the new copies may be applied."""
        return not self.stopping and not self.awaiting_fence


def gang_gate(old: Iterable[OldCopy], started: bool) -> Gate:
    """The gate for a training gang leaving the clusters in ``old``.

    ``started``: every cluster of the new placement already holds its copy (a move that
    happened earlier): nothing is left to hold back, the old copies are only cleaned up.
    """
    delete: list[str] = []
    stopping: list[str] = []
    awaiting: list[str] = []
    remember: list[str] = []
    for c in sorted(old, key=lambda o: o.cluster):
        if c.ready:
            if c.present:
                stopping.append(c.cluster)
                remember.append(c.cluster)
                if not c.terminating:
                    delete.append(c.cluster)
        elif c.fenced:
            remember.append(c.cluster)  # deleted when it answers again
        else:
            awaiting.append(c.cluster)
            remember.append(c.cluster)
    if started:
        return Gate(delete=tuple(delete), remember=tuple(remember))
    return Gate(tuple(delete), tuple(stopping), tuple(awaiting), tuple(remember))


def awaiting_fence_message(kind: str, clusters: Iterable[str]) -> str:
    """The binding condition's message for a gang held back by silent clusters."""
    names = sorted(clusters)
    fence = "; ".join(f"`fedctl clusters fence {c}`" for c in names)
    return (f"{kind} is a training gang: it starts elsewhere only once its copy on "
            f"{', '.join(names)} is known to be stopped, and "
            f"{'that cluster does' if len(names) == 1 else 'those clusters do'} not answer. "
            f"If the nodes are down or the job's pods are stopped, run {fence}; otherwise "
            "it stays until the cluster answers again")


def stopping_message(clusters: Iterable[str], new: Iterable[str]) -> str:
    names = ", ".join(sorted(clusters))
    return (f"waiting for the copy on {names} and its pods to be deleted before starting "
            f"on {', '.join(sorted(new)) or 'the new clusters'} (never two copies of a "
            "training job)")
