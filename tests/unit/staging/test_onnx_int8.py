from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from federation.staging.converters import BuildFailed, default_converters
from federation.staging.converters.onnx_int8 import OnnxInt8
from tests.unit.staging.onnx_models import write_gemm_model


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"x": x})[0]
    assert isinstance(out, np.ndarray)
    return out


def test_quantizes_weights_to_int8_and_keeps_outputs_close(tmp_path: Path) -> None:
    src, out = tmp_path / "src", tmp_path / "out"
    write_gemm_model(src / "onnx" / "model.onnx")
    out.mkdir()
    OnnxInt8().build(src, "onnx/model.onnx", out)
    q = out / "onnx" / "model.onnx"
    assert q.stat().st_size < (src / "onnx" / "model.onnx").stat().st_size
    types = {i.name: i.data_type for i in onnx.load(str(q)).graph.initializer}
    assert onnx.TensorProto.INT8 in types.values()
    x = np.random.default_rng(1).standard_normal((4, 64)).astype(np.float32)
    ref, got = _run(src / "onnx" / "model.onnx", x), _run(q, x)
    assert got.shape == ref.shape
    assert np.max(np.abs(got - ref)) < 0.05 * np.max(np.abs(ref))


def test_missing_input_is_a_clear_build_failure(tmp_path: Path) -> None:
    with pytest.raises(BuildFailed, match=r"input 'model\.onnx' is not in the model version"):
        OnnxInt8().build(tmp_path, "model.onnx", tmp_path / "out")


def test_not_an_onnx_file_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "model.onnx").write_bytes(b"not onnx")
    with pytest.raises(BuildFailed, match=r"quantizing 'model\.onnx' failed"):
        OnnxInt8().build(tmp_path, "model.onnx", tmp_path / "out")


def test_default_converters_name_onnx_int8() -> None:
    assert set(default_converters()) == {"onnx-int8"}
