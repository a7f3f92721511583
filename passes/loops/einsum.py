"""Einsum as one loop nest: output labels outside, summed labels inside, one accumulator.

Plain contractions of float operands never get here: hetc-decompose turns them into
Transpose / Reshape / MatMul / ReduceSum first, so they run on the GEMM. This nest
takes the rest: diagonals (a label repeated in one operand), three or more operands,
broadcast size-1 dims, integer operands.
"""

from __future__ import annotations

from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import IntegerType, f32

from hetc.diagnostics import UnsupportedError
from hetc.passes.einsum import EinsumSpec, parse_einsum
from hetc.passes.loop_builder import finish_kernel

from hetc.passes.loops.ops import F32_COMPUTED, _attr, _shape


def einsum_spec(op) -> EinsumSpec:
    """The node's parsed equation, or UnsupportedError naming what is wrong."""
    try:
        return parse_einsum(_attr(op, "equation", ""), [_shape(v) for v in op.operands])
    except ValueError as err:
        raise UnsupportedError(f"Einsum equation not understood: {err}", node=op.node_name, op_type="Einsum") from None


class EinsumLowering:
    """Mixin of the loop lowering (see convert_onnx_to_loops)."""

    def lower_einsum(self, op, ins, out) -> None:
        spec = einsum_spec(op)
        out_shape = [spec.sizes[label] for label in spec.output]
        if out_shape != _shape(op.results[0]):
            raise UnsupportedError(
                f"Einsum output shape {out_shape} from the equation differs from the node's {_shape(op.results[0])}",
                node=op.node_name, op_type="Einsum",
            )
        summed = spec.summed
        stored = out.type.get_element_type()
        # float16 / bfloat16: products and sums in float32, rounded once on store
        e = f32 if stored in F32_COMPUTED else stored
        integer = isinstance(e, IntegerType)
        mul, add = (arith.MuliOp, arith.AddiOp) if integer else (arith.MulfOp, arith.AddfOp)
        b, params = self.kernel("einsum", op, [*ins, out])
        with b.loops(out_shape) as oiv:
            zero = b.index(0)
            where = dict(zip(spec.output, oiv))

            def product():
                y = None
                for labels, p in zip(spec.inputs, params[:-1]):
                    # a size-1 dim against a longer label broadcasts (reads index 0)
                    idx = [where[label] if size != 1 else zero for label, size in zip(labels, _shape(p))]
                    x = b.load(p, idx)
                    if x.type != e:
                        x = b.value(arith.ExtFOp(x, e))
                    y = x if y is None else b.value(mul(y, x))
                return y

            def store(y):
                b.store(y if e == stored else b.value(arith.TruncFOp(y, stored)), params[-1], oiv)

            if not summed:
                store(product())
            else:
                acc = b.value(memref.AllocaOp.get(e, shape=[1]))
                b.store(b.const(0, e), acc, [zero])
                with b.loops([spec.sizes[label] for label in summed], parallel_outer=False) as riv:
                    where.update(zip(summed, riv))
                    b.store(b.value(add(b.load(acc, [zero]), product())), acc, [zero])
                store(b.load(acc, [zero]))
        finish_kernel(b)

