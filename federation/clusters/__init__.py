"""Connections to clusters: API clients built from kubeconfigs, the member pool and its
health probes, list-and-watch caches, GPU inventory, joining members to the hub and their
fence records. What is written to members is the syncer's (``federation.syncer.apply``)."""
