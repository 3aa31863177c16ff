"""A small FP32 ONNX model for tests: the demo's (a MatMul + Add with a 64x32 weight)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from federation.dev.demo_model import onnx_model_bytes


def write_gemm_model(path: Path, seed: int = 0) -> np.ndarray:
    """Write the model to ``path``; returns its weight (drawn first from ``seed``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(onnx_model_bytes(seed))
    return np.random.default_rng(seed).standard_normal((64, 32)).astype(np.float32)
