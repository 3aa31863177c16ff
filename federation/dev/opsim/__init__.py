"""The pure part of the operator simulator (``federation.dev.operators``).

One module per operator (``kubeflow``, ``mpi``, ``kserve``, ``ray``, ``jobset``,
``volcano``, ``trainer``): from a custom resource and the children the simulator has
observed, each computes a ``Plan`` (children to create, patch or delete) and the status the
real operator would write. No I/O, no clock (the time is passed in), no global state.
"""
