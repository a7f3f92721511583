"""TopK: the k largest (or smallest) elements along an axis and their int64 indices."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import IntegerType, i64

from hetc.diagnostics import UnsupportedError
from hetc.passes.loop_builder import finish_kernel

from hetc.passes.loops.ops import _attr, _const_array, _shape, _unsigned


class TopKLowering:
    """Mixin of the loop lowering (see convert_onnx_to_loops)."""

    def lower_topk(self, op, outputs) -> None:
        """Selection per row: pass j scans the row for the best element that comes after
        pass j-1's pick in the order (value, then lower index first), so the results are
        sorted and ties go to the lower index, as ONNX asks. O(k * n) per row, no scratch."""
        shape = _shape(op.operands[0])
        rank = len(shape)
        axis = _attr(op, "axis", -1) % rank
        largest = _attr(op, "largest", 1)
        k_in = _const_array(op, 1)
        k = int(k_in.reshape(-1)[0])
        n = shape[axis]
        if not 0 <= k <= n or _shape(op.results[0])[axis] != k:
            raise UnsupportedError(f"TopK with k={k} on an axis of {n} elements", node=op.node_name, op_type="TopK")
        outer = int(np.prod(shape[:axis], dtype=np.int64))
        inner = int(np.prod(shape[axis + 1 :], dtype=np.int64))
        x = self.view(self.buffers[op.operands[0]], [outer, n, inner])
        outs = []
        for r in op.results:
            buf = self.out_buffer(r, outputs)
            self.buffers[r] = buf
            outs.append(self.view(buf, [outer, k, inner]))
        if k == 0 or outer * inner == 0:
            return
        e = op.operands[0].type.get_element_type()
        b, (px, pv, pi) = self.kernel("topk", op, [x, *outs])
        v = b.value
        if isinstance(e, IntegerType):
            pred = ("ugt" if _unsigned(e) else "sgt") if largest else ("ult" if _unsigned(e) else "slt")

            def better(a, c):
                return v(arith.CmpiOp(a, c, pred))

            def equal(a, c):
                return v(arith.CmpiOp(a, c, "eq"))
        else:
            def better(a, c):
                return v(arith.CmpfOp(a, c, "ogt" if largest else "olt"))

            def equal(a, c):
                return v(arith.CmpfOp(a, c, "oeq"))
        with b.loop(0, outer, parallel=outer > 1) as o, b.loop(0, inner, parallel=inner > 1) as c:
            zero = b.index(0)
            prev_v = v(memref.AllocaOp.get(e, shape=[1]))
            prev_i = v(memref.AllocaOp.get(i64, shape=[1]))
            best_v = v(memref.AllocaOp.get(e, shape=[1]))
            best_i = v(memref.AllocaOp.get(i64, shape=[1]))
            b.store(b.const(-1, i64), prev_i, [zero])
            b.store(b.load(px, [o, zero, c]), prev_v, [zero])
            with b.loop(0, k) as j:
                b.store(b.const(-1, i64), best_i, [zero])
                b.store(b.load(prev_v, [zero]), best_v, [zero])
                with b.loop(0, n) as i:
                    xv = b.load(px, [o, i, c])
                    ii = v(arith.IndexCastOp(i, i64))
                    pv_, pi_ = b.load(prev_v, [zero]), b.load(prev_i, [zero])
                    # after the previous pick: worse value, or the same value at a higher index
                    after = v(arith.OrIOp(
                        v(arith.CmpiOp(pi_, b.const(0, i64), "slt")),
                        v(arith.OrIOp(better(pv_, xv), v(arith.AndIOp(equal(pv_, xv), v(arith.CmpiOp(ii, pi_, "sgt")))))),
                    ))
                    bv, bi = b.load(best_v, [zero]), b.load(best_i, [zero])
                    # strictly better than the best so far: among equal values the first wins
                    first = v(arith.CmpiOp(bi, b.const(0, i64), "slt"))
                    take = v(arith.AndIOp(after, v(arith.OrIOp(first, better(xv, bv)))))
                    b.store(v(arith.SelectOp(take, xv, bv)), best_v, [zero])
                    b.store(v(arith.SelectOp(take, ii, bi)), best_i, [zero])
                pick_v, pick_i = b.load(best_v, [zero]), b.load(best_i, [zero])
                b.store(pick_v, pv, [o, j, c])
                b.store(pick_i, pi, [o, j, c])
                b.store(pick_v, prev_v, [zero])
                b.store(pick_i, prev_i, [zero])
        finish_kernel(b)
