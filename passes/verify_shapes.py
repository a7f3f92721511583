"""hetc-verify-shapes: every onnx op has static tensor types that agree with ONNX.

Checks, per op: the op's own structural verifier (input/output counts, required
and known attributes); every value is a statically shaped tensor; element types
satisfy the schema's type constraints, consistently per type variable; and the
result types equal what ONNX's own per-node shape inference computes from the
operand types (and constant operand values). Any later pass that rewrites the
graph is checked by running this again.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import helper, numpy_helper
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, NoneType, TensorType
from xdsl.passes import ModulePass
from xdsl.utils.exceptions import VerifyException

from hetc.diagnostics import HetcError
from hetc.dialects import onnx as onnx_d


def _type_str(t: TensorType) -> str:
    code = onnx_d.onnx_elem_type(t.get_element_type())
    return f"tensor({helper.tensor_dtype_to_string(code).removeprefix('TensorProto.').lower()})"


def _type_proto(t: TensorType) -> onnx.TypeProto:
    return helper.make_tensor_type_proto(onnx_d.onnx_elem_type(t.get_element_type()), list(t.get_shape()))


def onnx_node(op: onnx_d.OnnxOp, inputs: list[str], outputs: list[str]) -> onnx.NodeProto:
    """The NodeProto equivalent of `op` with the given value names."""
    attrs = []
    for name, attr in op.onnx_attributes().items():
        value = onnx_d.attribute_to_python(attr)
        kind = op.SCHEMA.attributes[name].type
        if kind == onnx.AttributeProto.TENSOR:
            value = numpy_helper.from_array(value)
        attrs.append(helper.make_attribute(name, value, attr_type=kind))
    node = helper.make_node(op.OP_TYPE, inputs, outputs, name=op.node_name)
    node.attribute.extend(attrs)
    return node


def _fail(op: onnx_d.OnnxOp, reason: str) -> HetcError:
    return HetcError(f"shape/type verification failed: {reason}", node=op.node_name, op_type=op.OP_TYPE)


def _check_types(op: onnx_d.OnnxOp) -> None:
    s = op.SCHEMA
    allowed = {c.type_param_str: set(c.allowed_type_strs) for c in s.type_constraints}
    bound: dict[str, str] = {}

    def check(formal, value, what: str) -> None:
        if isinstance(value.type, NoneType):
            return
        t = value.type
        if not isinstance(t, TensorType) or any(d < 0 for d in t.get_shape()):
            raise _fail(op, f"{what} '{formal.name}' is not a statically shaped tensor: {t}")
        ts = _type_str(t)
        param = formal.type_str
        ok = ts in allowed[param] if param in allowed else ts == param
        if not ok:
            raise _fail(op, f"{what} '{formal.name}' has type {ts}, not one of {sorted(allowed.get(param, {param}))}")
        if param in allowed and formal.is_homogeneous:
            if bound.setdefault(param, ts) != ts:
                raise _fail(op, f"{what} '{formal.name}' is {ts} but type {param} is already {bound[param]}")

    for i, v in enumerate(op.operands):
        check(s.inputs[min(i, len(s.inputs) - 1)], v, "input")
    for i, r in enumerate(op.results):
        check(s.outputs[min(i, len(s.outputs) - 1)], r, "output")


def _check_shapes(op: onnx_d.OnnxOp) -> None:
    ins = [f"i{i}" if not isinstance(v.type, NoneType) else "" for i, v in enumerate(op.operands)]
    outs = [f"o{i}" if not isinstance(r.type, NoneType) else "" for i, r in enumerate(op.results)]
    types, data = {}, {}
    for name, v in zip(ins, op.operands):
        if name:
            types[name] = _type_proto(v.type)
            array = onnx_d.constant_value(v)
            if array is not None and array.size <= 4096:
                data[name] = numpy_helper.from_array(array, name)
    node = onnx_node(op, ins, outs)
    try:
        inferred = onnx.shape_inference.infer_node_outputs(
            op.SCHEMA, node, types, data, opset_imports=[helper.make_opsetid("", onnx_d.ONNX_OPSET)]
        )
    except Exception as exc:
        raise _fail(op, f"ONNX shape inference rejects the op: {str(exc).strip().splitlines()[-1]}") from None
    for name, r in zip(outs, op.results):
        if not name or name not in inferred:
            continue
        tt = inferred[name].tensor_type
        if not tt.HasField("shape"):
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        have = list(r.type.get_shape())
        if len(dims) != len(have) or any(d is not None and d != h for d, h in zip(dims, have)):
            raise _fail(op, f"result {name[1:]} is declared {r.type} but ONNX infers shape {dims}")


def verify_shapes(module: ModuleOp) -> None:
    for op in module.walk():
        if not isinstance(op, onnx_d.OnnxOp):
            continue
        try:
            op.verify()
        except VerifyException as exc:
            raise _fail(op, str(exc)) from None
        _check_types(op)
        if op.OP_TYPE != "Constant":
            _check_shapes(op)


@dataclass(frozen=True)
class VerifyShapes(ModulePass):
    name = "hetc-verify-shapes"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        verify_shapes(op)
