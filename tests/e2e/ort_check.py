"""onnxruntime as the reference of the end-to-end tests: its outputs, and the check
every backend's outputs must pass (max |hetc - ort| <= 1e-4 * max |ort| per output);
and the zoo models those tests export."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

RTOL_OF_MAX = 1e-4


def ort_outputs(model: onnx.ModelProto | str, feeds) -> list[np.ndarray]:
    m = onnx.load(str(model)) if not isinstance(model, onnx.ModelProto) else model
    m.ir_version = min(m.ir_version, 10)  # onnx 1.23 writes IR 14; onnxruntime reads at most 13
    return ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)


def assert_matches(got, want) -> None:
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        assert np.max(np.abs(g - w)) <= RTOL_OF_MAX * np.max(np.abs(w))


def zoo_export(name: str, tmp_path_factory, dynamo: bool = False) -> tuple[Path, dict[str, np.ndarray]]:
    """(path, seeded feeds) of zoo model `name`, exported into $HETC_CACHE/models (shared
    between runs) or a fresh temporary folder; skips the test without torch."""
    import pytest

    pytest.importorskip("torch")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from models import zoo

    cache = os.environ.get("HETC_CACHE")
    folder = Path(cache) / "models" if cache else tmp_path_factory.mktemp(f"zoo-{name}")
    folder.mkdir(parents=True, exist_ok=True)
    return zoo.export(name, folder, dynamo=dynamo), zoo.make_inputs(name, 0)
