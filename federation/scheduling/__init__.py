"""Placement engine: pure, deterministic (snapshot + demand + policy -> decision)."""
