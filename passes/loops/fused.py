"""Row groups of hetc-fuse as one kernel: elementwise ops and last-axis reductions
over the same rows (softmax, decomposed norms, GELU chains, elementwise DAGs).

Per row, the ops run in phases: a phase is one loop over the row, holding every
elementwise op whose inputs are ready and accumulating every reduction that reads
them; a reduction's result (a per-row scalar) is ready from the next phase on. Values
live in registers within a phase and in a row-sized stack buffer across phases, so
the group reads its inputs and writes its outputs once.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import memref
from xdsl.dialects.builtin import NoneType, TensorType
from xdsl.ir import SSAValue

from hetc.passes.loop_builder import finish_kernel

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
                with b.loop(0, length, reduction=True) as j:
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
