"""Labels and names fedctl puts on what it applies to members (shared, pure).

In the model layer because both the syncer (rendering, applying) and clusters (joining a
member, counting the pods of a binding) use them; clusters sits below the syncer.
"""

FIELD_MANAGER = "fedctl"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "fedctl"
BINDING_LABEL = "fedctl.dev/binding"
CLUSTER_ANNOTATION = "fedctl.dev/cluster"
# Dependencies (ConfigMaps, Secrets, ServiceAccounts a workload references) may be shared
# by several bindings, so their copies carry this label instead of BINDING_LABEL, and the
# bindings that reference them in REFERENCED_BY_ANNOTATION (sorted, comma-separated).
DEPENDENCY_LABEL = "fedctl.dev/dependency"
DEPENDENCY_VALUE = "true"
REFERENCED_BY_ANNOTATION = "fedctl.dev/referenced-by"
