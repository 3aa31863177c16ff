"""The local fleet: real control planes and object stores as local processes."""
