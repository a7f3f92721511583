"""Reductions, ArgMax/ArgMin, CumSum and LayerNormalization."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith, math, memref
from xdsl.dialects.builtin import IntegerType, NoneType, i64

from hetc.diagnostics import UnsupportedError
from hetc.passes.loop_builder import finish_kernel

from hetc.passes.loops.ops import REDUCE_OPS, _attr, _const_array, _shape
from hetc.passes.loops.scalar import REDUCTIONS


class ReduceLowering:
    """Mixin of the loop lowering (see convert_onnx_to_loops)."""

    def reduce_rows(self, op, x, out, how: str) -> None:
        self.reduce(op, x, out, [0], [1], how)

    def reduce(self, op, x, out_flat, kept: list[int], red: list[int], how: str) -> None:
        """out_flat[kept...] = reduction `how` of x over the dims `red` (see REDUCTIONS)."""
        shape = _shape(x)
        rank = len(shape)
        e = x.type.get_element_type()
        init, step, final = REDUCTIONS[how]
        count = int(np.prod([shape[d] for d in red], dtype=np.int64))
        kshape = [shape[d] for d in kept]
        b, (px, po) = self.kernel(f"reduce_{how}", op, [x, out_flat])
        with b.loops(kshape) as kiv:
            zero = b.index(0)

            def index(riv):
                idx = [None] * rank
                for d, iv in zip(kept, kiv):
                    idx[d] = iv
                for d, iv in zip(red, riv):
                    idx[d] = iv
                return idx

            shift = None
            if how == "logsumexp":  # log(sum(exp(x - max))) + max, without overflow
                top = b.value(memref.AllocaOp.get(e, shape=[1]))
                b.store(b.const(-np.inf, e), top, [zero])
                with b.loops([shape[d] for d in red], parallel_outer=False, reduction=True) as riv:
                    b.store(b.value(arith.MaximumfOp(b.load(top, [zero]), b.load(px, index(riv)))), top, [zero])
                shift = b.load(top, [zero])
                # all -inf: keep the shift finite so the result is -inf, not NaN
                shift = b.value(arith.SelectOp(b.value(arith.CmpfOp(shift, b.const(-np.inf, e), "oeq")), b.const(0.0, e), shift))
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            b.store(b.const(init, e), acc, [zero])
            with b.loops([shape[d] for d in red], parallel_outer=False, reduction=True) as riv:
                xv = b.load(px, index(riv))
                if shift is not None:
                    xv = b.value(arith.SubfOp(xv, shift))
                b.store(step(b, b.load(acc, [zero]), xv), acc, [zero])
            y = final(b, b.load(acc, [zero]), count)
            if shift is not None:
                y = b.value(arith.AddfOp(y, shift))
            flat = b.affine([(iv, int(np.prod(kshape[i + 1 :], dtype=np.int64))) for i, iv in enumerate(kiv)])
            b.store(y, po, [flat])
        finish_kernel(b)

    def lower_reduce(self, op, x, out) -> None:
        shape = _shape(op.operands[0])
        axes = _const_array(op, 1)
        rank = len(shape)
        if axes is None or axes.size == 0:
            if _attr(op, "noop_with_empty_axes", 0):  # the identity: a copy
                self.host.add(memref.CopyOp(x, out))
                return
            axes_l = list(range(rank))
        else:
            axes_l = sorted(int(a) % rank for a in axes.reshape(-1))
        how = REDUCE_OPS[op.OP_TYPE]
        kept = [d for d in range(rank) if d not in axes_l]
        oflat = self.view(out, [int(np.prod([shape[d] for d in kept], dtype=np.int64))])
        self.reduce(op, x, oflat, kept, axes_l, how)

    def lower_arg_reduce(self, op, x, out) -> None:
        """ArgMax / ArgMin: the first (or, with select_last_index, the last) extreme index."""
        shape = _shape(op.operands[0])
        rank = len(shape)
        axis = _attr(op, "axis", 0) % rank
        last = _attr(op, "select_last_index", 0)
        kept = [d for d in range(rank) if d != axis]
        kshape = [shape[d] for d in kept]
        oflat = self.view(out, [int(np.prod(kshape, dtype=np.int64))])
        e = x.type.get_element_type()
        b, (px, po) = self.kernel(op.OP_TYPE.lower(), op, [x, oflat])
        better = ("ogt" if not last else "oge") if op.OP_TYPE == "ArgMax" else ("olt" if not last else "ole")
        with b.loops(kshape) as kiv:
            zero = b.index(0)
            best = b.value(memref.AllocaOp.get(e, shape=[1]))
            where = b.value(memref.AllocaOp.get(i64, shape=[1]))
            idx0 = [None] * rank
            for d, iv in zip(kept, kiv):
                idx0[d] = iv
            idx0[axis] = zero
            b.store(b.load(px, idx0), best, [zero])
            b.store(b.const(0, i64), where, [zero])
            with b.loop(1, shape[axis]) as j:
                idx = list(idx0)
                idx[axis] = j
                xv = b.load(px, idx)
                take = b.value(arith.CmpfOp(xv, b.load(best, [zero]), better))
                b.store(b.value(arith.SelectOp(take, xv, b.load(best, [zero]))), best, [zero])
                b.store(b.value(arith.SelectOp(take, b.value(arith.IndexCastOp(j, i64)), b.load(where, [zero]))), where, [zero])
            flat = b.affine([(iv, int(np.prod(kshape[i + 1 :], dtype=np.int64))) for i, iv in enumerate(kiv)])
            b.store(b.load(where, [zero]), po, [flat])
        finish_kernel(b)

    def lower_cumsum(self, op, x, out) -> None:
        sx = _shape(op.operands[0])
        axis_v = _const_array(op, 1)
        axis = int(axis_v.reshape(-1)[0]) % len(sx)
        exclusive, reverse = _attr(op, "exclusive", 0), _attr(op, "reverse", 0)
        outer = int(np.prod(sx[:axis], dtype=np.int64))
        n = sx[axis]
        inner = int(np.prod(sx[axis + 1 :], dtype=np.int64))
        xv, ov = self.view(x, [outer, n, inner]), self.view(out, [outer, n, inner])
        e = out.type.get_element_type()
        b, (px, po) = self.kernel("cumsum", op, [xv, ov])
        with b.loop(0, outer, parallel=outer > 1) as o, b.loop(0, inner, parallel=inner > 1) as i:
            zero = b.index(0)
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            b.store(b.const(0, e), acc, [zero])
            with b.loop(0, n) as t:
                pos = b.affine([(t, -1)], n - 1) if reverse else t
                xv_ = b.load(px, [o, pos, i])
                add = arith.AddfOp if not isinstance(e, IntegerType) else arith.AddiOp
                total = b.value(add(b.load(acc, [zero]), xv_))
                b.store(b.load(acc, [zero]) if exclusive else total, po, [o, pos, i])
                b.store(total, acc, [zero])
        finish_kernel(b)

    def lower_layer_norm(self, op, outputs) -> None:
        """Y = (X - mean) / sqrt(var + eps) * scale + bias per row of the normalized axes;
        Mean and InvStdDev outputs when they are used."""
        sx = _shape(op.operands[0])
        rank = len(sx)
        axis = _attr(op, "axis", -1) % rank
        eps = _attr(op, "epsilon", 1e-5)
        rows = int(np.prod(sx[:axis], dtype=np.int64))
        cols = int(np.prod(sx[axis:], dtype=np.int64))
        x = self.view(self.buffers[op.operands[0]], [rows, cols])
        params = []
        for i in (1, 2):
            if i < len(op.operands) and not isinstance(op.operands[i].type, NoneType):
                buf = self.buffers[op.operands[i]]
                size = int(np.prod(_shape(op.operands[i]), dtype=np.int64))
                if size not in (1, cols):
                    raise UnsupportedError("LayerNormalization scale/bias broadcast within the normalized axes is not lowered yet",
                                           node=op.node_name, op_type=op.OP_TYPE)
                params.append((self.view(buf, [size]), size == 1))
            else:
                params.append(None)
        outs = []
        for r in op.results:
            if isinstance(r.type, NoneType) or (r is not op.results[0] and not r.uses and r not in outputs):
                outs.append(None)
                continue
            buf = self.out_buffer(r, outputs)
            self.buffers[r] = buf
            outs.append(self.view(buf, [rows, cols] if r is op.results[0] else [rows]))
        args = [x] + [p[0] for p in params if p is not None] + [o for o in outs if o is not None]
        b, ps = self.kernel("layer_norm", op, args)
        it = iter(ps)
        px = next(it)
        pscale = next(it) if params[0] is not None else None
        pbias = next(it) if params[1] is not None else None
        py = next(it)
        pmean = next(it) if len(outs) > 1 and outs[1] is not None else None
        pinv = next(it) if len(outs) > 2 and outs[2] is not None else None
        e = op.results[0].type.get_element_type()
        with b.loop(0, rows, parallel=rows > 1) as r:
            zero = b.index(0)
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            b.store(b.const(0.0, e), acc, [zero])
            with b.loop(0, cols) as j:
                b.store(b.value(arith.AddfOp(b.load(acc, [zero]), b.load(px, [r, j]))), acc, [zero])
            mean = b.value(arith.MulfOp(b.load(acc, [zero]), b.const(1.0 / cols, e)))
            b.store(b.const(0.0, e), acc, [zero])
            with b.loop(0, cols) as j:
                d = b.value(arith.SubfOp(b.load(px, [r, j]), mean))
                b.store(b.value(arith.AddfOp(b.load(acc, [zero]), b.value(arith.MulfOp(d, d)))), acc, [zero])
            var = b.value(arith.MulfOp(b.load(acc, [zero]), b.const(1.0 / cols, e)))
            inv = b.value(arith.DivfOp(b.const(1.0, e), b.value(math.SqrtOp(b.value(arith.AddfOp(var, b.const(eps, e)))))))
            with b.loop(0, cols) as j:
                y = b.value(arith.MulfOp(b.value(arith.SubfOp(b.load(px, [r, j]), mean)), inv))
                if pscale is not None:
                    y = b.value(arith.MulfOp(y, b.load(pscale, [zero if params[0][1] else j])))
                if pbias is not None:
                    y = b.value(arith.AddfOp(y, b.load(pbias, [zero if params[1][1] else j])))
                b.store(y, py, [r, j])
            if pmean is not None:
                b.store(mean, pmean, [r])
            if pinv is not None:
                b.store(inv, pinv, [r])
        finish_kernel(b)
