"""Channels-last (NHWC) convolutions and pools, for the regions hetc-choose-layout
turned channels-last.

A convolution is one GEMM per image: rows are output pixels, columns output
channels. im2col copies each tap's C contiguous channels into a row, with the
padding folded in (taps outside the image read zero), and 1x1 stride-1 convolutions
read the activations in place; weights are packed once, at compile time, as the
GEMM's B panels. Depthwise convolutions and pools vectorize over channels.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import MemRefType
from xdsl.ir import SSAValue

from hetc.dialects import onnx as onnx_d
from hetc.passes.loop_builder import LoopBuilder, finish_kernel

from hetc.passes.loops.conv import avg_pool_divisor
from hetc.passes.loops.ops import _attr, _shape


def is_nhwc(op) -> bool:
    a = op.attributes.get("hetc.layout")
    return a is not None and a.data == "NHWC"


class NhwcLowering:
    """Mixin of the loop lowering (see convert_onnx_to_loops)."""

    def _window(self, op, h: int, w: int, kernel: list[int], oh: int, ow: int):
        strides = _attr(op, "strides") or [1, 1]
        dil = _attr(op, "dilations") or [1, 1]
        pads = self._conv_pads(op, [h, w], kernel, strides, dil, [oh, ow])
        return strides, dil, pads

    def _tap(self, b: LoopBuilder, oi, oj, ki, kj, strides, dil, pads, h: int, w: int, check: bool | None = None):
        """Input pixel of output (oi, oj), tap (ki, kj): (row, col, inside?) where an
        outside tap's indices are clamped to 0 (inside is None when none can be outside:
        no padding, unless `check` says a window overhangs the end, as in ceil_mode)."""
        ih = b.affine([(oi, strides[0]), (ki, dil[0])], -pads[0])
        iw = b.affine([(oj, strides[1]), (kj, dil[1])], -pads[1])
        if not (any(pads) if check is None else check):
            return ih, iw, None
        zero = b.index(0)
        conds = [
            b.value(arith.CmpiOp(ih, zero, "sge")), b.value(arith.CmpiOp(ih, b.index(h), "slt")),
            b.value(arith.CmpiOp(iw, zero, "sge")), b.value(arith.CmpiOp(iw, b.index(w), "slt")),
        ]
        inside = conds[0]
        for c in conds[1:]:
            inside = b.value(arith.AndIOp(inside, c))
        ih = b.value(arith.SelectOp(inside, ih, zero))
        iw = b.value(arith.SelectOp(inside, iw, zero))
        return ih, iw, inside

    def lower_conv_nhwc(self, op, ins, out) -> None:
        x, bias = ins[0], ins[2] if len(ins) > 2 else None
        (n, h, wd, c), (m, cg, kh, kw), (_, oh, ow, _) = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
        strides, dil, pads = self._window(op, h, wd, [kh, kw], oh, ow)
        w = onnx_d.constant_value(op.operands[1]).astype(onnx_d.numpy_dtype(out.type.get_element_type()))
        if _attr(op, "group", 1) != 1:  # depthwise (the only grouped form choose-layout admits)
            taps = self.constant(np.ascontiguousarray(w.reshape(m, kh * kw).T), "w_taps")
            for ni in range(n):
                extra = self.epilogue_args(ni * oh * ow * m, 0, oh * ow, m)
                xn = self.view(x, [h, wd, c], ni * h * wd * c)
                on = self.view(out, [oh * ow, m], ni * oh * ow * m)
                self._depthwise_nhwc(op, xn, taps, bias, on, [kh, kw], [oh, ow], strides, dil, pads, extra)
            return
        # B[K, M], K ordered (tap row, tap column, channel) like an im2col row
        wb = self.constant(np.ascontiguousarray(w.transpose(2, 3, 1, 0).reshape(kh * kw * cg, m)), "w_hwio")
        direct = kh == kw == 1 and strides == [1, 1] and not any(pads)
        for ni in range(n):
            xn = self.view(x, [h, wd, c], ni * h * wd * c)
            a = self.view(x, [h * wd, c], ni * h * wd * c) if direct else self._im2col_nhwc(op, xn, [kh, kw], [oh, ow], strides, dil, pads)
            extra = self.epilogue_args(ni * oh * ow * m, 0, oh * ow, m)
            on = self.view(out, [oh * ow, m], ni * oh * ow * m)
            self.gemm(op, a, wb, on, bias, kind="conv_gemm_nhwc", extra=extra, a_rows=True, bias_per_col=True)

    def _im2col_nhwc(self, op, xn, kernel, out_spatial, strides, dil, pads) -> SSAValue:
        h, wd, c = _shape(xn)
        kh, kw = kernel
        oh, ow = out_spatial
        e = xn.type.get_element_type()
        cols = self.alloc(MemRefType(e, [oh * ow, kh * kw * c]), "cols")
        b, (px, pc) = self.kernel("im2col_nhwc", op, [xn, cols])
        with b.loop(0, oh, parallel=oh > 1) as oi, b.loop(0, ow, parallel=ow > 1) as oj, b.loop(0, kh, parallel=kh > 1) as ki, b.loop(0, kw, parallel=kw > 1) as kj:
            ih, iw, inside = self._tap(b, oi, oj, ki, kj, strides, dil, pads, h, wd)
            row = b.affine([(oi, ow), (oj, 1)])
            with b.loop(0, c) as ci:
                v = b.load(px, [ih, iw, ci])
                if inside is not None:
                    v = b.value(arith.SelectOp(inside, v, b.const(0.0, e)))
                b.store(v, pc, [row, b.affine([(ki, kw * c), (kj, c), (ci, 1)])])
        finish_kernel(b)
        return cols

    def _depthwise_nhwc(self, op, xn, taps, bias, on, kernel, out_spatial, strides, dil, pads, extra) -> None:
        h, wd, c = _shape(xn)
        kh, kw = kernel
        oh, ow = out_spatial
        e = on.type.get_element_type()
        args = [xn, taps, on] + ([bias] if bias is not None else []) + list(extra)
        b, params = self.kernel("depthwise_nhwc", op, args)
        px, pw, po = params[:3]
        pextra = params[3 + (bias is not None) :]
        with b.loop(0, oh, parallel=oh > 1) as oi:
            with b.loop(0, ow, parallel=ow > 1) as oj:
                acc = b.value(memref.AllocaOp.get(e, shape=[c]))
                with b.loop(0, c) as ci:
                    b.store(b.load(params[3], [ci]) if bias is not None else b.const(0.0, e), acc, [ci])
                with b.loop(0, kh) as ki, b.loop(0, kw) as kj:
                    ih, iw, inside = self._tap(b, oi, oj, ki, kj, strides, dil, pads, h, wd)
                    tap = b.affine([(ki, kw), (kj, 1)])
                    with b.loop(0, c) as ci:
                        v = b.load(px, [ih, iw, ci])
                        if inside is not None:
                            v = b.value(arith.SelectOp(inside, v, b.const(0.0, e)))
                        prod = b.value(arith.MulfOp(v, b.load(pw, [tap, ci])))
                        b.store(b.value(arith.AddfOp(b.load(acc, [ci]), prod)), acc, [ci])
                row = b.affine([(oi, ow), (oj, 1)])
                with b.loop(0, c) as ci:
                    b.store(b.load(acc, [ci]), po, [row, ci])
            # the epilogue (bias is in already) runs over each finished output row: in the
            # store loop above it made gcc compile the whole kernel 3x slower (ReLU6 measured)
            if self.epilogue:
                with b.loop(0, ow) as oj, b.loop(0, c) as ci:
                    row = b.affine([(oi, ow), (oj, 1)])
                    b.store(self.apply_epilogue(b, b.load(po, [row, ci]), pextra, row, ci), po, [row, ci])
        finish_kernel(b)

    def lower_pool_nhwc(self, op, x, out) -> None:
        (n, h, wd, c), (_, oh, ow, _) = _shape(op.operands[0]), _shape(op.results[0])
        kernel = list(_attr(op, "kernel_shape"))
        strides, dil, pads = self._window(op, h, wd, kernel, oh, ow)
        is_max = op.OP_TYPE == "MaxPool"
        e = out.type.get_element_type()
        fill = -np.inf if is_max else 0.0
        # windows may overhang the input (pads, ceil_mode): such taps read `fill`
        overhang = any(pads) or any(
            (o - 1) * s + (k - 1) * d + 1 > size for o, s, k, d, size in zip([oh, ow], strides, kernel, dil, [h, wd])
        )
        inv = None
        if not is_max:
            divisor = avg_pool_divisor(_attr(op, "count_include_pad", 0), [h, wd], [oh, ow], kernel, strides, dil, pads)
            inv = (1.0 / np.maximum(divisor, 1)).astype(onnx_d.numpy_dtype(e))
        inv_ref = self.constant(inv.reshape(oh * ow), "avg_divisor") if inv is not None and not np.all(inv == inv.flat[0]) else None
        for ni in range(n):
            xn = self.view(x, [h, wd, c], ni * h * wd * c)
            on = self.view(out, [oh * ow, c], ni * oh * ow * c)
            b, params = self.kernel("maxpool_nhwc" if is_max else "avgpool_nhwc", op, [xn, on] + ([inv_ref] if inv_ref is not None else []))
            px, po = params[:2]
            with b.loop(0, oh, parallel=oh > 1) as oi, b.loop(0, ow, parallel=ow > 1) as oj:
                acc = b.value(memref.AllocaOp.get(e, shape=[c]))
                with b.loop(0, c) as ci:
                    b.store(b.const(fill, e), acc, [ci])
                with b.loop(0, kernel[0]) as ki, b.loop(0, kernel[1]) as kj:
                    ih, iw, inside = self._tap(b, oi, oj, ki, kj, strides, dil, pads, h, wd, check=overhang)
                    with b.loop(0, c) as ci:
                        v = b.load(px, [ih, iw, ci])
                        if inside is not None:
                            v = b.value(arith.SelectOp(inside, v, b.const(fill, e)))
                        cur = b.load(acc, [ci])
                        b.store(b.value(arith.MaximumfOp(cur, v) if is_max else arith.AddfOp(cur, v)), acc, [ci])
                row = b.affine([(oi, ow), (oj, 1)])
                scale = None
                if inv is not None:
                    scale = b.load(params[2], [row]) if inv_ref is not None else b.const(float(inv.flat[0]), e)
                with b.loop(0, c) as ci:
                    y = b.load(acc, [ci])
                    if scale is not None:
                        y = b.value(arith.MulfOp(y, scale))
                    b.store(y, po, [row, ci])
            finish_kernel(b)

    def lower_global_pool_nhwc(self, op, x, out) -> None:
        n, h, wd, c = _shape(op.operands[0])
        how = "max" if "Max" in op.OP_TYPE else "mean"
        self.reduce(op, self.view(x, [n, h * wd, c]), self.view(out, [n * c]), [0, 2], [1], how)
