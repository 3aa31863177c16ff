"""Catalogs: GPU products, prices and egress (pure data, no I/O beyond package data)."""
