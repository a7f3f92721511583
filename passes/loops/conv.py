"""Convolutions (im2col into GEMM panels, depthwise direct), transposed convolutions, pooling."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import MemRefType
from xdsl.ir import SSAValue

from hetc.dialects import onnx as onnx_d
from hetc.diagnostics import UnsupportedError
from hetc.passes.loop_builder import finish_kernel

from hetc.passes.loops.ops import _attr, _shape


class ConvLowering:
    """Mixin of the loop lowering (see convert_onnx_to_loops)."""

    def pad_into(self, op, src: SSAValue, shape_in: list[int], pads: list[int], value: float, kind="pad") -> SSAValue:
        """A copy of src [C, H, W...] zero/value-padded by pads (begins then ends)."""
        r = len(shape_in) - 1
        if not any(pads):
            return src
        padded = [shape_in[0]] + [shape_in[1 + i] + pads[i] + pads[r + i] for i in range(r)]
        dst = self.alloc(MemRefType(src.type.get_element_type(), padded), "padded")
        b, (ps, pd) = self.kernel(kind, op, [src, dst])
        e = src.type.get_element_type()
        with b.loops(padded) as ivs:
            b.store(b.const(value, e), pd, ivs)
        with b.loops(shape_in) as ivs:
            idx = [ivs[0]] + [b.affine([(ivs[1 + i], 1)], pads[i]) for i in range(r)]
            b.store(b.load(ps, ivs), pd, idx)
        finish_kernel(b)
        return dst

    def lower_conv(self, op, ins, out) -> None:
        x, w, bias = ins[0], ins[1], ins[2] if len(ins) > 2 else None
        sx, sw, so = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
        if len(sx) not in (3, 4):
            raise UnsupportedError("only 1-D and 2-D convolutions are lowered yet", node=op.node_name, op_type="Conv")
        group = _attr(op, "group", 1)
        sx, _, so, strides, dil, pads = self._as_2d(op, sx, so, sw[2:])
        sw = sw[:2] + [1] * (4 - len(sw)) + sw[2:]
        n, c, h, wd = sx
        m, cg, kh, kw = sw
        _, _, oh, ow = so
        mg = m // group
        depthwise = group == c and cg == 1 and mg == 1
        for ni in range(n):
            xn = self.view(x, [c, h, wd], ni * c * h * wd)
            on = self.view(out, [m, oh * ow], ni * m * oh * ow)
            xp = self.pad_into(op, xn, [c, h, wd], pads, 0.0)
            ph, pw = h + pads[0] + pads[2], wd + pads[1] + pads[3]
            if depthwise:
                extra = self.epilogue_args(ni * m * oh * ow, 0, m, oh * ow)
                self.depthwise(op, xp, w, bias, self.view(on, [m, oh, ow]), [kh, kw], strides, dil, extra)
                continue
            for g in range(group):
                wg = self.view(w, [mg, cg * kh * kw], g * mg * cg * kh * kw)
                og = self.view(on, [mg, oh * ow], g * mg * oh * ow)
                bg = self.view(bias, [mg], g * mg) if bias is not None else None
                xg = self.view(xp, [cg, ph, pw], g * cg * ph * pw)
                extra = self.epilogue_args((ni * m + g * mg) * oh * ow, g * mg, mg, oh * ow)
                if kh == kw == 1 and strides == [1, 1] and ph == oh and pw == ow:
                    self.gemm(op, wg, self.view(xg, [cg, oh * ow]), og, bg, kind="conv_gemm", extra=extra)
                else:
                    bp = self.im2col_packed(op, xg, [cg, ph, pw], [kh, kw], strides, dil, [oh, ow], self.tile(mg, oh * ow)[1])
                    self.gemm(op, wg, None, og, bg, kind="conv_gemm", b_packed=bp, extra=extra)

    def lower_conv_transpose(self, op, ins, out) -> None:
        """ConvTranspose = GEMM (W^T @ X, W packed at compile time) then col2im: each
        column scatters its KH x KW taps into a buffer holding the full, uncropped
        output (so no bounds checks), then the crop adds the bias."""
        x, w, bias = ins[0], ins[1], ins[2] if len(ins) > 2 else None
        sx, sw, so = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
        if len(sx) not in (3, 4):
            raise UnsupportedError("only 1-D and 2-D ConvTranspose is lowered yet", node=op.node_name, op_type="ConvTranspose")
        w_const = onnx_d.constant_value(op.operands[1])
        r = len(sx) - 2
        group = _attr(op, "group", 1)
        strides = _attr(op, "strides") or [1] * r
        dil = _attr(op, "dilations") or [1] * r
        opad = _attr(op, "output_padding") or [0] * r
        auto_pad = _attr(op, "auto_pad", "NOTSET")
        if r == 1:
            sx, so, sw = sx[:2] + [1] + sx[2:], so[:2] + [1] + so[2:], sw[:2] + [1] + sw[2:]
            strides, dil, opad = [1] + strides, [1] + dil, [0] + opad
        n, cin, h, wd = sx
        _, cout_g, kh, kw = sw
        _, cout, oh, ow = so
        cin_g = cin // group
        full = [(h - 1) * strides[0] + (kh - 1) * dil[0] + 1 + opad[0], (wd - 1) * strides[1] + (kw - 1) * dil[1] + 1 + opad[1]]
        pads = _attr(op, "pads")
        tops = []
        for i, (f, o) in enumerate(zip(full, [oh, ow])):
            total = f - o
            if pads is not None and auto_pad == "NOTSET" and _attr(op, "output_shape") is None:
                begin = pads[i - (2 - r)] if (r == 2 or i == 1) else 0
            elif auto_pad == "SAME_LOWER":
                begin = total - total // 2 if total >= 0 else total
            else:
                begin = total // 2 if total >= 0 else 0  # a larger output_shape grows at the end
            tops.append(begin)
        # the canvas covers the full output and the requested window of it
        shift = [max(0, -t) for t in tops]
        canvas_shape = [max(f + sh, t + sh + o) for f, t, sh, o in zip(full, tops, shift, [oh, ow])]
        tops = [t + sh for t, sh in zip(tops, shift)]
        e = out.type.get_element_type()
        dt = onnx_d.numpy_dtype(e)
        kk = cout_g * kh * kw
        wt = w_const.reshape(group, cin_g, kk).transpose(0, 2, 1) if w_const is not None else None  # [g, Cout_g*K*K, Cin_g]
        for ni in range(n):
            for g in range(group):
                if wt is not None:
                    a = self.constant(np.ascontiguousarray(wt[g]).astype(dt), "wT")
                else:  # weights computed at run time: transpose them first
                    a = self.alloc(MemRefType(e, [kk, cin_g]), "wT")
                    b, (pw, pa) = self.kernel("transpose", op, [self.view(w, [cin_g, kk], g * cin_g * kk), a])
                    with b.loops([cin_g, kk]) as (ci, j):
                        b.store(b.load(pw, [ci, j]), pa, [j, ci])
                    finish_kernel(b)
                xg = self.view(x, [cin_g, h * wd], (ni * cin + g * cin_g) * h * wd)
                cols = self.alloc(MemRefType(e, [cout_g * kh * kw, h * wd]), "cols")
                self.gemm(op, a, xg, cols, kind="deconv_gemm")
                canvas = self.alloc(MemRefType(e, [cout_g, *canvas_shape]), "canvas")
                og = self.view(out, [cout_g, oh, ow], (ni * cout + g * cout_g) * oh * ow)
                bg = self.view(bias, [cout_g], g * cout_g) if bias is not None else None
                b, params = self.kernel("col2im", op, [cols, canvas, og] + ([bg] if bg is not None else []))
                pc, pv, po = params[:3]
                with b.loops([cout_g, *canvas_shape]) as ivs:
                    b.store(b.const(0.0, e), pv, ivs)
                with b.loop(0, cout_g, parallel=cout_g > 1) as co, b.loop(0, kh) as ki, b.loop(0, kw) as kj:
                    row = b.affine([(co, kh * kw), (ki, kw), (kj, 1)])
                    with b.loop(0, h) as iy, b.loop(0, wd) as ix:
                        dst = [co, b.affine([(iy, strides[0]), (ki, dil[0])], shift[0]), b.affine([(ix, strides[1]), (kj, dil[1])], shift[1])]
                        v = b.load(pc, [row, b.affine([(iy, wd), (ix, 1)])])
                        b.store(b.value(arith.AddfOp(b.load(pv, dst), v)), pv, dst)
                with b.loop(0, cout_g, parallel=cout_g > 1) as co, b.loop(0, oh) as oy, b.loop(0, ow) as ox:
                    y = b.load(pv, [co, b.affine([(oy, 1)], tops[0]), b.affine([(ox, 1)], tops[1])])
                    if bg is not None:
                        y = b.value(arith.AddfOp(y, b.load(params[3], [co])))
                    b.store(y, po, [co, oy, ox])
                finish_kernel(b)

    def _as_2d(self, op, sx, so, kernel):
        """Shapes and window attributes of a 1-D or 2-D conv/pool, as 2-D (1-D: H = 1)."""
        r = len(sx) - 2
        strides = _attr(op, "strides") or [1] * r
        dil = _attr(op, "dilations") or [1] * r
        pads = self._conv_pads(op, sx[2:], kernel, strides, dil, so[2:])
        if r == 2:
            return sx, None, so, strides, dil, pads
        return (sx[:2] + [1] + sx[2:], None, so[:2] + [1] + so[2:], [1] + strides, [1] + dil,
                [0, pads[0], 0, pads[1]])

    def _conv_pads(self, op, spatial, kernel, strides, dil, out_spatial) -> list[int]:
        auto_pad = _attr(op, "auto_pad", "NOTSET")
        r = len(spatial)
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            begins, ends = [], []
            for i in range(r):
                total = max(0, (out_spatial[i] - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - spatial[i])
                small = total // 2
                big = total - small
                begins.append(small if auto_pad == "SAME_UPPER" else big)
                ends.append(big if auto_pad == "SAME_UPPER" else small)
            return begins + ends
        if auto_pad == "VALID":
            return [0] * (2 * r)
        return list(_attr(op, "pads") or [0] * (2 * r))

    def im2col_packed(self, op, xp, shape, kernel, strides, dil, out_spatial, nr: int) -> SSAValue:
        """im2col straight into the GEMM's packed-B panels Bp[ceil(OH*OW/nr), C*KH*KW, nr]."""
        cg, _, _ = shape
        kh, kw = kernel
        oh, ow = out_spatial
        n, k = oh * ow, cg * kh * kw
        nb = -(-n // nr)
        bp = self.alloc(MemRefType(xp.type.get_element_type(), [nb, k, nr]), "packed_col")
        b, (px, pp) = self.kernel("im2col", op, [xp, bp])
        e = xp.type.get_element_type()
        if n % nr:
            with b.loop(0, k, parallel=k > 1) as r, b.loop(n % nr, nr) as jj:
                b.store(b.const(0.0, e), pp, [b.index(nb - 1), r, jj])
        with b.loop(0, cg, parallel=cg > 1) as ci, b.loop(0, kh) as ki, b.loop(0, kw) as kj:
            row = b.affine([(ci, kh * kw), (ki, kw), (kj, 1)])
            with b.loop(0, oh) as oi, b.loop(0, ow) as oj:
                j = b.affine([(oi, ow), (oj, 1)])
                src = [ci, b.affine([(oi, strides[0]), (ki, dil[0])]), b.affine([(oj, strides[1]), (kj, dil[1])])]
                dst = [b.value(arith.DivUIOp(j, b.index(nr))), row, b.value(arith.RemUIOp(j, b.index(nr)))]
                b.store(b.load(px, src), pp, dst)
        finish_kernel(b)
        return bp

    def depthwise(self, op, xp, w, bias, out, kernel, strides, dil, extra=()) -> None:
        m, oh, ow = _shape(out)
        kh, kw = kernel
        wv = self.view(w, [m, kh * kw])
        args = [xp, wv, out] + ([bias] if bias is not None else []) + list(extra)
        b, params = self.kernel("depthwise_conv", op, args)
        px, pw, po = params[:3]
        pextra = params[3 + (bias is not None) :]
        e = out.type.get_element_type()
        with b.loop(0, m, parallel=m > 1) as ci, b.loop(0, oh) as oi, b.loop(0, ow) as oj:
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            zero = b.index(0)
            b.store(b.load(params[3], [ci]) if bias is not None else b.const(0.0, e), acc, [zero])
            with b.loop(0, kh) as ki, b.loop(0, kw) as kj:
                xv = b.load(px, [ci, b.affine([(oi, strides[0]), (ki, dil[0])]), b.affine([(oj, strides[1]), (kj, dil[1])])])
                wvv = b.load(pw, [ci, b.affine([(ki, kw), (kj, 1)])])
                b.store(b.value(arith.AddfOp(b.load(acc, [zero]), b.value(arith.MulfOp(xv, wvv)))), acc, [zero])
            y = self.apply_epilogue(b, b.load(acc, [zero]), pextra, ci, b.affine([(oi, ow), (oj, 1)]))
            b.store(y, po, [ci, oi, oj])
        finish_kernel(b)

    def lower_pool(self, op, x, out) -> None:
        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        if len(sx) not in (3, 4):
            raise UnsupportedError("only 1-D and 2-D pooling is lowered yet", node=op.node_name, op_type=op.OP_TYPE)
        if len(op.results) > 1 and op.results[1].uses:
            raise UnsupportedError("MaxPool indices are not lowered yet", node=op.node_name, op_type=op.OP_TYPE)
        kernel = _attr(op, "kernel_shape")
        sx, _, so, strides, dil, pads = self._as_2d(op, sx, so, kernel)
        kernel = [1] * (2 - len(kernel)) + list(kernel)
        n, c, h, wd = sx
        _, _, oh, ow = so
        is_max = op.OP_TYPE == "MaxPool"
        count_pad = _attr(op, "count_include_pad", 0)
        # ceil_mode windows may run past the padded input: pad the end far enough
        ends = [max(pads[2 + i], (so[2 + i] - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - sx[2 + i] - pads[i]) for i in range(2)]
        # average divisor per output position, known at compile time: window positions
        # inside the input (count_include_pad=0) or inside the padded input (=1); the
        # ceil_mode overhang past the padding never counts
        counts = []
        for i in range(2):
            pos = np.arange(so[2 + i])[:, None] * strides[i] - pads[i] + np.arange(kernel[i])[None, :] * dil[i]
            lo, hi = (0, sx[2 + i]) if not count_pad else (-pads[i], sx[2 + i] + pads[2 + i])
            counts.append(((pos >= lo) & (pos < hi)).sum(axis=1))
        divisor = np.outer(counts[0], counts[1]).astype(np.float64)
        uniform = bool(np.all(divisor == divisor.flat[0]))
        inv = None
        if not is_max and not uniform:
            inv = self.constant((1.0 / np.maximum(divisor, 1)).astype(onnx_d.numpy_dtype(out.type.get_element_type())), "avg_divisor")
        e = out.type.get_element_type()
        for ni in range(n):
            xn = self.view(x, [c, h, wd], ni * c * h * wd)
            on = self.view(out, [c, oh, ow], ni * c * oh * ow)
            xp = self.pad_into(op, xn, [c, h, wd], [pads[0], pads[1], ends[0], ends[1]], -np.inf if is_max else 0.0)
            b, params = self.kernel("maxpool" if is_max else "avgpool", op, [xp, on] + ([inv] if inv is not None else []))
            px, po = params[:2]
            with b.loop(0, c, parallel=c > 1) as ci, b.loop(0, oh) as oi, b.loop(0, ow) as oj:
                acc = b.value(memref.AllocaOp.get(e, shape=[1]))
                zero = b.index(0)
                b.store(b.const(-np.inf if is_max else 0.0, e), acc, [zero])
                with b.loop(0, kernel[0]) as ki, b.loop(0, kernel[1]) as kj:
                    xv = b.load(px, [ci, b.affine([(oi, strides[0]), (ki, dil[0])]), b.affine([(oj, strides[1]), (kj, dil[1])])])
                    cur = b.load(acc, [zero])
                    b.store(b.value(arith.MaximumfOp(cur, xv) if is_max else arith.AddfOp(cur, xv)), acc, [zero])
                y = b.load(acc, [zero])
                if not is_max:
                    scale = b.load(params[2], [oi, oj]) if inv is not None else b.const(1.0 / divisor.flat[0], e)
                    y = b.value(arith.MulfOp(y, scale))
                b.store(y, po, [ci, oi, oj])
            finish_kernel(b)

    def lower_global_pool(self, op, x, out) -> None:
        sx = _shape(op.operands[0])
        n, c = sx[:2]
        hw = int(np.prod(sx[2:], dtype=np.int64))
        self.reduce_rows(op, self.view(x, [n * c, hw]), self.view(out, [n * c]), "max" if "Max" in op.OP_TYPE else "mean")
