"""Labels and names fedctl puts on what it applies to members (shared, pure)."""

FIELD_MANAGER = "fedctl"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "fedctl"
BINDING_LABEL = "fedctl.dev/binding"
CLUSTER_ANNOTATION = "fedctl.dev/cluster"
