"""Convolutions (im2col into GEMM panels, depthwise direct), transposed convolutions, pooling."""

from __future__ import annotations

import functools

import numpy as np
from xdsl.dialects import arith, math, memref
from xdsl.dialects.builtin import IndexType, IntegerType, MemRefType, i64
from xdsl.ir import SSAValue

from hetc.dialects import onnx as onnx_d
from hetc.passes.loop_builder import finish_kernel

from hetc.passes.loops.ops import _attr, _shape, _unsigned


def avg_pool_divisor(count_pad: int, insp, outsp, kernel, strides, dil, pads) -> np.ndarray:
    """The average pool's divisor per output position, known at compile time: window
    positions inside the input (count_include_pad=0) or inside the padded input (=1);
    the ceil_mode overhang past the padding never counts."""
    r = len(insp)
    counts = []
    for i in range(r):
        pos = np.arange(outsp[i])[:, None] * strides[i] - pads[i] + np.arange(kernel[i])[None, :] * dil[i]
        lo, hi = (0, insp[i]) if not count_pad else (-pads[i], insp[i] + pads[r + i])
        counts.append(((pos >= lo) & (pos < hi)).sum(axis=1))
    return functools.reduce(np.multiply.outer, counts).astype(np.float64)


def _unravel(b, flat: SSAValue, dims) -> list[SSAValue]:
    """The row-major coordinates of `flat` in `dims` (div/rem; the first one unbounded)."""
    out = []
    for d in range(len(dims)):
        stride = int(np.prod(dims[d + 1 :], dtype=np.int64))
        q = b.value(arith.DivUIOp(flat, b.index(stride))) if stride > 1 else flat
        out.append(b.value(arith.RemUIOp(q, b.index(dims[d]))) if d > 0 else q)
    return out


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
        """Conv over any number of spatial dims: pad, then per group im2col into packed
        GEMM panels (1x1 stride-1: the input is the GEMM's B as it is) or, depthwise,
        a direct kernel."""
        x, w, bias = ins[0], ins[1], ins[2] if len(ins) > 2 else None
        sx, sw, so = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
        group = _attr(op, "group", 1)
        kernel = sw[2:]
        strides, dil, pads = self._conv_window(op, sx, so, kernel)
        r = len(kernel)
        n, c, insp = sx[0], sx[1], sx[2:]
        m, cg = sw[:2]
        outsp = so[2:]
        padded = [insp[i] + pads[i] + pads[r + i] for i in range(r)]
        hw, phw, ohw = (int(np.prod(v, dtype=np.int64)) for v in (insp, padded, outsp))
        kk = int(np.prod(kernel, dtype=np.int64))
        mg = m // group
        depthwise = group == c and cg == 1 and mg == 1
        if self.gpu and n > 1 and group == 1 and not depthwise:
            self.batched_conv_gemm(op, x, w, bias, out, [n, c, *insp], m, kernel, strides, dil, pads, outsp)
            return
        if self.gpu and n > 1 and depthwise and all(mode != "row" for _, _, mode in self.epilogue):
            # every image in one kernel: n * c channels, the weights indexed modulo c (a
            # launch per image cost MobileNetV2 1671 launches at batch 32)
            xp = self.pad_into(op, self.view(x, [n * c, *insp]), [n * c, *insp], pads, 0.0)
            extra = self.epilogue_args(0, 0, n * m, ohw)
            self.depthwise(op, xp, w, bias, self.view(out, [n * m, *outsp]), kernel, strides, dil, extra, per_image=m)
            return
        for ni in range(n):
            xn = self.view(x, [c, *insp], ni * c * hw)
            on = self.view(out, [m, ohw], ni * m * ohw)
            xp = self.pad_into(op, xn, [c, *insp], pads, 0.0)
            if depthwise:
                extra = self.epilogue_args(ni * m * ohw, 0, m, ohw)
                self.depthwise(op, xp, w, bias, self.view(on, [m, *outsp]), kernel, strides, dil, extra)
                continue
            for g in range(group):
                wg = self.view(w, [mg, cg * kk], g * mg * cg * kk)
                og = self.view(on, [mg, ohw], g * mg * ohw)
                bg = self.view(bias, [mg], g * mg) if bias is not None else None
                xg = self.view(xp, [cg, *padded], g * cg * phw)
                extra = self.epilogue_args((ni * m + g * mg) * ohw, g * mg, mg, ohw)
                if kk == 1 and all(st == 1 for st in strides) and padded == outsp:
                    self.gemm(op, wg, self.view(xg, [cg, ohw]), og, bg, kind="conv_gemm", extra=extra)
                elif self.gpu:  # implicit GEMM: the tiles read the padded input, no im2col buffer
                    b_load, table = self.im2col_load([cg, *padded], kernel, strides, dil, outsp)
                    xflat = self.view(xp, [cg * phw], g * cg * phw)
                    self.gemm_loops(op, wg, xflat, og, bg, "conv_gemm", None, extra, False, b_load=b_load, b_table=table)
                else:
                    bp = self.im2col_packed(op, xg, [cg, *padded], kernel, strides, dil, outsp, self.tile(mg, ohw)[1])
                    self.gemm(op, wg, None, og, bg, kind="conv_gemm", b_packed=bp, extra=extra)

    def lower_conv_transpose(self, op, ins, out) -> None:
        """ConvTranspose (any number of spatial dims) = GEMM (W^T @ X, W packed at compile
        time) then col2im: each column scatters its kernel taps into a buffer holding the
        full, uncropped output (so no bounds checks), then the crop adds the bias."""
        x, w, bias = ins[0], ins[1], ins[2] if len(ins) > 2 else None
        sx, sw, so = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
        w_const = onnx_d.constant_value(op.operands[1])
        r = len(sx) - 2
        group = _attr(op, "group", 1)
        strides = _attr(op, "strides") or [1] * r
        dil = _attr(op, "dilations") or [1] * r
        opad = _attr(op, "output_padding") or [0] * r
        auto_pad = _attr(op, "auto_pad", "NOTSET")
        n, cin, insp = sx[0], sx[1], sx[2:]
        cout_g, ks = sw[1], sw[2:]
        cout, outsp = so[1], so[2:]
        cin_g = cin // group
        full = [(insp[i] - 1) * strides[i] + (ks[i] - 1) * dil[i] + 1 + opad[i] for i in range(r)]
        pads = _attr(op, "pads")
        tops = []
        for i, (f, o) in enumerate(zip(full, outsp)):
            total = f - o
            if pads is not None and auto_pad == "NOTSET" and _attr(op, "output_shape") is None:
                begin = pads[i]
            elif auto_pad == "SAME_UPPER":
                begin = total // 2 if total >= 0 else 0  # a larger output_shape grows at the end
            else:  # SAME_LOWER, or an output_shape (ONNX: the larger half of the padding first)
                begin = total - total // 2 if total >= 0 else (total if auto_pad == "SAME_LOWER" else 0)
            tops.append(begin)
        # the canvas covers the full output and the requested window of it
        shift = [max(0, -t) for t in tops]
        canvas_shape = [max(f + sh, t + sh + o) for f, t, sh, o in zip(full, tops, shift, outsp)]
        tops = [t + sh for t, sh in zip(tops, shift)]
        e = out.type.get_element_type()
        dt = onnx_d.numpy_dtype(e)
        hw, ohw = int(np.prod(insp, dtype=np.int64)), int(np.prod(outsp, dtype=np.int64))
        taps = int(np.prod(ks, dtype=np.int64))
        kstr = [int(np.prod(ks[i + 1 :], dtype=np.int64)) for i in range(r)]
        istr = [int(np.prod(insp[i + 1 :], dtype=np.int64)) for i in range(r)]
        kk = cout_g * taps
        wt = w_const.reshape(group, cin_g, kk).transpose(0, 2, 1) if w_const is not None else None  # [g, Cout_g*K, Cin_g]
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
                xg = self.view(x, [cin_g, hw], (ni * cin + g * cin_g) * hw)
                cols = self.alloc(MemRefType(e, [kk, hw]), "cols")
                self.gemm(op, a, xg, cols, kind="deconv_gemm")
                canvas = self.alloc(MemRefType(e, [cout_g, *canvas_shape]), "canvas")
                og = self.view(out, [cout_g, *outsp], (ni * cout + g * cout_g) * ohw)
                bg = self.view(bias, [cout_g], g * cout_g) if bias is not None else None
                b, params = self.kernel("col2im", op, [cols, canvas, og] + ([bg] if bg is not None else []))
                pc, pv, po = params[:3]
                with b.loops([cout_g, *canvas_shape]) as ivs:
                    b.store(b.const(0.0, e), pv, ivs)
                with b.loop(0, cout_g, parallel=cout_g > 1) as co, b.loops(ks, parallel_outer=False) as kis:
                    row = b.affine([(co, taps)] + list(zip(kis, kstr)))
                    with b.loops(insp, parallel_outer=False) as xis:
                        dst = [co] + [b.affine([(xi, st), (ki, d)], sh) for xi, ki, st, d, sh in zip(xis, kis, strides, dil, shift)]
                        v = b.load(pc, [row, b.affine(list(zip(xis, istr)))])
                        b.store(b.value(arith.AddfOp(b.load(pv, dst), v)), pv, dst)
                with b.loops([cout_g, *outsp]) as (co, *ois):
                    y = b.load(pv, [co] + [b.affine([(o, 1)], t) for o, t in zip(ois, tops)])
                    if bg is not None:
                        y = b.value(arith.AddfOp(y, b.load(params[3], [co])))
                    b.store(y, po, [co, *ois])
                finish_kernel(b)

    def _conv_window(self, op, sx, so, kernel):
        """Strides, dilations and pads (begins, then ends) of a conv/pool window."""
        r = len(sx) - 2
        strides = list(_attr(op, "strides") or [1] * r)
        dil = list(_attr(op, "dilations") or [1] * r)
        return strides, dil, self._conv_pads(op, sx[2:], kernel, strides, dil, so[2:])

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

    def batched_conv_gemm(self, op, x, w, bias, out, sx, m, kernel, strides, dil, pads, outsp) -> None:
        """A convolution over a batch of images on the GPU, as GEMMs whose operands the tiles
        copy straight into shared memory (cp.async; gathering B through im2col
        arithmetic left the tensor cores latency-bound at ~50 TFLOP/s on an H100).
        1x1 stride-1: one product per image, the input [C, H*W] as it is (the batch on the
        grid's z axis). Otherwise im2col into [C*taps, N*OH*OW] (rows padded to a multiple
        of 8 columns: 16-byte aligned rows), then one GEMM with every image side by side
        along N, stored back to [N, M, OH*OW]."""
        n, c, insp = sx[0], sx[1], sx[2:]
        r = len(kernel)
        padded = [insp[i] + pads[i] + pads[r + i] for i in range(r)]
        hw, ohw = (int(np.prod(v, dtype=np.int64)) for v in (insp, outsp))
        kk = int(np.prod(kernel, dtype=np.int64))
        wmat = self.view(w, [m, c * kk])
        extra = self.epilogue_args(0, 0, m, ohw, batch=n)
        if kk == 1 and all(st == 1 for st in strides) and padded == list(outsp) and ohw % 8 == 0:
            self.gemm_loops(op, wmat, self.view(x, [n, c, hw]), self.view(out, [n, m, ohw]), bias, "conv_gemm", None,
                            extra, False, batch=n)  # fmt: skip
            return
        cols = n * ohw
        e = x.type.get_element_type()
        buf = self.alloc(MemRefType(e, [c * kk, -(-cols // 8) * 8]), "im2col")
        # the padding is folded in (a tap outside the image reads zero): no padded copy
        b, (px, pbuf) = self.kernel("im2col", op, [self.view(x, [n * c, *insp]), buf])
        with b.loop(0, c * kk, parallel=True) as row, b.loop(0, cols, parallel=True) as j:
            img = b.value(arith.DivUIOp(j, b.index(ohw)))
            ci = b.value(arith.DivUIOp(row, b.index(kk))) if kk > 1 else row
            kis = _unravel(b, b.value(arith.RemUIOp(row, b.index(kk))), kernel) if kk > 1 else [b.index(0)] * r
            ois = _unravel(b, b.value(arith.RemUIOp(j, b.index(ohw))), outsp)
            at = [b.affine([(o, st), (ki, d)], -pads[i]) for i, (o, ki, st, d) in enumerate(zip(ois, kis, strides, dil))]
            inside = None
            zero = b.index(0)
            for i, a in enumerate(at):
                if pads[i] or pads[r + i]:
                    ok = b.value(arith.AndIOp(b.value(arith.CmpiOp(a, zero, "sge")), b.value(arith.CmpiOp(a, b.index(insp[i]), "slt"))))
                    inside = ok if inside is None else b.value(arith.AndIOp(inside, ok))
            if inside is not None:
                at = [b.value(arith.SelectOp(inside, a, zero)) for a in at]
            v = b.load(px, [b.affine([(img, c), (ci, 1)]), *at])
            if inside is not None:
                v = b.value(arith.SelectOp(inside, v, b.const(0.0, e)))
            b.store(v, pbuf, [row, j])
        finish_kernel(b)
        self.gemm_loops(op, wmat, buf, self.view(out, [n, m, ohw]), bias, "conv_gemm", None, extra, False, batch=n,
                        fold_batch=True)  # fmt: skip

    def im2col_load(self, shape, kernel, strides, dil, out_spatial):
        """(load, offsets): B[kk, j] of a convolution's implicit GEMM read from its padded
        input [C, *spatial], flattened: kk = (c, kernel taps), j = output position. The
        address is offsets[kk] (a compile-time table) + the address of output position j's
        window, so only a table read depends on kk, and a GPU tile computes the window part
        once per thread rather than per K step (fewer instructions per element; on an H100
        this alone did not make the batch-1 implicit GEMMs faster: they are latency-bound).
        `load(b, px, kk, j, offsets)` gets the flat input and the table as arguments."""
        padded = shape[1:]
        pstr = [int(np.prod(padded[d + 1 :], dtype=np.int64)) for d in range(len(padded))]
        image = int(np.prod(shape, dtype=np.int64))
        taps = np.stack(np.meshgrid(*[np.arange(kd) for kd in kernel], indexing="ij"), -1).reshape(-1, len(kernel))
        tap_off = (taps * np.array(dil) * np.array(pstr)).sum(-1)
        chan_off = np.arange(shape[0], dtype=np.int64) * int(np.prod(padded, dtype=np.int64))
        offsets = (chan_off[:, None] + tap_off[None, :]).reshape(-1)
        itype = np.int32 if image < (1 << 31) else np.int64  # offsets within one image
        table = self.constant(offsets.astype(itype), "im2col_offsets")

        def load(b, px, kk, j, tab):
            ois = _unravel(b, j, out_spatial)
            window = [(o, st * ps) for o, st, ps in zip(ois, strides, pstr)]
            koff = b.value(arith.IndexCastOp(b.load(tab, [kk]), IndexType()))
            return b.load(px, [b.affine([*window, (koff, 1)])])

        return load, table

    def im2col_packed(self, op, xp, shape, kernel, strides, dil, out_spatial, nr: int) -> SSAValue:
        """im2col straight into the GEMM's packed-B panels Bp[ceil(prod(out)/nr), C*prod(kernel), nr]."""
        cg = shape[0]
        kstr = [int(np.prod(kernel[i + 1 :], dtype=np.int64)) for i in range(len(kernel))]
        ostr = [int(np.prod(out_spatial[i + 1 :], dtype=np.int64)) for i in range(len(out_spatial))]
        n, kk = int(np.prod(out_spatial, dtype=np.int64)), int(np.prod(kernel, dtype=np.int64))
        k = cg * kk
        nb = -(-n // nr)
        bp = self.alloc(MemRefType(xp.type.get_element_type(), [nb, k, nr]), "packed_col")
        b, (px, pp) = self.kernel("im2col", op, [xp, bp])
        e = xp.type.get_element_type()
        if n % nr:
            with b.loop(0, k, parallel=k > 1) as r, b.loop(n % nr, nr, parallel=True) as jj:
                b.store(b.const(0.0, e), pp, [b.index(nb - 1), r, jj])
        with b.loop(0, cg, parallel=cg > 1) as ci, b.loops(kernel) as kis:
            row = b.affine([(ci, kk)] + list(zip(kis, kstr)))
            with b.loops(out_spatial) as ois:
                j = b.affine(list(zip(ois, ostr)))
                src = [ci] + [b.affine([(o, st), (ki, d)]) for o, ki, st, d in zip(ois, kis, strides, dil)]
                dst = [b.value(arith.DivUIOp(j, b.index(nr))), row, b.value(arith.RemUIOp(j, b.index(nr)))]
                b.store(b.load(px, src), pp, dst)
        finish_kernel(b)
        return bp

    def depthwise(self, op, xp, w, bias, out, kernel, strides, dil, extra=(), per_image: int | None = None) -> None:
        """One channel per output row; `per_image`: the rows are a batch of images of that
        many channels (row r uses weight and bias r mod per_image)."""
        m, *outsp = _shape(out)
        kk = int(np.prod(kernel, dtype=np.int64))
        kstr = [int(np.prod(kernel[i + 1 :], dtype=np.int64)) for i in range(len(kernel))]
        ostr = [int(np.prod(outsp[i + 1 :], dtype=np.int64)) for i in range(len(outsp))]
        wv = self.view(w, [per_image or m, kk])
        args = [xp, wv, out] + ([bias] if bias is not None else []) + list(extra)
        b, params = self.kernel("depthwise_conv", op, args)
        px, pw, po = params[:3]
        pextra = params[3 + (bias is not None) :]
        e = out.type.get_element_type()
        with b.loops([m, *outsp]) as (ci, *ois):
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            zero = b.index(0)
            wc = b.value(arith.RemUIOp(ci, b.index(per_image))) if per_image else ci
            b.store(b.load(params[3], [wc]) if bias is not None else b.const(0.0, e), acc, [zero])
            with b.loops(kernel, parallel_outer=False) as kis:
                xv = b.load(px, [ci] + [b.affine([(o, st), (ki, d)]) for o, ki, st, d in zip(ois, kis, strides, dil)])
                wvv = b.load(pw, [wc, b.affine(list(zip(kis, kstr)))])
                b.store(b.value(arith.AddfOp(b.load(acc, [zero]), b.value(arith.MulfOp(xv, wvv)))), acc, [zero])
            y = self.apply_epilogue(b, b.load(acc, [zero]), pextra, ci, b.affine(list(zip(ois, ostr))))
            b.store(y, po, [ci, *ois])
        finish_kernel(b)

    def lower_pool(self, op, x, out, indices: SSAValue | None = None) -> None:
        """MaxPool, AveragePool and LpPool over any number of spatial dims: per image, pad
        into a scratch buffer (MaxPool: the type's lowest value, else 0; far enough for
        ceil_mode windows), then one loop nest over channels, output positions and the
        window. `indices` (MaxPool's second output) gets each maximum's flat position in
        the unpadded input (storage_order 1: spatial dims column-major)."""
        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        kernel = list(_attr(op, "kernel_shape"))
        strides, dil, pads = self._conv_window(op, sx, so, kernel)
        r = len(kernel)
        n, c, insp, outsp = sx[0], sx[1], sx[2:], so[2:]
        kind = {"MaxPool": "max", "AveragePool": "avg", "LpPool": "lp"}[op.OP_TYPE]
        e = out.type.get_element_type()
        dt = onnx_d.numpy_dtype(e)
        is_int = isinstance(e, IntegerType)
        init = (np.iinfo(dt).min if is_int else -np.inf) if kind == "max" else 0.0
        p = float(_attr(op, "p", 2))
        # ceil_mode windows may run past the padded input: pad the end far enough
        ends = [max(pads[r + i], (outsp[i] - 1) * strides[i] + (kernel[i] - 1) * dil[i] + 1 - insp[i] - pads[i]) for i in range(r)]
        # average divisor per output position, known at compile time: window positions
        # inside the input (count_include_pad=0) or inside the padded input (=1); the
        # ceil_mode overhang past the padding never counts
        inv = scale = None
        if kind == "avg":
            divisor = avg_pool_divisor(_attr(op, "count_include_pad", 0), insp, outsp, kernel, strides, dil, pads)
            if np.all(divisor == divisor.flat[0]):
                scale = 1.0 / max(divisor.flat[0], 1)
            else:
                inv = self.constant((1.0 / np.maximum(divisor, 1)).astype(dt), "avg_divisor")
        hw, ohw = int(np.prod(insp, dtype=np.int64)), int(np.prod(outsp, dtype=np.int64))
        # Indices: flat input position = per-image base + sum(mul[i] * coordinate[i])
        order = _attr(op, "storage_order", 0)
        mul = [int(np.prod(insp[:i] if order else insp[i + 1 :], dtype=np.int64)) for i in range(r)]
        if self.gpu and indices is None:
            # channels are independent: every image in one kernel, n * c channels (a launch
            # per image is a launch per image and channel block at batch 32)
            n, c = 1, n * c
        for ni in range(n):
            xn = self.view(x, [c, *insp], ni * c * hw)
            on = self.view(out, [c, *outsp], ni * c * ohw)
            xp = self.pad_into(op, xn, [c, *insp], pads[:r] + ends, init)
            args = [xp, on] + ([inv] if inv is not None else [])
            if indices is not None:
                args.append(self.view(indices, [c, *outsp], ni * c * ohw))
            b, params = self.kernel({"max": "maxpool", "avg": "avgpool", "lp": "lppool"}[kind], op, args)
            px, po = params[:2]
            with b.loops([c, *outsp]) as (ci, *ois):
                zero = b.index(0)
                acc = b.value(memref.AllocaOp.get(e, shape=[1]))
                b.store(b.const(init, e), acc, [zero])
                if indices is not None:
                    where = b.value(memref.AllocaOp.get(i64, shape=[1]))
                    first = self._first_inside(b, ois, strides, dil, pads)
                    start = b.affine([(ci, hw)] + [(f, m) for f, m in zip(first, mul)], ni * c * hw)
                    b.store(b.value(arith.IndexCastOp(start, i64)), where, [zero])
                with b.loops(kernel, parallel_outer=False) as kis:
                    xv = b.load(px, [ci] + [b.affine([(o, s), (k, d)]) for o, k, s, d in zip(ois, kis, strides, dil)])
                    cur = b.load(acc, [zero])
                    if indices is not None:  # the first maximum wins; padding never does
                        take = b.value(arith.CmpiOp(xv, cur, "ugt" if _unsigned(e) else "sgt") if is_int else arith.CmpfOp(xv, cur, "ogt"))
                        pos = b.affine(
                            [(ci, hw)] + [t for o, k, s, d, m in zip(ois, kis, strides, dil, mul) for t in ((o, s * m), (k, d * m))],
                            ni * c * hw - sum(pd * m for pd, m in zip(pads, mul)),
                        )
                        b.store(b.value(arith.SelectOp(take, xv, cur)), acc, [zero])
                        b.store(b.value(arith.SelectOp(take, b.value(arith.IndexCastOp(pos, i64)), b.load(where, [zero]))), where, [zero])
                    elif kind == "max":
                        mx = (arith.MaxUIOp if _unsigned(e) else arith.MaxSIOp)(cur, xv) if is_int else arith.MaximumfOp(cur, xv)
                        b.store(b.value(mx), acc, [zero])
                    else:
                        b.store(b.value(arith.AddfOp(cur, xv if kind == "avg" else self._abs_pow(b, xv, p))), acc, [zero])
                y = b.load(acc, [zero])
                if kind == "avg":
                    y = b.value(arith.MulfOp(y, b.load(params[2], list(ois)) if inv is not None else b.const(scale, e)))
                elif kind == "lp" and p != 1:
                    y = b.value(math.SqrtOp(y) if p == 2 else math.PowFOp(y, b.const(1.0 / p, e)))
                b.store(y, po, [ci, *ois])
                if indices is not None:
                    b.store(b.load(where, [zero]), params[-1], [ci, *ois])
            finish_kernel(b)

    @staticmethod
    def _abs_pow(b, x: SSAValue, p: float) -> SSAValue:
        """|x| ** p (p = 2: x * x)."""
        if p == 2:
            return b.value(arith.MulfOp(x, x))
        ax = b.value(math.AbsFOp(x))
        return ax if p == 1 else b.value(math.PowFOp(ax, b.const(p, x.type)))

    @staticmethod
    def _first_inside(b, ois, strides, dil, pads) -> list[SSAValue]:
        """Per spatial dim, the input coordinate of a window's first tap inside the
        unpadded input: o*s - pad, moved up by whole dilations while negative."""
        first = []
        for o, s, d, pd in zip(ois, strides, dil, pads):
            c0 = b.affine([(o, s)], -pd)
            if pd == 0:
                first.append(c0)
                continue
            behind = b.value(arith.MaxSIOp(b.affine([(o, -s)], pd), b.index(0)))
            steps = behind if d == 1 else b.value(arith.DivUIOp(b.affine([(behind, 1)], d - 1), b.index(d)))
            first.append(b.affine([(c0, 1), (steps, d)]))
        return first

    def lower_global_pool(self, op, x, out) -> None:
        sx = _shape(op.operands[0])
        n, c = sx[:2]
        hw = int(np.prod(sx[2:], dtype=np.int64))
        self.reduce_rows(op, self.view(x, [n * c, hw]), self.view(out, [n * c]), "max" if "Max" in op.OP_TYPE else "mean")
