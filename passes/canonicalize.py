"""hetc-canonicalize: local simplifications to a fixed point.

- Identity, no-op Cast/CastLike, Expand and Reshape to the same shape, inference
  Dropout, single-input Concat: replaced by their input.
- CastLike becomes a Cast to its second input's element type (only the type is read).
- Squeeze, Unsqueeze and Flatten on static shapes become Reshape; a Reshape's shape
  operand becomes a constant of its static result shape (dropping the shape
  arithmetic exporters emit), and Reshape of Reshape collapses to one.
- Transpose of Transpose composes; an identity permutation disappears; one that moves
  only size-1 dimensions becomes a Reshape.
- GELU written out as `x * 0.5 * (1 + erf(x / sqrt 2))` (torch.nn.GELU and Hugging Face
  exports below opset 20, in either order of the products, `x * (1 / sqrt 2)` too), or
  as `x * 0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))` (GPT-2's gelu_new,
  approximate="tanh") becomes one Gelu: a unary op fuses into the producing GEMM's
  epilogue, while the diamond (x feeds both the erf and the product) could not.
- An activation of a Reshape (of a value nothing else reads) is applied before it:
  `act(reshape(x)) -> reshape(act(x))`, so that GPT-2's `Gemm -> Reshape -> gelu`
  fuses the activation into the Gemm's store too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, NoneType, TensorType
from xdsl.passes import ModulePass

from hetc.dialects import onnx as onnx_d
from hetc.passes.loops.ops import FUSABLE_UNARY


def _attr(op: onnx_d.OnnxOp, name: str, default=None):
    attr = op.attributes.get(name)
    return default if attr is None else onnx_d.attribute_to_python(attr)


def _replace(op: onnx_d.OnnxOp, value) -> bool:
    op.results[0].replace_all_uses_with(value)
    return True


def _same_type(a, b) -> bool:
    return a.type == b.type


def _keep_name(new: onnx_d.OnnxOp, op: onnx_d.OnnxOp) -> None:
    """`new` takes the place of `op`: it keeps op's ONNX node name (reports, labels)."""
    if op.node_name:
        new.attributes[onnx_d.NODE_NAME_ATTR] = op.attributes[onnx_d.NODE_NAME_ATTR]


def _to_reshape(op: onnx_d.OnnxOp, source) -> bool:
    """Replace `op` by Reshape(source, constant result shape)."""
    dims = list(op.results[0].type.get_shape())
    shape = onnx_d.constant_op(np.array(dims, dtype=np.int64), "shape")
    attrs = {"allowzero": 1} if 0 in dims else {}
    new = onnx_d.build_op("Reshape", [source, shape.results[0]], [op.results[0].type], **attrs)
    _keep_name(new, op)
    new.results[0].name_hint = op.results[0].name_hint
    op.parent.insert_op_before(shape, op)
    op.parent.insert_op_before(new, op)
    return _replace(op, new.results[0])


def _scalar_const(value) -> float | None:
    c = onnx_d.constant_value(value)
    return float(c.reshape(-1)[0]) if c is not None and c.size == 1 and np.issubdtype(c.dtype, np.floating) else None


def _near(value, want: float) -> bool:
    c = _scalar_const(value)
    return c is not None and abs(c - want) <= 1e-6 * abs(want)


def _producer(value, op_type: str):
    """The op of type `op_type` defining `value`, used only there; else None."""
    owner = value.owner
    if isinstance(owner, onnx_d.OnnxOp) and owner.OP_TYPE == op_type and len(list(value.uses)) == 1:
        return owner
    return None


def _tanh_argument_input(value):
    """x if `value` is `sqrt(2 / pi) * (x + 0.044715 * x^3)` (GELU's tanh form), each step used once."""
    mul = _producer(value, "Mul")
    if mul is None:
        return None
    for s, c in (mul.operands, reversed(mul.operands)):
        add = _producer(s, "Add")
        if add is None or not _near(c, np.sqrt(2.0 / np.pi)):
            continue
        for x, cubic in (add.operands, reversed(add.operands)):
            scaled = _producer(cubic, "Mul")
            for p, k in (scaled.operands, reversed(scaled.operands)) if scaled is not None else ():
                power = _producer(p, "Pow")
                if power is not None and _near(k, 0.044715) and power.operands[0] is x and _near(power.operands[1], 3.0):
                    return x
    return None


def _gelu_half_input(value) -> tuple | None:
    """(x, approximate) if `value` is `1 + erf(x / sqrt 2)` (or `x * (1 / sqrt 2)`): "none",
    or `1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))`: "tanh"; each step used once."""
    add = _producer(value, "Add")
    if add is None:
        return None
    for e, one in (add.operands, reversed(add.operands)):
        if not _near(one, 1.0):
            continue
        tanh = _producer(e, "Tanh")
        if tanh is not None:
            x = _tanh_argument_input(tanh.operands[0])
            return (x, "tanh") if x is not None else None
        erf = _producer(e, "Erf")
        if erf is None:
            continue
        scaled = erf.operands[0]
        div, mul = _producer(scaled, "Div"), _producer(scaled, "Mul")
        if div is not None and _near(div.operands[1], np.sqrt(2.0)):
            return div.operands[0], "none"
        if mul is not None:
            for x, c in (mul.operands, reversed(mul.operands)):
                if _near(c, np.sqrt(0.5)):
                    return x, "none"
    return None


