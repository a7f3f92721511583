"""hetc-fuse's attention groups as one kernel each (issue 7).

An attention group (hetc-fuse's kind `attention`) is a batched QK^T MatMul, the
elementwise ops on its scores (a scale Mul/Div, a mask Add, ...), a last-axis softmax
(the Softmax op or its decomposition ReduceMax, Sub, Exp, ReduceSum, Div) and the P.V
MatMul. Unfused, the S x S scores go to memory and back twice and it takes three
kernels; here it is one loop nest that never writes them:

    for (batch..., i) parallel:                       # one query row (GPU form)
        row[S]  (a per-row scratch), mx = -inf, sum = 0
        for j reduction:                              # scores and their max
            row[j] = sum_d q[i, d] * kT[d, j]; row[j] = scale/mask ops(row[j]); mx = max(mx, row[j])
        for j reduction:                              # exp and its sum
            row[j] = exp(row[j] - mx); sum += row[j]
        for c (hetc.warp_uniform):                    # each output column
            acc = 0; for j reduction: acc += row[j] * v[j, c]
            out[i, c] = acc / sum

Numerically it is the unfused softmax (max-subtracted), the division by the sum moved
after the P.V products. That is the GPU form (convert-onnx-to-loops{target=gpu}): the
j loops are marked `hetc.reduction`, so the CUDA printer gives each row a warp (S >= 64):
the lanes split j (the same j's in every j loop, so each lane reads back only the
scratch entries it wrote; lanes read kT[d, j] and v[j, c] coalesced) and
shuffle-combine the max, the sum and each column's accumulator. The c loop is serial
and lane-uniform (every lane runs it and computes the same value from combined
accumulators): `UNIFORM_ATTR` tells the printer so.

The CPU form (`_attention_cpu`) takes R query rows per iteration (R the largest divisor
of Sq up to 8) and turns the two products inside out, so that every row of kT and v is
loaded once for the R rows and the innermost loops run along contiguous rows
(vectorizable): the scores as `row[r, :] += q[i_r, d] * kT[d, :]` over d, and P.V as
`acc[r, :] += p[r, j] * v[j, :]` over j into a stack block of R x Dv accumulators. The
attention kernel alone on this machine (gcc -O3, one thread): examples/transformer_block
5-6 us (one row per iteration: 28-34 us; the GPU form: 18-20 us), ViT-tiny's 0.14 ms
(0.16-0.21 ms; 1.0 ms).
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith, math, memref
from xdsl.dialects.builtin import NoneType, TensorType, UnitAttr
from xdsl.ir import SSAValue

from hetc.dialects import onnx as onnx_d
from hetc.passes.kernel_regions import GROUP_ATTR, KIND_ATTR
from hetc.passes.loop_builder import finish_kernel
from hetc.passes.loops.ops import _clip_args, _shape, permuted_subscript
from hetc.passes.loops.scalar import _scalar

#: on a serial loop inside a warp-per-iteration body: every lane runs all of it and
#: computes the same values (the reduction loops inside are split over the lanes)
UNIFORM_ATTR = "hetc.warp_uniform"
#: the ops that start the softmax of an attention group
_SOFTMAX_START = ("Softmax", "ReduceMax")
#: CPU form: at most this many query rows per iteration, their scores in at most this many floats
ROW_BLOCK = 8
CPU_SCRATCH = 8192


class AttentionLowering:
    """Mixin of the loop lowering, ahead of HostLowering: takes the first op of each
    attention group and lowers the whole group (see the module docstring)."""

    def lower_op(self, op, outputs: dict) -> None:
        kind = op.attributes.get(KIND_ATTR)
        if kind is None or kind.data != "attention":
            super().lower_op(op, outputs)
            return
        group = op.attributes[GROUP_ATTR]
        block = op.parent_block()
        self.lower_attention_group([o for o in block.ops if o.attributes.get(GROUP_ATTR) == group], outputs)

    def lower_attention_group(self, ops: list, outputs: dict) -> None:
        mm, pv = ops[0], ops[-1]
        assert mm.OP_TYPE == "MatMul" and pv.OP_TYPE == "MatMul", [o.OP_TYPE for o in ops]
        start = next(n for n, o in enumerate(ops) if o.OP_TYPE in _SOFTMAX_START)
        pre = ops[1:start]  # the elementwise ops on the scores, in order
        q, kt, v = mm.operands[0], mm.operands[1], pv.operands[1]
        shape = _shape(mm.results[0])
        batch, (sq, sk) = shape[:-2], shape[-2:]
        d, dv = _shape(q)[-1], _shape(pv.results[0])[-1]
        produced = {r for o in ops for r in o.results}
        # scalar constants of the score ops are literals; everything else is an argument
        literal: dict[SSAValue, float] = {}
        externals: list[SSAValue] = [q, kt, v]
        for o in pre:
            for x in o.operands:
                if not isinstance(x.type, TensorType) or x in produced or x in externals or x in literal:
                    continue
                c = onnx_d.constant_value(x)
                if c is not None and c.size == 1 and np.issubdtype(c.dtype, np.floating):
                    literal[x] = float(c.reshape(-1)[0])
                else:
                    externals.append(x)
        # GPU form: the neighbours the unfused GEMMs absorb are absorbed here too (no kernel
        # of their own): K^T read from K in place, q * scale applied to the scores, and the
        # heads merged back (a Transpose, maybe after a Reshape) by the output's own store
        k_src = kt.owner.operands[0] if self.gpu and kt in self.transposed_b else None
        prescale = None
        if self.gpu and q in self.prescaled:
            mul, pos = self.prescaled[q]
            prescale = float(onnx_d.constant_value(mul.operands[pos]).reshape(-1)[0])
            self.fused.add(mul)
        permuted = self.transposed_store(pv.results[0], outputs) if self.gpu else None
        if permuted is not None:
            tr, between, _, _ = permuted
            out = self.buffers[tr.results[0]] = self.out_buffer(tr.results[0], outputs)
            self.fused.update([tr, *between])
        else:
            out = self.out_buffer(pv.results[0], outputs)
        self.buffers[pv.results[0]] = out
        nodes = list(dict.fromkeys(o.node_name for o in ops if o.node_name))
        b, params = self.kernel("attention", mm, [self.buffers[x] for x in externals] + [out], nodes=nodes)
        pin = dict(zip(externals, params))
        pout = params[-1]
        e = mm.results[0].type.get_element_type()

        def score_ops(b, s: SSAValue, sub) -> SSAValue:
            """The elementwise ops on score `s`; `sub(x)` subscripts their other operands."""
            cur = mm.results[0]
            if prescale is not None:  # (s q) kT = s (q kT)
                s = b.value(arith.MulfOp(s, b.const(prescale, e)))
            for o in pre:
                xs = []
                for x in o.operands:
                    if isinstance(x.type, NoneType):
                        continue
                    if x is cur:
                        xs.append(s)
                    elif x in literal:
                        xs.append(b.const(literal[x], e))
                    else:
                        xs.append(b.load(pin[x], sub(x)))
                s = _scalar(b, o, _clip_args(xs)) if o.OP_TYPE == "Clip" else _scalar(b, o, xs)
                cur = o.results[0]
            return s

        args = (b, pin, pout, e, q, kt, v, pv.results[0], batch, sq, sk, d, dv, bool(pre or prescale is not None), score_ops)
        if self.gpu:
            self._attention_gpu(*args, k_src=k_src, store_perm=permuted[2:] if permuted is not None else None)
        else:
            self._attention_cpu(*args)
        finish_kernel(b)
        self.fused.update(ops)

    def _attention_gpu(self, b, pin, pout, e, q, kt, v, out, batch, sq, sk, d, dv, has_pre, score_ops,
                       k_src: SSAValue | None = None, store_perm: tuple | None = None) -> None:
        """One query row per parallel iteration, the keys in reduction loops (a warp's
        lanes split them on the GPU), the output columns in a lane-uniform loop. `k_src`:
        kT's buffer holds K (kT[d, j] read as K[j, d]); `store_perm` = (shape, perm): the
        output buffer is the Transpose(perm) of the product seen as `shape`."""
        with b.loops([*batch, sq]) as ivs:
            bidx, i = ivs[:-1], ivs[-1]
            zero = b.index(0)
            at = _subscripts(bidx, zero)
            row = b.value(memref.AllocaOp.get(e, shape=[sk]))
            mx = b.value(memref.AllocaOp.get(e, shape=[1]))
            total = b.value(memref.AllocaOp.get(e, shape=[1]))
            b.store(b.const(-np.inf, e), mx, [zero])
            b.store(b.const(0.0, e), total, [zero])
            # scores: each a dot product over d accumulated in its scratch slot (lanes
            # along j read kT coalesced), the score ops, the row max
            with b.loop(0, sk, reduction=True) as j:
                b.store(b.const(0.0, e), row, [j])
                with b.loop(0, d) as dd:
                    qv = b.load(pin[q], at(q, [i, dd]))
                    kv = b.load(pin[kt], at(kt, [dd, j]) if k_src is None else at(k_src, [j, dd]))
                    prod = b.value(arith.MulfOp(qv, kv))
                    b.store(b.value(arith.AddfOp(b.load(row, [j]), prod)), row, [j])
                s = score_ops(b, b.load(row, [j]), lambda x: at(x, [i, j]))
                if has_pre:
                    b.store(s, row, [j])
                b.store(b.value(arith.MaximumfOp(b.load(mx, [zero]), s)), mx, [zero])
            m = b.load(mx, [zero])
            # exp(s - max) in place, and its sum
            with b.loop(0, sk, reduction=True) as j:
                ex = b.value(math.ExpOp(b.value(arith.SubfOp(b.load(row, [j]), m))))
                b.store(ex, row, [j])
                b.store(b.value(arith.AddfOp(b.load(total, [zero]), ex)), total, [zero])
            denom = b.load(total, [zero])
            # each output column: sum_j p_j v[j, c] (lanes split j), divided by the sum once
            with b.loop(0, dv) as c:
                b.block.parent_op().attributes[UNIFORM_ATTR] = UnitAttr()
                acc = b.value(memref.AllocaOp.get(e, shape=[1]))
                b.store(b.const(0.0, e), acc, [zero])
                with b.loop(0, sk, reduction=True) as j:
                    prod = b.value(arith.MulfOp(b.load(row, [j]), b.load(pin[v], at(v, [j, c]))))
                    b.store(b.value(arith.AddfOp(b.load(acc, [zero]), prod)), acc, [zero])
                y = b.value(arith.DivfOp(b.load(acc, [zero]), denom))
                b.store(y, pout, at(out, [i, c]) if store_perm is None else _permuted(b, [*bidx, i, c], [*batch, sq, dv], *store_perm))

    def _attention_cpu(self, b, pin, pout, e, q, kt, v, out, batch, sq, sk, d, dv, has_pre, score_ops) -> None:
        """R query rows per parallel iteration (R the largest divisor of Sq up to
        ROW_BLOCK whose R x S scratch fits CPU_SCRATCH floats): every row of kT and of v
        is loaded once for the R rows, and the innermost loops run along them
        (contiguous, vectorizable): `row[r, :] += q[i_r, d] * kT[d, :]`, then per row the
        score ops, max, exp and sum, then `acc[r, :] += p[r, j] * v[j, :]`."""
        rr = max(r for r in range(1, ROW_BLOCK + 1) if sq % r == 0 and r * sk <= CPU_SCRATCH) if sk <= CPU_SCRATCH else 1
        with b.loops([*batch, sq // rr]) as ivs:
            bidx, ib = ivs[:-1], ivs[-1]
            zero = b.index(0)
            at = _subscripts(bidx, zero)
            rows = [b.affine([(ib, rr)], r) for r in range(rr)]
            rix = [b.index(r) for r in range(rr)]
            row = b.value(memref.AllocaOp.get(e, shape=[rr, sk]))
            acc = b.value(memref.AllocaOp.get(e, shape=[rr, dv]))
            stats = b.value(memref.AllocaOp.get(e, shape=[2, rr]))  # row max, row sum
            with b.loop(0, sk) as j:
                for r in range(rr):
                    b.store(b.const(0.0, e), row, [rix[r], j])
            with b.loop(0, d) as dd:
                qd = [b.load(pin[q], at(q, [rows[r], dd])) for r in range(rr)]
                with b.loop(0, sk) as j:
                    kv = b.load(pin[kt], at(kt, [dd, j]))
                    for r in range(rr):
                        prod = b.value(arith.MulfOp(qd[r], kv))
                        b.store(b.value(arith.AddfOp(b.load(row, [rix[r], j]), prod)), row, [rix[r], j])
            one = b.index(1)
            denoms = []
            for r in range(rr):
                b.store(b.const(-np.inf, e), stats, [zero, rix[r]])
                b.store(b.const(0.0, e), stats, [one, rix[r]])
                with b.loop(0, sk, reduction=True) as j:
                    s = score_ops(b, b.load(row, [rix[r], j]), lambda x, r=r, j=j: at(x, [rows[r], j]))
                    if has_pre:
                        b.store(s, row, [rix[r], j])
                    b.store(b.value(arith.MaximumfOp(b.load(stats, [zero, rix[r]]), s)), stats, [zero, rix[r]])
                m = b.load(stats, [zero, rix[r]])
                with b.loop(0, sk, reduction=True) as j:
                    ex = b.value(math.ExpOp(b.value(arith.SubfOp(b.load(row, [rix[r], j]), m))))
                    b.store(ex, row, [rix[r], j])
                    b.store(b.value(arith.AddfOp(b.load(stats, [one, rix[r]]), ex)), stats, [one, rix[r]])
            with b.loop(0, dv) as c:
                for r in range(rr):
                    b.store(b.const(0.0, e), acc, [rix[r], c])
            with b.loop(0, sk) as j:
                ps = [b.load(row, [rix[r], j]) for r in range(rr)]
                with b.loop(0, dv) as c:
                    vv = b.load(pin[v], at(v, [j, c]))
                    for r in range(rr):
                        prod = b.value(arith.MulfOp(ps[r], vv))
                        b.store(b.value(arith.AddfOp(b.load(acc, [rix[r], c]), prod)), acc, [rix[r], c])
            for r in range(rr):
                denoms.append(b.load(stats, [one, rix[r]]))
            with b.loop(0, dv) as c:
                for r in range(rr):
                    b.store(b.value(arith.DivfOp(b.load(acc, [rix[r], c]), denoms[r])), pout, at(out, [rows[r], c]))


def _permuted(b, ivs: list, dims: list[int], shape: list[int], perm: list[int]) -> list[SSAValue]:
    """The subscript of element `ivs` (of a product with `dims`) in Transpose(perm) of the
    product seen as `shape` (the same elements, row-major)."""
    flat = b.affine([(iv, int(np.prod(dims[n + 1 :], dtype=np.int64))) for n, iv in enumerate(ivs) if dims[n] > 1])
    return permuted_subscript(b, flat, shape, perm)


def _subscripts(bidx: list, zero: SSAValue):
    """at(x, last): the subscript of `x` broadcast (numpy, right-aligned) against the batch
    dims (indices `bidx`) + 2 dims whose indices are `last`."""

    def at(x: SSAValue, last: list) -> list[SSAValue]:
        full = [*bidx, *last]
        s = _shape(x)
        lead = len(full) - len(s)
        return [zero if n == 1 else full[lead + k] for k, n in enumerate(s)]

    return at
