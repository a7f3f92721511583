"""onnxruntime as the reference of the end-to-end tests: its outputs, and the check
every backend's outputs must pass (max |hetc - ort| <= 1e-4 * max |ort| per output)."""

from __future__ import annotations

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
