"""The operator simulator's per-operator logic (``federation.dev.operators`` runs it).

One module per operator (``kubeflow``, ``mpi``, ``kserve``, ``ray``, ``jobset``,
``volcano``, ``trainer``): from a custom resource and the children the simulator has
observed, each computes a ``Plan`` (children to create, patch or delete) and the status the
real operator would write: no I/O, no clock (the time is passed in), no global state
(an import-linter contract checks it). ``kube.py`` is the exception: the thin I/O layer
that lists, creates, patches and deletes those objects on a member.
"""
