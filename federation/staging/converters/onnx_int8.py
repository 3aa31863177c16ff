"""ONNX FP32 -> INT8 dynamic quantization (``onnxruntime.quantization.quantize_dynamic``):
weights stored as int8, activations quantized at run time, so no calibration data is
needed; for edge CPUs and low-power GPUs. The output keeps the input's relative path."""

from __future__ import annotations

from pathlib import Path

from federation.staging.converters import BuildFailed


class OnnxInt8:
    name = "onnx-int8"

    def build(self, src_dir: Path, input_path: str, out_dir: Path) -> None:
        src = src_dir / input_path
        if not src.is_file():
            raise BuildFailed(f"onnx-int8: input {input_path!r} is not in the model version",
                              hint="set variants[].build.input to the .onnx file's path "
                                   "inside the version (or its subPath)")
        dst = out_dir / input_path
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            onnx.checker.check_model(str(src))
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        except Exception as exc:  # onnx/onnxruntime raise many unrelated types
            raise BuildFailed(f"onnx-int8: quantizing {input_path!r} failed: "
                              f"{type(exc).__name__}: {exc}") from exc
