"""hetc-fold-constants: evaluate ops whose inputs are all constants at compile time.

Also folds `Shape` and `Size` of statically shaped tensors, which turns the shape
arithmetic exporters emit (Shape -> Gather -> Concat -> Reshape) into constants.
The NumPy kernels do the evaluation, so folding means exactly what running does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, NoneType, TensorType
from xdsl.passes import ModulePass

from hetc.backends.numpy.evaluate import NONDETERMINISTIC_OPS, has_kernel, run_kernel, shape_value
from hetc.dialects import onnx as onnx_d

#: A fold may grow the weights only up to this many elements (ConstantOfShape, Expand, Tile).
MAX_GROWTH_ELEMENTS = 1 << 16


def _evaluate(op: onnx_d.OnnxOp) -> list[np.ndarray] | None:
    if op.OP_TYPE in ("Shape", "Size"):
        shape = onnx_d.tensor_shape(op.operands[0])
        attrs = {k: onnx_d.attribute_to_python(v) for k, v in op.onnx_attributes().items()}
        return None if shape is None else [shape_value(op.OP_TYPE, list(shape), attrs)]
    if op.OP_TYPE in NONDETERMINISTIC_OPS or op.OP_TYPE == "Constant" or not has_kernel(op.OP_TYPE):
        return None
    inputs = []
    for v in op.operands:
        if isinstance(v.type, NoneType):
            inputs.append(None)
            continue
        array = onnx_d.constant_value(v)
        if array is None:
            return None
        inputs.append(array)
    in_elements = sum(a.size for a in inputs if a is not None)
    out_elements = sum(
        int(np.prod(r.type.get_shape(), dtype=np.int64)) for r in op.results if isinstance(r.type, TensorType)
    )
    if out_elements > max(in_elements, MAX_GROWTH_ELEMENTS):
        return None
    attrs = {k: onnx_d.attribute_to_python(v) for k, v in op.onnx_attributes().items()}
    try:
        return run_kernel(op.OP_TYPE, inputs, attrs, len(op.results))
    except Exception:
        return None  # left for run time, where the same kernel reports the problem


def fold_constants(module: ModuleOp) -> int:
    folded = 0
    for op in list(module.walk()):
        if not isinstance(op, onnx_d.OnnxOp) or op.parent is None:
            continue
        values = _evaluate(op)
        if values is None:
            continue
        replacements = []
        for result, array in zip(op.results, values):
            if isinstance(result.type, NoneType) or not result.uses:
                replacements.append(None)
                continue
            want = result.type
            if tuple(array.shape) != tuple(want.get_shape()) or onnx_d.element_type_from_numpy(array.dtype) != want.get_element_type():
                replacements = None  # kernel and type inference disagree: keep the op
                break
            replacements.append(array)
        if replacements is None:
            continue
        block = op.parent
        for result, array in zip(op.results, replacements):
            if array is None:
                continue
            const = onnx_d.constant_op(array, result.name_hint)
            block.insert_op_before(const, op)
            result.replace_all_uses_with(const.results[0])
        if all(not r.uses for r in op.results):
            op.parent.erase_op(op)
        folded += 1
    return folded


@dataclass(frozen=True)
class FoldConstants(ModulePass):
    name = "hetc-fold-constants"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fold_constants(op)
