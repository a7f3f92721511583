"""Data movement: gathers, Resize, Tile, Transpose, Concat, Split, Slice, Pad."""

from __future__ import annotations

import numpy as np
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import IndexType, NoneType, StridedLayoutAttr, f32
from xdsl.ir import SSAValue

from hetc.dialects import onnx as onnx_d
from hetc.diagnostics import UnsupportedError
from hetc.passes.kernel_regions import KIND_ATTR
from hetc.passes.loop_builder import LoopBuilder, finish_kernel
from hetc.passes.loops.fused import split_epilogue

from hetc.passes.loops.ops import _attr, _const_array, _shape


def _in_attention_group(op) -> bool:
    """Is `op` in a hetc-fuse attention group (lowered as one kernel that reads its operands itself)?"""
    kind = op.attributes.get(KIND_ATTR)
    return kind is not None and kind.data == "attention"


class MovementLowering:
    """Mixin of the loop lowering (see convert_onnx_to_loops)."""

    def _index_value(self, b: LoopBuilder, raw: SSAValue, dim: int) -> SSAValue:
        """An integer tensor element as an index into a dim of size `dim` (negative counts from the end)."""
        itype = raw.type
        neg = b.value(arith.CmpiOp(raw, b.const(0, itype), "slt"))
        fixed = b.value(arith.SelectOp(neg, b.value(arith.AddiOp(raw, b.const(dim, itype))), raw))
        return b.value(arith.IndexCastOp(fixed, IndexType()))

    def lower_gather_elements(self, op, data, indices, out) -> None:
        sd = _shape(op.operands[0])
        axis = _attr(op, "axis", 0) % len(sd)
        b, (pd, pi, po) = self.kernel("gather_elements", op, [data, indices, out])
        with b.loops(_shape(op.results[0])) as ivs:
            idx = list(ivs)
            idx[axis] = self._index_value(b, b.load(pi, ivs), sd[axis])
            b.store(b.load(pd, idx), po, ivs)
        finish_kernel(b)

    def lower_gather_nd(self, op, data, indices, out) -> None:
        sd, si, so = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
        bd = _attr(op, "batch_dims", 0)
        last = si[-1]
        q = len(si)
        b, (pd, pi, po) = self.kernel("gather_nd", op, [data, indices, out])
        with b.loops(so) as ivs:
            lead = list(ivs[: q - 1])
            src = lead[:bd]
            for k in range(last):
                src.append(self._index_value(b, b.load(pi, lead + [b.index(k)]), sd[bd + k]))
            src += list(ivs[q - 1 :])
            b.store(b.load(pd, src), po, ivs)
        finish_kernel(b)

    def lower_gather(self, op, data, indices, out) -> None:
        sd, si = _shape(op.operands[0]), _shape(op.operands[1])
        axis = _attr(op, "axis", 0) % len(sd)
        so = _shape(op.results[0])
        b, (pd, pi, po) = self.kernel("gather", op, [data, indices, out])
        r = len(si)
        with b.loops(so) as ivs:
            idx = self._index_value(b, b.load(pi, ivs[axis : axis + r]), sd[axis])
            src = list(ivs[:axis]) + [idx] + list(ivs[axis + r :])
            b.store(b.load(pd, src), po, ivs)
        finish_kernel(b)

    def resize_taps(self, op) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Resize per axis as taps: for each output position, source indices and weights
        (padded with weight 0), and whether it takes extrapolation_value instead
        (tf_crop_and_resize). Every ONNX Resize mode is separable per axis and linear
        in X, so the NumPy oracle's own 1-D resampling of basis vectors gives exactly
        the matrix the op applies; compile-time only."""
        from hetc.backends.numpy.kernels.image import resize_axis_matrix, resize_lengths

        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        rank = len(sx)
        attrs = {k: onnx_d.attribute_to_python(v) for k, v in op.onnx_attributes().items()}
        ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
        axes = [int(a) % rank for a in (attrs.get("axes") or range(rank))]
        roi, scales, sizes = (_const_array(op, i) for i in (1, 2, 3))
        roi = roi.astype(np.float64).reshape(-1) if roi is not None and roi.size and ctm == "tf_crop_and_resize" else None
        scales = scales if scales is not None and scales.size else None
        sizes = sizes if sizes is not None and sizes.size else None
        out_len, scale_of = resize_lengths(sx, axes, roi, scales, sizes, ctm, attrs.get("keep_aspect_ratio_policy", "stretch"))
        taps = []
        for a in range(rank):
            if a not in axes:
                matrix, outside = np.eye(sx[a]), np.zeros(sx[a], bool)
            else:
                k = axes.index(a)
                if out_len[a] != so[a]:
                    raise UnsupportedError(f"Resize output length {so[a]} along axis {a} disagrees with the "
                                           f"{out_len[a]} its inputs give", node=op.node_name, op_type="Resize")
                rs, re = (roi[k], roi[len(axes) + k]) if roi is not None else (0.0, 1.0)
                matrix, outside = resize_axis_matrix(sx[a], so[a], scale_of[a], rs, re, **attrs)
            width = max(1, int((matrix != 0).sum(axis=1).max()))
            idx = np.zeros((so[a], width), np.int64)
            wts = np.zeros((so[a], width), np.float64)
            for o in range(so[a]):
                nz = np.flatnonzero(matrix[o])
                idx[o, : len(nz)] = nz
                wts[o, : len(nz)] = matrix[o, nz]
            taps.append((idx, wts, outside))
        return taps

    def lower_resize(self, op, x, out) -> None:
        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        rank = len(sx)
        where = {"node": op.node_name, "op_type": "Resize"}
        if rank < 2:
            raise UnsupportedError("Resize is lowered only along the last two axes", **where)
        taps = self.resize_taps(op)
        for idx, wts, outside in taps[:-2]:  # leading axes must come out unchanged
            n = idx.shape[0]
            if idx.shape[1] != 1 or outside.any() or not (idx[:, 0] == np.arange(n)).all() or not (wts == 1).all():
                raise UnsupportedError("Resize is lowered only along the last two axes", **where)
        e = out.type.get_element_type()
        dt = onnx_d.numpy_dtype(e)
        (ih, wh, out_h), (iw, ww, out_w) = taps[-2], taps[-1]
        extrapolate = bool(out_h.any() or out_w.any())
        planes = int(np.prod(sx[:-2], dtype=np.int64))
        xv = self.view(x, [planes, sx[-2], sx[-1]])
        ov = self.view(out, [planes, so[-2], so[-1]])
        tables = [self.constant(ih, "rows"), self.constant(wh.astype(dt), "row_weights"),
                  self.constant(iw, "cols"), self.constant(ww.astype(dt), "col_weights")]
        if extrapolate:  # 1 where the output samples the input, 0 where it takes extrapolation_value
            tables += [self.constant((~out_h).astype(dt), "rows_inside"), self.constant((~out_w).astype(dt), "cols_inside")]
        b, params = self.kernel("resize", op, [xv, ov, *tables])
        px, po, pih, pwh, piw, pww = params[:6]
        with b.loop(0, planes, parallel=planes > 1) as pi, b.loop(0, so[-2], parallel=so[-2] > 1) as oy, b.loop(0, so[-1], parallel=so[-1] > 1) as ox:
            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            zero = b.index(0)
            b.store(b.const(0.0, e), acc, [zero])
            with b.loop(0, ih.shape[1]) as a:
                y = b.value(arith.IndexCastOp(b.load(pih, [oy, a]), IndexType()))
                wy = b.load(pwh, [oy, a])
                with b.loop(0, iw.shape[1]) as c:
                    xx = b.value(arith.IndexCastOp(b.load(piw, [ox, c]), IndexType()))
                    w = b.value(arith.MulfOp(wy, b.load(pww, [ox, c])))
                    term = b.value(arith.MulfOp(w, b.load(px, [pi, y, xx])))
                    b.store(b.value(arith.AddfOp(b.load(acc, [zero]), term)), acc, [zero])
            result = b.load(acc, [zero])
            if extrapolate:
                inside = b.value(arith.MulfOp(b.load(params[6], [oy]), b.load(params[7], [ox])))
                outside = b.value(arith.CmpfOp(inside, b.const(0.0, e), "oeq"))
                fill = b.const(float(_attr(op, "extrapolation_value", 0.0)), e)
                result = b.value(arith.SelectOp(outside, fill, result))
            b.store(result, po, [pi, oy, ox])
        finish_kernel(b)

    def lower_tile(self, op, x, out) -> None:
        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        b, (px, po) = self.kernel("tile", op, [x, out])
        with b.loops(so) as ivs:
            b.store(b.load(px, [b.value(arith.RemUIOp(iv, b.index(n))) if n > 1 else b.index(0)
                                for iv, n in zip(ivs, sx)]), po, ivs)
        finish_kernel(b)

    def transposed_operand(self, op, outputs) -> bool:
        """Is `op` a Transpose of the last two axes whose one user is a MatMul reading it
        as B (not a graph output)? That MatMul can read B[k, j] as x[j, k] instead."""
        rank = len(_shape(op.results[0]))
        perm = _attr(op, "perm") or list(reversed(range(rank)))
        uses = list(op.results[0].uses)
        return (
            rank >= 2 and list(perm) == [*range(rank - 2), rank - 1, rank - 2] and op.results[0] not in outputs
            and len(uses) == 1 and isinstance(uses[0].operation, onnx_d.OnnxOp)
            and uses[0].operation.OP_TYPE == "MatMul" and uses[0].index == 1 and op.operands[0] in self.buffers
        )

    def scaled_operand(self, op, outputs) -> int | None:
        """For a float32 Mul by a scalar constant read only as A by a MatMul (not one whose
        group ends in a Split: it lowers its own epilogue; B not a constant) and not a graph
        output: the position of the constant (the MatMul can scale its products instead:
        (s A) B = s (A B); a fused attention group scales its scores)."""
        uses = list(op.results[0].uses)
        if op.results[0] in outputs or len(uses) != 1 or op.results[0].type.get_element_type() != f32:
            return None
        user = uses[0].operation
        if not isinstance(user, onnx_d.OnnxOp) or user.OP_TYPE != "MatMul" or uses[0].index != 0 or \
                onnx_d.constant_value(user.operands[1]) is not None or split_epilogue(user)[0] is not None:
            return None
        for pos in (0, 1):
            c = onnx_d.constant_value(op.operands[pos])
            if c is not None and c.size == 1 and op.operands[pos] in self.buffers and op.operands[1 - pos] in self.buffers \
                    and _shape(op.operands[1 - pos]) == _shape(op.results[0]):
                return pos
        return None

    def transposed_store(self, final: SSAValue, outputs) -> tuple | None:
        """(Transpose, ops between, its input shape, perm) when `final` (a GEMM's result,
        after its epilogue) is read only by a Transpose, maybe through a Reshape, and
        neither is a graph output: the GEMM can store straight into the Transpose's
        output (attention's heads merged back, a qkv projection split into heads)."""
        between, cur = [], final
        for _ in range(2):
            uses = list(cur.uses)
            if cur in outputs or len(uses) != 1 or not isinstance(uses[0].operation, onnx_d.OnnxOp):
                return None
            user = uses[0].operation
            if user.OP_TYPE == "Transpose" and user.results[0] not in outputs and not _in_attention_group(user):
                rank = len(_shape(cur))
                return user, between, _shape(cur), list(_attr(user, "perm") or reversed(range(rank)))
            if user.OP_TYPE != "Reshape" or uses[0].index != 0 or between:
                return None
            between.append(user)
            cur = user.results[0]
        return None

    def lower_transpose(self, op, x, out) -> None:
        so = _shape(op.results[0])
        rank = len(so)
        perm = _attr(op, "perm") or list(reversed(range(rank)))
        b, (px, po) = self.kernel("transpose", op, [x, out])
        with b.loops(so) as ivs:
            idx = [None] * rank
            for d, p in enumerate(perm):
                idx[p] = ivs[d]
            b.store(b.load(px, idx), po, ivs)
        finish_kernel(b)

    def lower_concat(self, op, ins, out) -> None:
        so = _shape(op.results[0])
        axis = _attr(op, "axis") % len(so)
        b, params = self.kernel("concat", op, [*ins, out])
        offset = 0
        for p in params[:-1]:
            s = _shape(p)
            with b.loops(s) as ivs:
                idx = list(ivs)
                idx[axis] = b.affine([(ivs[axis], 1)], offset)
                b.store(b.load(p, ivs), params[-1], idx)
            offset += s[axis]
        finish_kernel(b)

    def lower_split(self, op, outputs) -> None:
        x = self.buffers[op.operands[0]]
        sx = _shape(op.operands[0])
        axis = _attr(op, "axis", 0) % len(sx)
        if int(np.prod(sx[:axis], dtype=np.int64)) == 1 and not any(r in outputs for r in op.results) \
                and not isinstance(x.type.layout, StridedLayoutAttr):
            # each piece is a contiguous run of x (a transformer's q, k, v after the qkv
            # projection's transpose): views of it, no copy kernel
            inner, offset = int(np.prod(sx[axis + 1 :], dtype=np.int64)), 0
            for r in op.results:
                self.buffers[r] = self.view(x, _shape(r), offset * inner)
                offset += _shape(r)[axis]
            return
        outs = [self.out_buffer(r, outputs) for r in op.results]
        for r, o in zip(op.results, outs):
            self.buffers[r] = o
        b, params = self.kernel("split", op, [x, *outs])
        offset = 0
        for p in params[1:]:
            s = _shape(p)
            with b.loops(s) as ivs:
                idx = list(ivs)
                idx[axis] = b.affine([(ivs[axis], 1)], offset)
                b.store(b.load(params[0], idx), p, ivs)
            offset += s[axis]
        finish_kernel(b)

    def lower_slice(self, op, x, out) -> None:
        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        starts = _const_array(op, 1)  # the ends are implied by the static result shape
        axes = _const_array(op, 3)
        steps = _const_array(op, 4)
        rank = len(sx)
        axes_l = [int(a) % rank for a in (axes if axes is not None else range(len(starts)))]
        steps_l = [int(s) for s in (steps if steps is not None else [1] * len(axes_l))]
        first = [0] * rank
        step = [1] * rank
        for a, s0, st in zip(axes_l, starts, steps_l):
            dim = sx[a]
            s0 = int(s0) + dim if s0 < 0 else int(s0)
            s0 = min(max(s0, 0), dim) if st > 0 else min(max(s0, -1), dim - 1)
            first[a], step[a] = s0, st
        b, (px, po) = self.kernel("slice", op, [x, out])
        with b.loops(so) as ivs:
            idx = [b.affine([(iv, step[d])], first[d]) for d, iv in enumerate(ivs)]
            b.store(b.load(px, idx), po, ivs)
        finish_kernel(b)

    def lower_pad_op(self, op, x, out) -> None:
        if _attr(op, "mode", "constant") != "constant":
            raise UnsupportedError("only constant Pad is lowered yet", node=op.node_name, op_type="Pad")
        pads = _const_array(op, 1)
        value = _const_array(op, 2)
        if (len(op.operands) > 3 and not isinstance(op.operands[3].type, NoneType)) or pads is None or (pads < 0).any():
            raise UnsupportedError("Pad with axes or negative pads is not lowered yet", node=op.node_name, op_type="Pad")
        sx, so = _shape(op.operands[0]), _shape(op.results[0])
        b, (px, po) = self.kernel("pad", op, [x, out])
        e = out.type.get_element_type()
        with b.loops(so) as ivs:
            b.store(b.const(float(value.reshape(-1)[0]) if value is not None else 0.0, e), po, ivs)
        with b.loops(sx) as ivs:
            b.store(b.load(px, ivs), po, [b.affine([(iv, 1)], int(pads[d])) for d, iv in enumerate(ivs)])
        finish_kernel(b)
