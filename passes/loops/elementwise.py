"""Elementwise ops with numpy broadcasting, one loop nest per op."""

from __future__ import annotations

from xdsl.dialects import arith
from xdsl.dialects.builtin import IntegerType, NoneType, TensorType, f32
from xdsl.ir import SSAValue

from hetc.dialects import onnx as onnx_d
from hetc.diagnostics import UnsupportedError
from hetc.passes.loop_builder import finish_kernel

from hetc.passes.loops.ops import F32_COMPUTED, _clip_args, _shape
from hetc.passes.loops.scalar import _FakeOp, _scalar


class ElementwiseLowering:
    """Mixin of the loop lowering (see convert_onnx_to_loops)."""

    def lower_elementwise(self, op, ins, out, shape: list[int] | None = None) -> None:
        res_shape = shape if shape is not None else _shape(op.results[0])
        args = [a for a in ins if a is not None]
        b, params = self.kernel("elementwise", op, [*args, out])
        positions = [i for i, a in enumerate(ins) if a is not None]
        with b.loops(res_shape) as ivs:
            xs: list[SSAValue | None] = [None] * len(ins)
            for pos, param in zip(positions, params[:-1]):
                shape = _shape(param)
                # numpy broadcasting: align trailing dims; size-1 dims read index 0
                lead = len(res_shape) - len(shape)
                idx = [ivs[lead + d] if shape[d] != 1 else b.index(0) for d in range(len(shape))]
                xs[pos] = b.load(param, idx)
                # float16/bfloat16 compute in float32, rounded once on store (moves and Cast as they are)
                if xs[pos].type in F32_COMPUTED and op.OP_TYPE not in ("Cast", "Where", "Identity"):
                    xs[pos] = b.value(arith.ExtFOp(xs[pos], f32))
            y = _scalar(b, op, [x for x in xs if x is not None] if op.OP_TYPE != "Clip" else _clip_args(xs))
            if y.type != (e := params[-1].type.get_element_type()) and e in F32_COMPUTED:
                y = b.value(arith.TruncFOp(y, e))
            b.store(y, params[-1], ivs)
        finish_kernel(b)

    def lower_dropout(self, op, outputs) -> None:
        """Dropout where it is the identity (inference, or training with ratio 0): the
        output is the input and the mask all true. A random mask is refused."""
        training = False
        if len(op.operands) > 2 and not isinstance(op.operands[2].type, NoneType):
            flag = onnx_d.constant_value(op.operands[2])
            if flag is None:
                raise UnsupportedError("Dropout's training_mode input must be a compile-time constant for the loop lowering",
                                       node=op.node_name, op_type="Dropout")
            training = bool(flag.any())
        if training:
            ratio = 0.5
            if len(op.operands) > 1 and not isinstance(op.operands[1].type, NoneType):
                r = onnx_d.constant_value(op.operands[1])
                if r is None:
                    raise UnsupportedError("Dropout's ratio input must be a compile-time constant in training mode",
                                           node=op.node_name, op_type="Dropout")
                ratio = float(r.reshape(-1)[0])
            if ratio != 0.0:
                raise UnsupportedError(
                    f"Dropout in training mode with ratio {ratio:g} draws a random mask, which the C target cannot "
                    "reproduce (no ONNX-compatible RNG); export the model for inference (training_mode false)",
                    node=op.node_name, op_type="Dropout",
                )
        x = self.buffers[op.operands[0]]
        y = op.results[0]
        if y in outputs:
            self.buffers[y] = outputs[y]
            self.lower_elementwise(_FakeOp("Identity", node_name=op.node_name), [x], outputs[y], shape=_shape(y))
        else:
            self.buffers[y] = x  # the same values: an alias, no copy
        if len(op.results) > 1 and isinstance(op.results[1].type, TensorType) and (op.results[1].uses or op.results[1] in outputs):
            mask = self.out_buffer(op.results[1], outputs)
            self.buffers[op.results[1]] = mask
            b, (pm,) = self.kernel("fill", op, [mask])
            with b.loops(_shape(op.results[1])) as ivs:
                b.store(b.const(1, IntegerType(1)), pm, ivs)
            finish_kernel(b)
