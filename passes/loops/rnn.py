"""LSTM and GRU, unrolled over the static sequence."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith, math, memref
from xdsl.dialects.builtin import MemRefType, NoneType

from hetc.dialects import onnx as onnx_d
from hetc.diagnostics import UnsupportedError
from hetc.passes.loop_builder import finish_kernel

from hetc.passes.loops.ops import _attr, _shape
from hetc.passes.loops.scalar import _FakeOp, _scalar


class RnnLowering:
    """Mixin of the loop lowering (see convert_onnx_to_loops)."""

    def lower_rnn(self, op, outputs) -> None:
        """LSTM / GRU, unrolled over the (static) sequence on the host: one GEMM for the
        input projection of all time steps, then per step a GEMM with the recurrent
        weights and a fused cell kernel writing h straight into Y[t]. A GRU with
        linear_before_reset=0 takes two GEMMs per step (z and r first, then r * h
        times R_h). layout=1 (batch-major X, Y, initial and final states) transposes
        into and out of the sequence-major core."""
        t_ = op.OP_TYPE
        where = dict(node=op.node_name, op_type=t_)
        if _attr(op, "clip") is not None or _attr(op, "activations") is not None:
            raise UnsupportedError("clip and custom activations are not lowered yet", **where)
        if t_ == "LSTM" and _attr(op, "input_forget", 0):
            raise UnsupportedError("input_forget is not lowered yet", **where)
        batch_major = _attr(op, "layout", 0) == 1
        reset_after = t_ == "GRU" and bool(_attr(op, "linear_before_reset", 0))
        n_in = len(op.operands)
        const = [onnx_d.constant_value(op.operands[i]) if i < n_in and not isinstance(op.operands[i].type, NoneType) else None
                 for i in range(8)]
        present = [i < n_in and not isinstance(op.operands[i].type, NoneType) for i in range(8)]
        w, r = const[1], const[2]
        if w is None or r is None or (present[3] and const[3] is None) or (t_ == "LSTM" and present[7] and const[7] is None):
            raise UnsupportedError("RNN weights must be compile-time constants", **where)
        sx = _shape(op.operands[0])
        steps, batch, isz = (sx[1], sx[0], sx[2]) if batch_major else sx
        dirs, gh, hidden = w.shape[0], w.shape[1], r.shape[2]
        seq = const[4]
        if present[4] and (seq is None or not np.all(seq == steps)):
            raise UnsupportedError("sequence_lens shorter than the sequence are not lowered yet", **where)
        e = op.results[0].type.get_element_type() if not isinstance(op.results[0].type, NoneType) else op.operands[0].type.get_element_type()
        dt = onnx_d.numpy_dtype(e)
        bias = const[3] if const[3] is not None else np.zeros((dirs, 2 * gh), dt)
        # Y [T, D, B, H] (allocated even when unused: it carries h between steps); with
        # layout=1 the core works on sequence-major copies and Y is transposed at the end
        has_y = not isinstance(op.results[0].type, NoneType)
        if has_y and not batch_major:
            y = self.out_buffer(op.results[0], outputs)
            self.buffers[op.results[0]] = y
        else:
            y = self.alloc(MemRefType(e, [steps, dirs, batch, hidden]), "Y")
        x_in = self.buffers[op.operands[0]]
        if batch_major:
            x_tm = self.alloc(MemRefType(e, [steps, batch, isz]), "x_seq_major")
            self._permute(op, x_in, x_tm, [1, 0, 2])
            x_in = x_tm
        x2 = self.view(x_in, [steps * batch, isz])

        def state_input(i):  # initial_h / initial_c as [D, B, H]
            if not present[i]:
                return None
            buf = self.buffers[op.operands[i]]
            if not batch_major:
                return buf
            tm = self.alloc(MemRefType(e, [dirs, batch, hidden]), "state_dir_major")
            self._permute(op, buf, tm, [1, 0, 2])
            return tm

        init_h = state_input(5)
        init_c = state_input(6) if t_ == "LSTM" else None
        peep = const[7] if t_ == "LSTM" else None
        direction = _attr(op, "direction", "forward")
        finals = []
        for d in range(dirs):
            reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
            xw = self.alloc(MemRefType(e, [steps * batch, gh]), "xw")
            self.gemm(op, x2, self.constant(np.ascontiguousarray(w[d].T).astype(dt), "wT"), xw, kind="rnn_input_gemm")
            # linear_before_reset=0: R_z, R_r apply to h, R_h to r * h (a second GEMM)
            rec = r[d] if t_ == "LSTM" or reset_after else r[d][: 2 * hidden]
            rt = self.constant(np.ascontiguousarray(rec.T).astype(dt), "rT")
            rt_h = None if t_ == "LSTM" or reset_after else self.constant(np.ascontiguousarray(r[d][2 * hidden :].T).astype(dt), "rT_h")
            b_in = self.constant((bias[d, :gh] + (bias[d, gh:] if t_ == "LSTM" else 0)).astype(dt), "b_in")
            b_rec = self.constant(bias[d, gh:].astype(dt), "b_rec") if t_ == "GRU" else None
            pv = self.constant(peep[d].astype(dt), "peephole") if peep is not None else None
            c_state = None
            if t_ == "LSTM":
                c_state = self.alloc(MemRefType(e, [batch, hidden]), "c")
                src = self.view(init_c, [batch, hidden], d * batch * hidden) if init_c is not None else None
                self._fill_state(op, c_state, src)
            h0 = self.alloc(MemRefType(e, [batch, hidden]), "h0")
            self._fill_state(op, h0, self.view(init_h, [batch, hidden], d * batch * hidden) if init_h is not None else None)
            order = range(steps - 1, -1, -1) if reverse else range(steps)
            h_prev = h0
            for t in order:
                hr = self.alloc(MemRefType(e, [batch, _shape(rt)[1]]), "hr")
                self.gemm(op, h_prev, rt, hr, kind="rnn_recurrent_gemm")
                h_t = self.view(y, [batch, hidden], (t * dirs + d) * batch * hidden)
                xw_t = self.view(xw, [batch, gh], t * batch * gh)
                if rt_h is None:
                    self._rnn_cell(op, xw_t, hr, b_in, b_rec, pv, c_state, h_prev, h_t, hidden, e)
                else:
                    self._gru_reset_before(op, xw_t, hr, rt_h, b_in, b_rec, h_prev, h_t, hidden, e)
                h_prev = h_t
            finals.append((h_prev, c_state))
        if has_y and batch_major and (op.results[0].uses or op.results[0] in outputs):  # Y [B, T, D, H] from [T, D, B, H]
            out = self.out_buffer(op.results[0], outputs)
            self.buffers[op.results[0]] = out
            self._permute(op, y, out, [2, 0, 1, 3])
        for k, result in enumerate(op.results[1:3], start=1):
            if isinstance(result.type, NoneType) or (not result.uses and result not in outputs):
                continue
            buf = self.out_buffer(result, outputs)
            self.buffers[result] = buf
            # [D, B, H]; with layout=1 gathered first, then transposed to [B, D, H]
            dst = self.alloc(MemRefType(e, [dirs, batch, hidden]), "state_dir_major") if batch_major else buf
            for d, (h_last, c_last) in enumerate(finals):
                src = h_last if k == 1 else c_last
                self.host.add(memref.CopyOp(src, self.view(dst, [batch, hidden], d * batch * hidden)))
            if batch_major:
                self._permute(op, dst, buf, [1, 0, 2])

    def _permute(self, op, src, dst, perm: list[int]) -> None:
        """dst = Transpose(src, perm): dst[i_0, ...] = src[j] with j[perm[d]] = i_d."""
        b, (ps, pd) = self.kernel("rnn_transpose", op, [src, dst])
        with b.loops(_shape(dst)) as ivs:
            idx = [None] * len(perm)
            for d, p in enumerate(perm):
                idx[p] = ivs[d]
            b.store(b.load(ps, idx), pd, ivs)
        finish_kernel(b)

    def _gru_reset_before(self, op, xw, hr, rt_h, b_in, b_rec, h_prev, h_out, hidden, e) -> None:
        """GRU step with linear_before_reset=0 (gate order z, r, h):
        z, r = sigmoid(x W + h R + Wb + Rb) from `hr` = h [R_z R_r]; then
        h~ = tanh(x W_h + Wb_h + (r * h) R_h + Rb_h) and h' = (1 - z) h~ + z h."""
        batch = _shape(xw)[0]
        z_buf = self.alloc(MemRefType(e, [batch, hidden]), "z")
        rh = self.alloc(MemRefType(e, [batch, hidden]), "rh")
        b, (pxw, phr, pbi, pbr, php, pz, prh) = self.kernel("gru_gates", op, [xw, hr, b_in, b_rec, h_prev, z_buf, rh])
        sig = lambda v: _scalar(b, _FakeOp("Sigmoid"), [v])
        with b.loop(0, batch, parallel=batch > 1) as bi, b.loop(0, hidden, parallel=hidden > 1) as j:
            def pre(k):
                col = b.affine([(j, 1)], k * hidden)
                xv = b.value(arith.AddfOp(b.load(pxw, [bi, col]), b.load(pbi, [col])))
                return b.value(arith.AddfOp(xv, b.value(arith.AddfOp(b.load(phr, [bi, col]), b.load(pbr, [col])))))
            b.store(sig(pre(0)), pz, [bi, j])
            b.store(b.value(arith.MulfOp(sig(pre(1)), b.load(php, [bi, j]))), prh, [bi, j])
        finish_kernel(b)
        hh = self.alloc(MemRefType(e, [batch, hidden]), "rh_R")
        self.gemm(op, rh, rt_h, hh, kind="rnn_recurrent_gemm")
        b, (pxw, phh, pbi, pbr, php, pz, pho) = self.kernel("gru_cell", op, [xw, hh, b_in, b_rec, h_prev, z_buf, h_out])
        with b.loop(0, batch, parallel=batch > 1) as bi, b.loop(0, hidden, parallel=hidden > 1) as j:
            col = b.affine([(j, 1)], 2 * hidden)
            xv = b.value(arith.AddfOp(b.load(pxw, [bi, col]), b.load(pbi, [col])))
            cand = b.value(math.TanhOp(b.value(arith.AddfOp(xv, b.value(arith.AddfOp(b.load(phh, [bi, j]), b.load(pbr, [col])))))))
            z = b.load(pz, [bi, j])
            one = b.const(1.0, e)
            h_new = b.value(arith.AddfOp(b.value(arith.MulfOp(b.value(arith.SubfOp(one, z)), cand)),
                                         b.value(arith.MulfOp(z, b.load(php, [bi, j])))))
            b.store(h_new, pho, [bi, j])
        finish_kernel(b)

    def _fill_state(self, op, dst, src) -> None:
        if src is not None:
            self.host.add(memref.CopyOp(src, dst))
            return
        b, (pd,) = self.kernel("zero", op, [dst])
        with b.loops(_shape(dst)) as ivs:
            b.store(b.const(0.0, dst.type.get_element_type()), pd, ivs)
        finish_kernel(b)

    def _rnn_cell(self, op, xw, hr, b_in, b_rec, peep, c_state, h_prev, h_out, hidden, e) -> None:
        lstm = op.OP_TYPE == "LSTM"
        args = [xw, hr, b_in, h_prev, h_out] + ([b_rec] if b_rec is not None else []) + \
            ([peep] if peep is not None else []) + ([c_state] if c_state is not None else [])
        b, ps = self.kernel("lstm_cell" if lstm else "gru_cell", op, args)
        pxw, phr, pbi, php, pho = ps[:5]
        rest = iter(ps[5:])
        pbr = next(rest) if b_rec is not None else None
        pp = next(rest) if peep is not None else None
        pc = next(rest) if c_state is not None else None
        batch = _shape(xw)[0]
        sig = lambda v: _scalar(b, _FakeOp("Sigmoid"), [v])  # noqa: E731
        tanh = lambda v: b.value(math.TanhOp(v))  # noqa: E731
        with b.loop(0, batch, parallel=batch > 1) as bi, b.loop(0, hidden, parallel=hidden > 1) as j:
            def gate(k):
                col = b.affine([(j, 1)], k * hidden)
                v = b.value(arith.AddfOp(b.load(pxw, [bi, col]), b.load(pbi, [col])))
                return v, b.load(phr, [bi, col]), col
            if lstm:  # gate order i, o, f, c
                c_prev = b.load(pc, [bi, j])
                (xi, hi, _), (xo, ho, _), (xf, hf, _), (xc, hc, _) = (gate(k) for k in range(4))
                gi = b.value(arith.AddfOp(xi, hi))
                go = b.value(arith.AddfOp(xo, ho))
                gf = b.value(arith.AddfOp(xf, hf))
                if pp is not None:
                    gi = b.value(arith.AddfOp(gi, b.value(arith.MulfOp(b.load(pp, [j]), c_prev))))
                    gf = b.value(arith.AddfOp(gf, b.value(arith.MulfOp(b.load(pp, [b.affine([(j, 1)], 2 * hidden)]), c_prev))))
                i_, f_ = sig(gi), sig(gf)
                c_new = b.value(arith.AddfOp(b.value(arith.MulfOp(f_, c_prev)), b.value(arith.MulfOp(i_, tanh(b.value(arith.AddfOp(xc, hc)))))))
                if pp is not None:
                    go = b.value(arith.AddfOp(go, b.value(arith.MulfOp(b.load(pp, [b.affine([(j, 1)], hidden)]), c_new))))
                h_new = b.value(arith.MulfOp(sig(go), tanh(c_new)))
                b.store(c_new, pc, [bi, j])
            else:  # gate order z, r, h; linear_before_reset: r * (h R_h + Rb_h)
                (xz, hz, cz), (xr, hrr, cr), (xh, hh, ch) = (gate(k) for k in range(3))
                z = sig(b.value(arith.AddfOp(xz, b.value(arith.AddfOp(hz, b.load(pbr, [cz]))))))
                r_ = sig(b.value(arith.AddfOp(xr, b.value(arith.AddfOp(hrr, b.load(pbr, [cr]))))))
                cand = tanh(b.value(arith.AddfOp(xh, b.value(arith.MulfOp(r_, b.value(arith.AddfOp(hh, b.load(pbr, [ch]))))))))
                hp = b.load(php, [bi, j])
                one = b.const(1.0, e)
                h_new = b.value(arith.AddfOp(b.value(arith.MulfOp(b.value(arith.SubfOp(one, z)), cand)), b.value(arith.MulfOp(z, hp))))
            b.store(h_new, pho, [bi, j])
        finish_kernel(b)
