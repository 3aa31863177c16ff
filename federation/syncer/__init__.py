"""Render per-cluster objects (pure) and apply them to members (server-side apply)."""
