"""Model registries the hub follows: which version a model's channel points at, and where
its files are (MLflow's model registry, or distributor manifests in an object store)."""
