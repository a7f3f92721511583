"""Evaluate one ONNX op on NumPy arrays with the kernel library (constant folding,
shape resolution at import)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hetc.backends.numpy.kernels import KERNELS
from hetc.diagnostics import UnsupportedError


#: ops whose value is not a function of their inputs: never evaluated at compile time
NONDETERMINISTIC_OPS = frozenset(
    {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike", "Bernoulli", "Multinomial"}
)


def shape_value(op_type: str, dims: list[int], attrs: dict[str, Any]) -> np.ndarray:
    """What `Shape` (with start/end) or `Size` returns for a tensor of shape `dims`."""
    if op_type == "Size":
        return np.array(int(np.prod(dims, dtype=np.int64)), dtype=np.int64)
    start, end = attrs.get("start", 0), attrs.get("end", len(dims))
    return np.array(list(dims)[slice(start, end)], dtype=np.int64)


def has_kernel(op_type: str) -> bool:
    return op_type in KERNELS


def run_kernel(
    op_type: str, inputs: list[np.ndarray | None], attrs: dict[str, Any], n_outputs: int
) -> list[np.ndarray]:
    """The first `n_outputs` results of `op_type` on `inputs` (None = absent input)."""
    fn = KERNELS.get(op_type)
    if fn is None:
        raise UnsupportedError(f"no NumPy kernel for ONNX op {op_type}", op_type=op_type)
    with np.errstate(all="ignore"):
        result = fn(*inputs, **attrs)
    results = list(result) if isinstance(result, tuple) else [result]
    return [np.asarray(r) for r in results[:n_outputs]]
