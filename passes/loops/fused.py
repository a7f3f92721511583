"""hetc-fuse's groups that need more than a GEMM epilogue, as kernels.

Row groups: elementwise ops and last-axis reductions over the same rows (softmax,
decomposed norms, GELU chains, elementwise DAGs), one kernel each (below).

Split epilogues (`FusedSplitLowering`): a MatMul with constant weights whose epilogue
group ends in a Split of the last axis (hetc-fuse-horizontal's Q/K/V GEMM + Split) costs
no copy kernel. The CPU form stores each column range straight into its Split output: one
register-tiled GEMM call per range, over that range's weight columns (packed at compile
time) and bias slice, reading the activation in place. The plain GEMM form (GPU, HLS) is
one nest over all the columns whose store puts column range s at offset M*off_s of one
buffer, range-major, so each Split output is a contiguous view of that buffer (an offset
in the memory plan), and the launch count stays one.

Per row, the ops run in phases: a phase is one loop over the row, holding every
elementwise op whose inputs are ready and accumulating every reduction that reads
them; a reduction's result (a per-row scalar) is ready from the next phase on. Values
live in registers within a phase and in a row-sized stack buffer across phases, so
the group reads its inputs and writes its outputs once.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, MemRefType, NoneType, TensorType, UnitAttr
from xdsl.ir import SSAValue

from hetc.dialects import onnx as onnx_d
from hetc.passes.kernel_regions import GROUP_ATTR
from hetc.passes.loop_builder import finish_kernel
from hetc.passes.loops.gemm import GEMM_ATTR, GEMM_K_ATTR

from hetc.passes.loops.ops import REDUCE_OPS, _clip_args, _shape
from hetc.passes.loops.scalar import REDUCTIONS, _scalar


class FusedRowLowering:
    """Mixin of the loop lowering (see convert_onnx_to_loops)."""

    def lower_row_group(self, ops: list, outputs: dict) -> None:
        produced = {r: op for op in ops for r in op.results}
        in_group = set(ops)
        ref = next(op for op in ops if op.OP_TYPE in REDUCE_OPS) if any(op.OP_TYPE in REDUCE_OPS for op in ops) else ops[-1]
        full = _shape(ref.operands[0]) if ref.OP_TYPE in REDUCE_OPS else _shape(ref.results[0])
        for op in ops:  # the widest row of the group
            s = _shape(op.operands[0]) if op.OP_TYPE in REDUCE_OPS else _shape(op.results[0])
            if s[-1] > full[-1]:
                full = s
        outer, length = full[:-1], full[-1]
        rank = len(full)

        def wide(v: SSAValue) -> bool:
            return _shape(v)[-1] == length and length != 1 if _shape(v) else False

        # phases: when each value is ready
        ready: dict[SSAValue, int] = {}
        phase_of: dict = {}
        for op in ops:
            deps = [ready.get(v, 0) for v in op.operands if v in produced]
            p = max(deps, default=0)
            phase_of[op] = p
            ready[op.results[0]] = p + 1 if op.OP_TYPE in REDUCE_OPS else p
        phases = max(phase_of.values()) + 1
        # group outputs: used outside the group, or returned
        escaping = [op.results[0] for op in ops if op.results[0] in outputs
                    or any(u.operation not in in_group for u in op.results[0].uses)]
        # external inputs (constants included), in first-use order
        externals: list[SSAValue] = []
        for op in ops:
            for v in op.operands:
                if isinstance(v.type, TensorType) and v not in produced and v not in externals:
                    externals.append(v)
        out_bufs = []
        for v in escaping:
            buf = self.out_buffer(v, outputs)
            self.buffers[v] = buf
            out_bufs.append(buf)
        args = [self.buffers[v] for v in externals] + out_bufs
        nodes = [op.node_name for op in ops if op.node_name]
        b, params = self.kernel("fused_row", ops[0], args, nodes=nodes)
        pin = dict(zip(externals, params[: len(externals)]))
        pout = dict(zip(escaping, params[len(externals):]))
        e = ops[0].results[0].type.get_element_type()
        # wide values read in a later phase than they are made go through a row buffer
        spilled = {r for r in ready if wide(r) and any(
            u.operation in in_group and phase_of[u.operation] > ready[r] for u in r.uses)}

        def index(v: SSAValue, ivs, j):
            """Subscript of external `v` (numpy broadcasting against the full row shape)."""
            s = _shape(v)
            lead = rank - len(s)
            idx = []
            for d, n in enumerate(s):
                dim = lead + d
                if n == 1:
                    idx.append(b.index(0))
                elif dim == rank - 1:
                    idx.append(j)
                else:
                    idx.append(ivs[dim])
            return idx

        with b.loops(outer) as ivs:
            zero = b.index(0)
            buffers = {r: b.value(memref.AllocaOp.get(e, shape=[length])) for r in spilled}
            scalars: dict[SSAValue, SSAValue] = {}  # per-row values (reductions and ops on them)

            def value(v: SSAValue, j, local: dict):
                if v in local:
                    return local[v]
                if v in scalars:
                    return scalars[v]
                if v in buffers:
                    return b.load(buffers[v], [j])
                return b.load(pin[v], index(v, ivs, j))

            def compute(op, xs):
                if op.OP_TYPE == "Clip":
                    return _scalar(b, op, _clip_args(xs))
                return _scalar(b, op, xs)

            def store_out(v, y, j):
                if v in pout:
                    s = _shape(v)
                    b.store(y, pout[v], index(v, ivs, j) if len(s) == rank else [zero] * len(s))

            for phase in range(phases):
                # per-row scalar ops whose inputs are ready
                for op in ops:
                    r = op.results[0]
                    if op.OP_TYPE in REDUCE_OPS or wide(r) or phase_of[op] != phase or r in scalars:
                        continue
                    xs = [value(v, zero, {}) for v in op.operands if not isinstance(v.type, NoneType)]
                    scalars[r] = compute(op, xs)
                    store_out(r, scalars[r], zero)
                reductions = [op for op in ops if op.OP_TYPE in REDUCE_OPS and phase_of[op] == phase]
                wides = [op for op in ops if op.OP_TYPE not in REDUCE_OPS and wide(op.results[0]) and phase_of[op] == phase]
                if not reductions and not wides:
                    continue
                accs = {}
                for op in reductions:
                    init, _, _ = REDUCTIONS[REDUCE_OPS[op.OP_TYPE]]
                    accs[op] = b.value(memref.AllocaOp.get(e, shape=[1]))
                    b.store(b.const(init, e), accs[op], [zero])
                # a group with no reduction and no per-row value (GELU after a MatMul): its
                # columns are independent, so a GPU maps a thread per element instead of a
                # warp per row (ViT-tiny's GELU rows: 65 warps looping 24 times)
                elementwise = phases == 1 and not accs and not spilled and all(wide(o.results[0]) for o in ops)
                with b.loop(0, length, parallel=elementwise, reduction=not elementwise) as j:
                    local: dict[SSAValue, SSAValue] = {}
                    for op in wides:
                        xs = [value(v, j, local) for v in op.operands if not isinstance(v.type, NoneType)]
                        y = compute(op, xs)
                        r = op.results[0]
                        local[r] = y
                        if r in buffers:
                            b.store(y, buffers[r], [j])
                        store_out(r, y, j)
                    for op in reductions:
                        _, step, _ = REDUCTIONS[REDUCE_OPS[op.OP_TYPE]]
                        x = value(op.operands[0], j, local)
                        b.store(step(b, b.load(accs[op], [zero]), x), accs[op], [zero])
                for op in reductions:
                    _, _, final = REDUCTIONS[REDUCE_OPS[op.OP_TYPE]]
                    r = op.results[0]
                    scalars[r] = final(b, b.load(accs[op], [zero]), length)
                    store_out(r, scalars[r], zero)
        finish_kernel(b)
        self.fused.update(ops)


def split_epilogue(op) -> tuple[onnx_d.OnnxOp | None, list]:
    """The Split ending `op`'s epilogue group (a MatMul's, marked by hetc-fuse), and the
    ops between them, or (None, [])."""
    group = op.attributes.get(GROUP_ATTR)
    if op.OP_TYPE != "MatMul" or group is None:
        return None, []
    between = []
    cur = op.results[0]
    while len(list(cur.uses)) == 1:
        user = next(iter(cur.uses)).operation
        if not isinstance(user, onnx_d.OnnxOp) or user.attributes.get(GROUP_ATTR) != group:
            break
        if user.OP_TYPE == "Split":
            return user, between
        if len(user.results) != 1:
            break
        between.append(user)
        cur = user.results[0]
    return None, []


class FusedSplitLowering:
    """Mixin of the loop lowering, ahead of HostLowering: takes the MatMuls whose group
    ends in a Split (see the module docstring); everything else goes on to lower_op."""

    def lower_op(self, op, outputs: dict) -> None:
        split, _ = split_epilogue(op) if op.OP_TYPE == "MatMul" else (None, [])
        if split is None:
            super().lower_op(op, outputs)
            return
        chain = self.epilogue_chain(op, outputs)
        last = chain[-1][0].results[0] if chain else op.results[0]
        w = onnx_d.constant_value(op.operands[1])
        if last is not split.operands[0] or w is None or w.ndim != 2 or any(m not in ("unary", "col", "scalar") for _, _, m in chain):
            # not the shape hetc-fuse checked: the GEMM with its epilogue, the Split a copy later
            out = self.out_buffer(last, outputs)
            self.buffers[last] = self.buffers[op.results[0]] = out
            self.epilogue = chain
            self.lower_matmul(op, self.buffers[op.operands[0]], self.buffers[op.operands[1]], out)
            self.epilogue = []
            return
        xs = _shape(op.operands[0])
        k, m = xs[-1], int(np.prod(xs[:-1], dtype=np.int64))
        a = self.view(self.buffers[op.operands[0]], [m, k])
        widths = [_shape(r)[-1] for r in split.results]
        offsets = [int(o) for o in np.cumsum([0] + widths[:-1])]
        self.fused.add(split)
        self.epilogue = chain
        if not self.gpu:
            for r, n, off in zip(split.results, widths, offsets):
                out = self.buffers[r] = self.out_buffer(r, outputs)
                extra = [self.view(self.buffers[u.operands[1 - pos]], [n], off) if mode == "col" else
                         self.view(self.buffers[u.operands[1 - pos]], [1]) for u, pos, mode in chain if mode != "unary"]
                wref = self.constant(np.ascontiguousarray(w[:, off:off + n]), "w_split")
                self.gemm(op, a, wref, self.view(out, [m, n]), extra=extra)
        else:
            total = sum(widths)
            e = op.results[0].type.get_element_type()
            c = self.alloc(MemRefType(e, [m * total]), split.operands[0].name_hint)
            self._split_gemm_nest(op, a, self.buffers[op.operands[1]], c, self.epilogue_args(0, 0, m, total), m, k, widths)
            for r, off in zip(split.results, offsets):
                view = self.buffers[r] = self.view(c, _shape(r), m * off)
                if r in outputs:  # a graph output has its own buffer
                    self.host.add(memref.CopyOp(view, outputs[r]))
        self.epilogue = []

    def _split_gemm_nest(self, op, a, bmat, c, extra: list, m: int, k: int, widths: list[int]) -> None:
        """The plain GEMM nest (GemmLowering.gemm_loops' form, which GPU printers tile)
        over all columns, storing column j of range s at c[M*off_s + i*n_s + j - off_s]."""
        n = sum(widths)
        b, params = self.kernel("gemm", op, [a, bmat, c, *extra])
        self.kernels[-1].attributes[GEMM_ATTR] = ArrayAttr([IntegerAttr(x, 64) for x in (m, n, k)])
        pa, pb, pc = params[:3]
        e = c.type.get_element_type()
        zero = b.index(0)
        with b.loop(0, m, parallel=m > 1) as i, b.loop(0, n, parallel=n > 1) as j:
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            b.store(b.const(0.0, e), acc, [zero])
            with b.loop(0, k) as kk:
                b.block.parent_op().attributes[GEMM_K_ATTR] = UnitAttr()
                va, vb = b.load(pa, [i, kk]), b.load(pb, [kk, j])
                b.store(b.value(arith.AddfOp(b.load(acc, [zero]), b.value(arith.MulfOp(va, vb)))), acc, [zero])
            y = self.apply_epilogue(b, b.load(acc, [zero]), params[3:], i, j)
            offsets = [int(o) for o in np.cumsum([0] + widths[:-1])]
            # the last range's address, then a select per earlier boundary (j < its end)
            addr = b.affine([(i, widths[-1]), (j, 1)], offsets[-1] * (m - 1))
            for s in reversed(range(len(widths) - 1)):
                mine = b.affine([(i, widths[s]), (j, 1)], offsets[s] * (m - 1))
                inside = b.value(arith.CmpiOp(j, b.index(offsets[s] + widths[s]), "ult"))
                addr = b.value(arith.SelectOp(inside, mine, addr))
            b.store(y, pc, [addr])
        finish_kernel(b)
