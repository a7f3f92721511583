"""hetc-lift-narrow-floats: float16 / bfloat16 graphs compute in float32.

Why: users export fp16 models (`model.half()` then `torch.onnx.export`, or onnxconverter's
float16 conversion), but the loop lowering computes GEMMs, convolutions, pools, reductions
and normalizations in float32 only. Rather than teach every lowering two more types, the
graph is lifted: every float16/bfloat16 value inside a function becomes float32, which is
exact for every value of both types, so only the roundings between ops are lost. Storage
goes back to the narrow type later: this pass records the model's narrow type as the module
attribute `hetc.narrow_storage = "f16" | "bf16"`, and `hetc-narrow-storage{type=auto}` (after
the loop lowering) stores intermediates and weights in it again, rounding once per stored
element while compute stays float32.

How, per `func.func` (the function's signature is kept, so callers still pass and receive
the narrow types):
- each narrow argument gets a `Cast` to float32 that all its uses read; each narrow
  result gets a `Cast` back before `func.return` (or returns the narrow value an explicit
  rounding already holds);
- narrow `Constant`s become float32 constants with the same values (exact);
- the attributes that name an element type follow the values (`TYPE_ATTRS`, `TENSOR_ATTRS`);
- a `Cast` / `CastLike` *to* a narrow type from another type is a rounding the model asked
  for: it stays, and a `Cast` to float32 after it feeds its users (f32 -> f16 -> f32), so
  explicit roundings survive (mixed models, e.g. a layer norm in float32 between casts,
  keep their exact semantics); a cast that no longer changes the type (f16 -> f32 and
  f16 -> f16 are now f32 -> f32) is replaced by its operand;
- `BitCast` reads and writes bit patterns, so its narrow operands are cast back to the
  narrow type and its narrow results cast up (`BIT_OPS`);
- every other narrow result type becomes float32; ONNX type constraints are per type
  variable, and every op that takes float16 or bfloat16 also takes float32, so
  `hetc-verify-shapes` still passes.

`hetc.narrow_storage` names the narrow type holding most of the function's float bytes
(values and constants, before lifting); when float32/float64 bytes outnumber both, the
model's author chose wide storage and no attribute is set (the pass still lifts, so the
narrow parts compile). A module lifted once (`hetc.narrow_lifted`) is left alone, so
running the pass twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from hetc.dialects import onnx as onnx_d
from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import (
    DenseIntOrFPElementsAttr,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    UnitAttr,
    bf16,
    f16,
    f32,
    f64,
    i64,
)
from xdsl.ir import Attribute, Block, Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.rewriter import Rewriter

#: the module attribute hetc-narrow-storage{type=auto} reads
NARROW_STORAGE_ATTR = "hetc.narrow_storage"

#: set once the module is lifted (also where no storage type is recorded), so a second run
#: finds its own rounding casts already in place and changes nothing
LIFTED_ATTR = "hetc.narrow_lifted"

#: narrow float types this pass lifts, with the attribute spelling of each
NARROW: dict[Attribute, str] = {f16: "f16", bf16: "bf16"}
_NARROW_CODES = {onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}

#: ops whose integer attribute names the element type of (one of) their results
#: (Multinomial's and QuantizeLinear's name integer types: nothing to lift there)
TYPE_ATTRS: dict[str, str] = {
    "EyeLike": "dtype",
    "RandomNormal": "dtype",
    "RandomNormalLike": "dtype",
    "RandomUniform": "dtype",
    "RandomUniformLike": "dtype",
    "Bernoulli": "dtype",
    "DequantizeLinear": "output_dtype",
    "BlackmanWindow": "output_datatype",
    "HammingWindow": "output_datatype",
    "HannWindow": "output_datatype",
    "MelWeightMatrix": "output_datatype",
}

#: ops whose tensor attribute holds a value of the result's element type
TENSOR_ATTRS: dict[str, str] = {"Constant": "value", "ConstantOfShape": "value"}

#: ops that round to the type named by `to` (Cast) or by their second operand (CastLike)
ROUNDING_OPS = {"Cast", "CastLike"}

#: ops that reinterpret bits: their narrow operands and results keep the narrow type
BIT_OPS = {"BitCast"}


def _elem(v: SSAValue) -> Attribute | None:
    return v.type.get_element_type() if isinstance(v.type, TensorType) else None


def _is_narrow(v: SSAValue) -> bool:
    return _elem(v) in NARROW


def _lift_value(v: SSAValue, original: dict[SSAValue, Attribute | None]) -> SSAValue:
    """Retype a narrow value to float32 in place (uses follow); `original` keeps its old type."""
    if not _is_narrow(v):
        return v
    new = Rewriter.replace_value_with_new_type(v, TensorType(f32, v.type.get_shape()))
    original[new] = original.get(v, _elem(v))
    return new


def _cast(value: SSAValue, to: Attribute, name: str) -> Operation:
    """`Cast(value, to=to)`, result named after `name` (also its node name, for kernel labels)."""
    op = onnx_d.build_op("Cast", [value], [TensorType(to, value.type.get_shape())], to=onnx_d.onnx_elem_type(to))
    op.attributes[onnx_d.NODE_NAME_ATTR] = StringAttr(name)
    op.results[0].name_hint = name.replace("/", "_").replace(".", "_")
    return op


def _hint(v: SSAValue, default: str) -> str:
    return v.name_hint or default


def narrow_float_bytes(module: ModuleOp) -> dict[str, int]:
    """Bytes of float values (op results and block arguments) by kind: "f16", "bf16", "wide"."""
    counts = {"f16": 0, "bf16": 0, "wide": 0}
    for op in module.walk():
        values = list(op.results) + [a for r in op.regions for b in r.blocks for a in b.args]
        for v in values:
            t = _elem(v)
            if t is None:
                continue
            n = int(np.prod(v.type.get_shape(), dtype=np.int64))
            if t in NARROW:
                counts[NARROW[t]] += 2 * n
            elif t in (f32, f64):
                counts["wide"] += n * (4 if t == f32 else 8)
    return counts


def _lift_attributes(op: onnx_d.OnnxOp) -> None:
    """Retype the attributes that name or hold a narrow element type."""
    name = TENSOR_ATTRS.get(op.OP_TYPE)
    attr = op.attributes.get(name) if name else None
    if isinstance(attr, DenseIntOrFPElementsAttr) and attr.type.get_element_type() in NARROW:
        # every float16 / bfloat16 value is a float32 value: the conversion is exact
        op.attributes[name] = onnx_d.dense_from_numpy(onnx_d.numpy_from_dense(attr).astype(np.float32))
    name = TYPE_ATTRS.get(op.OP_TYPE)
    attr = op.attributes.get(name) if name else None
    if isinstance(attr, IntegerAttr) and attr.value.data in _NARROW_CODES:
        op.attributes[name] = IntegerAttr(onnx.TensorProto.FLOAT, i64)


def _lift_rounding(op: onnx_d.OnnxOp, original: dict[SSAValue, Attribute | None]) -> None:
    """Cast/CastLike to a narrow type: keep the rounding (x -> narrow -> f32) unless the
    operand already had that narrow type (then it is a copy, now f32 -> f32)."""
    result = op.results[0]
    target = _elem(result)
    block = op.parent
    if original.get(op.operands[0]) == target:  # a copy: now f32 -> f32
        _bypass(op)
        return
    if op.OP_TYPE == "CastLike":  # read the type from the attribute, not the (lifted) like-operand
        attrs = {k: onnx_d.attribute_to_python(op.attributes[k]) for k in ("saturate", "round_mode") if k in op.attributes}
        cast = onnx_d.build_op("Cast", [op.operands[0]], [result.type], to=onnx_d.onnx_elem_type(target), **attrs)
        if op.node_name:
            cast.attributes[onnx_d.NODE_NAME_ATTR] = op.attributes[onnx_d.NODE_NAME_ATTR]
        cast.results[0].name_hint = result.name_hint
        block.insert_op_before(cast, op)
        result.replace_all_uses_with(cast.results[0])
        block.erase_op(op)
        op, result = cast, cast.results[0]
    up = _cast(result, f32, f"{op.node_name or _hint(result, 'round')}/to_f32")
    block.insert_op_after(up, op)
    result.replace_uses_with_if(up.results[0], lambda use: use.operation is not up)
    original[up.results[0]] = target  # (a later Cast of it to the same type is a copy)


def _bypass(op: onnx_d.OnnxOp) -> None:
    """Replace a cast that no longer changes the type by its operand."""
    op.results[0].replace_all_uses_with(op.operands[0])
    op.parent.erase_op(op)


def _lift_bit_op(op: onnx_d.OnnxOp, original: dict[SSAValue, Attribute | None]) -> None:
    """Operands go back to the narrow bits they had; narrow results are cast up."""
    block = op.parent
    for i, v in enumerate(op.operands):
        t = original.get(v)
        if t in NARROW and _elem(v) != t:
            down = _cast(v, t, f"{op.node_name or 'bits'}/in{i}_{NARROW[t]}")
            block.insert_op_before(down, op)
            op.operands[i] = down.results[0]
    for i, r in enumerate(op.results):
        if _is_narrow(r):
            up = _cast(r, f32, f"{op.node_name or 'bits'}/out{i}_f32")
            block.insert_op_after(up, op)
            r.replace_uses_with_if(up.results[0], lambda use, up=up: use.operation is not up)


def _lift_block(block: Block, original: dict[SSAValue, Attribute | None]) -> None:
    for op in list(block.ops):
        for region in op.regions:  # (the onnx dialect has no nested graphs today; be general)
            for inner in region.blocks:
                _lift_block(inner, original)
        if not isinstance(op, onnx_d.OnnxOp):
            continue
        if op.OP_TYPE in BIT_OPS:
            _lift_bit_op(op, original)
            continue
        _lift_attributes(op)
        if op.OP_TYPE in ROUNDING_OPS and _is_narrow(op.results[0]):
            _lift_rounding(op, original)
            continue
        for r in list(op.results):
            _lift_value(r, original)
        if op.OP_TYPE in ROUNDING_OPS and _elem(op.operands[0]) == _elem(op.results[0]):
            _bypass(op)  # a cast from a narrow type to float32 is now f32 -> f32


def _lift_function(fn: func.FuncOp) -> None:
    block = fn.body.blocks[0]
    original = {v: _elem(v) for op in fn.walk() for v in op.results}
    original.update({a: _elem(a) for a in block.args})
    # the signature keeps its narrow types: Cast up after each argument ...
    first, ups = block.first_op, []
    for arg in block.args:
        if not _is_narrow(arg) or not arg.uses:
            continue
        up = _cast(arg, f32, f"{_hint(arg, f'arg{arg.index}')}/to_f32")
        block.insert_op_before(up, first)
        ups.append(up)
        arg.replace_uses_with_if(up.results[0], lambda use, up=up: use.operation is not up)
        original[up.results[0]] = _elem(arg)  # (to the graph's ops the value is the narrow argument)
    _lift_block(block, original)
    for up in ups:  # (a CastLike's like-operand was read for its type only)
        if not up.results[0].uses:
            block.erase_op(up)
    # ... and Cast down before the return
    ret = block.last_op
    assert isinstance(ret, func.ReturnOp)
    for i, (v, want) in enumerate(zip(ret.operands, fn.function_type.outputs.data)):
        t = want.get_element_type() if isinstance(want, TensorType) else None
        if t not in NARROW or _elem(v) == t:
            continue
        owner = v.owner
        if isinstance(owner, onnx_d.OnnxOp) and owner.OP_TYPE == "Cast" and _elem(owner.operands[0]) == t:
            ret.operands[i] = owner.operands[0]  # an up-cast of a narrow value: return that value
            if not owner.results[0].uses:
                owner.parent.erase_op(owner)
            continue
        down = _cast(v, t, f"{_hint(v, f'out{i}')}/to_{NARROW[t]}")
        block.insert_op_before(down, ret)
        ret.operands[i] = down.results[0]


def lift_narrow_floats(module: ModuleOp) -> str | None:
    """Lift every function of `module` to float32 compute; returns the storage type recorded
    in `hetc.narrow_storage` ("f16", "bf16") or None (no narrow floats, or mostly wide ones)."""
    if LIFTED_ATTR in module.attributes:
        existing = module.attributes.get(NARROW_STORAGE_ATTR)
        return existing.data if isinstance(existing, StringAttr) else None
    counts = narrow_float_bytes(module)
    if not counts["f16"] and not counts["bf16"]:
        return None
    for fn in [op for op in module.walk() if isinstance(op, func.FuncOp)]:
        if fn.body.blocks:
            _lift_function(fn)
    module.attributes[LIFTED_ATTR] = UnitAttr()
    storage = "f16" if counts["f16"] >= counts["bf16"] else "bf16"
    if counts[storage] < counts["wide"]:
        return None
    module.attributes[NARROW_STORAGE_ATTR] = StringAttr(storage)
    return storage


@dataclass(frozen=True)
class LiftNarrowFloats(ModulePass):
    name = "hetc-lift-narrow-floats"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        lift_narrow_floats(op)
