"""Elementwise ops with numpy broadcasting, one loop nest per op."""

from __future__ import annotations

from xdsl.ir import SSAValue

from hetc.passes.loop_builder import finish_kernel

from hetc.passes.loops.ops import _clip_args, _shape
from hetc.passes.loops.scalar import _scalar


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
            y = _scalar(b, op, [x for x in xs if x is not None] if op.OP_TYPE != "Clip" else _clip_args(xs))
            b.store(y, params[-1], ivs)
        finish_kernel(b)