def _gelu(op: onnx_d.OnnxOp) -> bool:
    """The last Mul of GELU written out -> Gelu(x): `(x * (1 + f)) * 0.5` or
    `(x * 0.5) * (1 + f)`, factors in either order, f the erf or tanh form."""
    for inner, outer in (op.operands, reversed(op.operands)):
        mul = _producer(inner, "Mul")
        if mul is None:
            continue
        found = None
        if _near(outer, 0.5):  # (x * (1 + f(x))) * 0.5
            for a, b in (mul.operands, reversed(mul.operands)):
                core = _gelu_half_input(b)
                if core is not None and core[0] is a:
                    found = core
        else:  # (x * 0.5) * (1 + f(x))
            core = _gelu_half_input(outer)
            if core is not None and any(a is core[0] and _near(b, 0.5) for a, b in (mul.operands, reversed(mul.operands))):
                found = core
        if found is None or found[0].type != op.results[0].type:
            continue
        x, approximate = found
        new = onnx_d.build_op("Gelu", [x], [op.results[0].type], **({"approximate": "tanh"} if approximate == "tanh" else {}))
        _keep_name(new, op)
        new.results[0].name_hint = op.results[0].name_hint
        op.parent.insert_op_before(new, op)
        return _replace(op, new.results[0])
    return False


def _activation_before_reshape(op: onnx_d.OnnxOp, reshape: onnx_d.OnnxOp) -> bool:
    """act(reshape(x)) -> reshape(act(x)): the same elements, the activation next to x's producer."""
    x = reshape.operands[0]
    act = onnx_d.build_op(op.OP_TYPE, [x], [TensorType(op.results[0].type.get_element_type(), x.type.get_shape())],
                          **{k: _attr(op, k) for k in op.attributes if k != onnx_d.NODE_NAME_ATTR})
    _keep_name(act, op)
    op.parent.insert_op_before(act, op)
    return _to_reshape(op, act.results[0])


def _rewrite(op: onnx_d.OnnxOp) -> bool:
    """Apply one canonicalization to `op`; returns whether the IR changed."""
    t = op.OP_TYPE
    if not op.results or not op.results[0].uses:
        return False
    x = op.operands[0] if op.operands else None
    if t == "Mul" and _gelu(op):
        return True
    if t in FUSABLE_UNARY and len(op.operands) == 1:  # the activations a GEMM's store takes
        owner = x.owner
        if isinstance(owner, onnx_d.OnnxOp) and owner.OP_TYPE == "Reshape" and len(list(x.uses)) == 1:
            return _activation_before_reshape(op, owner)
    if t == "Identity":
        return _replace(op, x)
    if t in ("Cast", "CastLike", "Expand") and _same_type(x, op.results[0]):
        return _replace(op, x)
    if t == "CastLike":
        to = onnx_d.onnx_elem_type(op.results[0].type.get_element_type())
        attrs = {k: _attr(op, k) for k in ("saturate", "round_mode") if k in op.attributes}
        new = onnx_d.build_op("Cast", [x], [op.results[0].type], to=to, **attrs)
        _keep_name(new, op)
        new.results[0].name_hint = op.results[0].name_hint
        op.parent.insert_op_before(new, op)
        return _replace(op, new.results[0])
    if t == "Dropout":
        training = op.operands[2] if len(op.operands) > 2 else None
        flag = None if training is None or isinstance(training.type, NoneType) else onnx_d.constant_value(training)
        inference = training is None or isinstance(training.type, NoneType) or (flag is not None and not flag.any())
        if inference and (len(op.results) < 2 or not op.results[1].uses):
            return _replace(op, x)
        return False
    if t == "Concat" and len(op.operands) == 1:
        return _replace(op, x)
    if t in ("Squeeze", "Unsqueeze", "Flatten"):
        return _to_reshape(op, x)
    if t == "Reshape":
        if _same_type(x, op.results[0]):
            return _replace(op, x)
        owner = x.owner
        if isinstance(owner, onnx_d.OnnxOp) and owner.OP_TYPE == "Reshape":
            return _to_reshape(op, owner.operands[0])
        shape = onnx_d.constant_value(op.operands[1])
        dims = list(op.results[0].type.get_shape())
        if shape is None or list(shape) != dims or (0 in dims and _attr(op, "allowzero", 0) != 1):
            return _to_reshape(op, x)
        return False
    if t == "Transpose":
        rank = len(op.results[0].type.get_shape())
        perm = _attr(op, "perm") or list(reversed(range(rank)))
        if perm == list(range(rank)):
            return _replace(op, x)
        in_shape = list(x.type.get_shape())
        if [p for p in perm if in_shape[p] != 1] == [d for d in range(rank) if in_shape[d] != 1]:
            return _to_reshape(op, x)  # moves only size-1 dims: the same bytes
        owner = x.owner
        if isinstance(owner, onnx_d.OnnxOp) and owner.OP_TYPE == "Transpose":
            inner = _attr(owner, "perm") or list(reversed(range(rank)))
            composed = [inner[p] for p in perm]
            if composed == list(range(rank)):
                return _replace(op, owner.operands[0])
            new = onnx_d.build_op("Transpose", [owner.operands[0]], [op.results[0].type], perm=composed)
            new.results[0].name_hint = op.results[0].name_hint
            op.parent.insert_op_before(new, op)
            return _replace(op, new.results[0])
    return False


def canonicalize(module: ModuleOp, max_rounds: int = 16) -> int:
    changes = 0
    for _ in range(max_rounds):
        changed = False
        for op in list(module.walk()):
            if isinstance(op, onnx_d.OnnxOp) and op.parent is not None and _rewrite(op):
                changed = True
                changes += 1
                if all(not r.uses for r in op.results):
                    op.parent.erase_op(op)
        if not changed:
            break
    return changes


@dataclass(frozen=True)
class Canonicalize(ModulePass):
    name = "hetc-canonicalize"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        canonicalize(op)
