"""`fedctl artifacts sync` fits its transfer settings into --memory-budget."""

from __future__ import annotations

import pytest

from distributors.base import BASELINE_MEMORY, MiB, StoreConfig, TransferSettings
from federation.cli.artifacts import _parallel_syncs, budgeted
from federation.errors import InputError


def test_relayed_fanout_budgets_one_sync_per_target_region() -> None:
    cfgs = {n: StoreConfig(n, "s3", region=r) for n, r in
            [("a", "eu"), ("b", "eu"), ("c", "ap"), ("d", "us")]}
    assert _parallel_syncs(cfgs, ["a", "b", "c", "d"], relay=True) == 3
    assert _parallel_syncs(cfgs, ["a", "b", "c", "d"], relay=False) == 1
    assert _parallel_syncs(cfgs, ["a"], relay=True) == 1


def test_budgeted_fits_or_explains() -> None:
    fitted = budgeted(TransferSettings(parallel_syncs=3), 512 * MiB, "512M")
    assert BASELINE_MEMORY + fitted.buffer_bound() <= 512 * MiB
    with pytest.raises(InputError, match="--memory-budget 10M"):
        budgeted(TransferSettings(), 10 * MiB, "10M")
