"""The hub controller: watches, placement, apply, status, failover."""
