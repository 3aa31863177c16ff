"""fedctl: multi-cluster federation controller for AI workloads."""

__version__ = "0.1.0"
