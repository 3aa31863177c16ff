"""Variant builds: a ``Converter`` turns a downloaded model version into a variant.

Converters run in the hub's staging worker (a thread); the Protocol leaves room for one that
runs the same step as a Kubernetes Job.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from federation.errors import FedctlError


class BuildFailed(FedctlError):
    """A converter could not build its variant (bad input, missing file, converter error)."""


class Converter(Protocol):
    @property
    def name(self) -> str: ...

    def build(self, src_dir: Path, input_path: str, out_dir: Path) -> None:
        """Read ``src_dir/input_path`` (``src_dir`` holds the version or its subPath) and
        write the variant's files into ``out_dir``; raise ``BuildFailed`` on bad input."""
        ...


def default_converters() -> Mapping[str, Converter]:
    from federation.staging.converters.onnx_int8 import OnnxInt8

    c = OnnxInt8()
    return {c.name: c}
