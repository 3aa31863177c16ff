"""Per-kind knowledge of workloads: replicas and per-replica resources (pure, on dicts)."""

from federation.interpreters.demand import DemandError, extract_demand, supported_kinds

__all__ = ["DemandError", "extract_demand", "supported_kinds"]
