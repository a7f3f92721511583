"""Register-tiled GEMM on packed panels, with fused epilogues (bias, activations, residuals)."""

from __future__ import annotations

import contextlib

from contextlib import contextmanager

import numpy as np
from xdsl.dialects import arith, memref
from xdsl.dialects.builtin import ArrayAttr, IntegerAttr, MemRefType, NoneType, UnitAttr, f32
from xdsl.ir import SSAValue

from hetc.dialects import onnx as onnx_d
from hetc.passes.loop_builder import LoopBuilder, finish_kernel

#: on a kernel function: [M, N, K] of the plain GEMM nest it holds (GPU loop form)
GEMM_ATTR = "hetc.gemm"
#: on that nest's reduction loop
GEMM_K_ATTR = "hetc.gemm_k"
#: on the outer parallel loop of a batched GEMM nest (GPU loop form): B independent
#: [M, N, K] products in one kernel (a GPU printer puts the batch on the grid's z axis)
GEMM_BATCH_ATTR = "hetc.gemm_batch"

from hetc.passes.loops.ops import FUSABLE_UNARY, _broadcast_mode, _clip_args, _shape, permuted_subscript
from hetc.passes.loops.scalar import _scalar


class GemmLowering:
    """Mixin of the loop lowering (see convert_onnx_to_loops)."""

    def epilogue_chain(self, op, outputs) -> list[tuple[onnx_d.OnnxOp, int, str]]:
        """The single-use elementwise ops after a Conv/MatMul that its GEMM can apply
        while storing: (op, position of the running value, how the other operand is
        indexed: unary | full | row | col | scalar)."""
        chain = []
        cur = op.results[0]
        rshape = _shape(cur)
        group = op.attributes.get("hetc.group")
        while cur not in outputs and len(list(cur.uses)) == 1:
            user = next(iter(cur.uses)).operation
            if not isinstance(user, onnx_d.OnnxOp) or _shape(user.results[0]) != rshape:
                break
            if group is not None and user.attributes.get("hetc.group") != group:
                break  # hetc-fuse put it in another kernel (without hetc-fuse: all that fit)
            if user.results[0].type.get_element_type() != f32:
                break
            t = user.OP_TYPE
            if t in FUSABLE_UNARY and user.operands[0] is cur and all(
                onnx_d.constant_value(v) is not None for v in user.operands[1:] if not isinstance(v.type, NoneType)
            ):
                chain.append((user, 0, "unary"))
            elif t in ("Add", "Sub", "Mul", "Div") and (user.operands[0] is cur) != (user.operands[1] is cur):
                pos = 0 if user.operands[0] is cur else 1
                other = user.operands[1 - pos]
                if other not in self.buffers and onnx_d.constant_value(other) is not None:
                    # a constant defined after the GEMM (decompositions put them beside
                    # their user): make its weight now
                    self.lower_op(other.owner, outputs)
                if other not in self.buffers:  # computed later in program order
                    break
                # a channels-last convolution's GEMM is pixels x channels, like a MatMul's
                # rows x columns; its rows are not a broadcastable dimension
                nhwc = op.attributes.get("hetc.layout") is not None
                mode = _broadcast_mode(_shape(other), rshape, "MatMul" if nhwc else op.OP_TYPE)
                if mode is None or (nhwc and mode == "row"):
                    break
                chain.append((user, pos, mode))
            else:
                break
            self.fused.add(user)
            cur = user.results[0]
        return chain

    def epilogue_args(self, c_offset: int, row_offset: int, rows: int, cols: int, batch: int = 0) -> list[SSAValue]:
        """Views of the epilogue's other operands for one GEMM call (`batch` > 0: for a
        batched nest, full operands as [batch, rows, cols])."""
        args = []
        for user, pos, mode in self.epilogue:
            if mode == "unary":
                continue
            other = self.buffers[user.operands[1 - pos]]
            if mode == "full":
                args.append(self.view(other, [batch, rows, cols] if batch else [rows, cols], c_offset))
            elif mode == "row":
                args.append(self.view(other, [rows], row_offset))
            elif mode == "col":
                args.append(self.view(other, [cols]))
            else:
                args.append(self.view(other, [1]))
        return args

    def apply_epilogue(self, b: LoopBuilder, y: SSAValue, params: list[SSAValue], row, col, bt=None) -> SSAValue:
        it = iter(params)
        for user, pos, mode in self.epilogue:
            if mode == "unary":
                extras = [
                    b.const(float(onnx_d.constant_value(v).reshape(-1)[0]), y.type) if not isinstance(v.type, NoneType) else None
                    for v in user.operands[1:]
                ]
                xs = [y, *extras] if user.OP_TYPE == "Clip" else [y]
                y = _scalar(b, user, _clip_args(xs) if user.OP_TYPE == "Clip" else xs)
                continue
            p = next(it)
            full = [row, col] if bt is None else [bt, row, col]
            idx = {"full": full, "row": [row], "col": [col], "scalar": [b.index(0)]}[mode]
            v = b.load(p, idx)
            y = _scalar(b, user, [y, v] if pos == 0 else [v, y])
        return y

    def packed_a(self, op, a: SSAValue, mr: int) -> SSAValue:
        """A[M,K] as row panels Ap[ceil(M/mr), K, mr] (zero rows pad the last panel)."""
        m, k = _shape(a)
        mb = -(-m // mr)
        owner_global = self._global_array(a)
        if owner_global is not None:  # weights: packed once, at compile time
            padded = np.zeros((mb * mr, k), owner_global.dtype)
            padded[:m] = owner_global[: m * k].reshape(m, k)
            return self.constant(padded.reshape(mb, mr, k).transpose(0, 2, 1), "packed_a")
        ap = self.alloc(MemRefType(a.type.get_element_type(), [mb, k, mr]), "packed_a")
        b, (pa, pp) = self.kernel("pack_a", op, [a, ap])
        e = a.type.get_element_type()
        with b.loop(0, mb, parallel=mb > 1) as ib, b.loop(0, k) as kk, b.loop(0, mr) as ii:
            b.store(b.const(0.0, e), pp, [ib, kk, ii])
        with b.loop(0, m, parallel=m > 1) as i, b.loop(0, k) as kk:
            b.store(b.load(pa, [i, kk]), pp, [b.value(arith.DivUIOp(i, b.index(mr))), kk, b.value(arith.RemUIOp(i, b.index(mr)))])
        finish_kernel(b)
        return ap

    def packed_b(self, op, bmat: SSAValue, nr: int) -> SSAValue:
        """B[K,N] as column panels Bp[ceil(N/nr), K, nr] (zero columns pad the last)."""
        k, n = _shape(bmat)
        nb = -(-n // nr)
        const = self._global_array(bmat)
        if const is not None:
            padded = np.zeros((k, nb * nr), const.dtype)
            padded[:, :n] = const[: k * n].reshape(k, n)
            return self.constant(padded.reshape(k, nb, nr).transpose(1, 0, 2), "packed_b")
        bp = self.alloc(MemRefType(bmat.type.get_element_type(), [nb, k, nr]), "packed_b")
        b, (pb, pp) = self.kernel("pack_b", op, [bmat, bp])
        e = bmat.type.get_element_type()
        if n % nr:
            with b.loop(0, k, parallel=k > 1) as kk, b.loop(n - n % nr, nb * nr) as j:
                b.store(b.const(0.0, e), pp, [b.index(nb - 1), kk, b.value(arith.RemUIOp(j, b.index(nr)))])
        with b.loop(0, k, parallel=k > 1) as kk, b.loop(0, n) as j:
            b.store(b.load(pb, [kk, j]), pp, [b.value(arith.DivUIOp(j, b.index(nr))), kk, b.value(arith.RemUIOp(j, b.index(nr)))])
        finish_kernel(b)
        return bp

    def gemm(
        self, op, a: SSAValue, bmat: SSAValue | None, c: SSAValue, bias: SSAValue | None = None,
        kind: str = "gemm", b_packed: SSAValue | None = None, extra: list[SSAValue] = (),
        a_rows: bool = False, bias_per_col: bool = False, b_transposed: bool = False,
        store_perm: tuple[list[int], list[int]] | None = None,
    ) -> None:
        """c[M,N] = a[M,K] @ b[K,N] (+ bias[M] per row, or bias[N] per column) on packed
        panels: every MR x NR tile accumulates in registers over contiguous panel reads
        and stores once. `a_rows`: A is read in place, row by row (its MR values per k
        are broadcasts, so only B needs panels): no packing pass over activations."""
        if self.gpu:
            self.gemm_loops(op, a, bmat, c, bias, kind, b_packed, extra, bias_per_col, b_transposed=b_transposed,
                            store_perm=store_perm)
            return
        assert not b_transposed and store_perm is None, "only the GPU form reads B^T / stores permuted"
        m, k = _shape(a)
        n = _shape(c)[1]
        mr, nr, vec_m = self.tile(m, n)
        if not vec_m and self._global_array(a) is None:
            a_rows = True  # activations: read in place rather than packed every run
        if a_rows:
            mr, nr, vec_m = self.mr, self.nr, False
        ap = a if a_rows else self.packed_a(op, a, mr)
        bp = b_packed if b_packed is not None else self.packed_b(op, bmat, nr)
        mb, nb = -(-m // mr), -(-n // nr)
        args = [ap, bp, c] + ([bias] if bias is not None else []) + list(extra)
        b, params = self.kernel(kind, op, args)
        pa, pb, pc = params[:3]
        pbias = params[3] if bias is not None else None
        pextra = params[3 + (bias is not None) :]
        e = c.type.get_element_type()
        # Each outer-loop panel is reused from registers/L1 while the inner loop streams
        # the other operand's panels: stream the smaller operand (it stays in L2), so
        # the outer loop runs over the larger one. Pixels x channels GEMMs of late CNN
        # layers (few pixels, large weights) and early ones (the reverse) both stay fast.
        columns_outer = n > m and not vec_m
        # full tiles, then the partial last row panel / column panel (static store bounds)
        rows = [(0, m // mr, mr)] + ([(m // mr, mb, m % mr)] if m % mr else [])
        cols = [(0, n // nr, nr)] + ([(n // nr, nb, n % nr)] if n % nr else [])
        # the accumulator's inner (vector) dimension: N normally, M when N is narrow
        inner, outer = (mr, nr) if vec_m else (nr, mr)
        for (ib_lo, ib_hi, valid_rows) in rows:
            for (jb_lo, jb_hi, valid_cols) in cols:
                if ib_lo >= ib_hi or jb_lo >= jb_hi:
                    continue
                with self._tile_loops(b, (ib_lo, ib_hi), (jb_lo, jb_hi), columns_outer) as (ib, jb):
                    acc = b.value(memref.AllocaOp.get(e, shape=[outer, inner]))
                    with b.loop(0, outer) as o, b.loop(0, inner) as i:
                        b.store(b.const(0.0, e), acc, [o, i])
                    with b.loop(0, k) as kk:
                        # unpacked A: only the valid rows of a partial panel exist
                        with b.loop(0, valid_rows if a_rows else outer) as o:
                            if a_rows:
                                ov = b.load(pa, [b.affine([(ib, mr), (o, 1)]), kk])
                            else:
                                ov = b.load(pb, [jb, kk, o]) if vec_m else b.load(pa, [ib, kk, o])
                            with b.loop(0, inner) as i:
                                iv = b.load(pa, [ib, kk, i]) if vec_m else b.load(pb, [jb, kk, i])
                                cur = b.load(acc, [o, i])
                                prod = b.value(arith.MulfOp(iv, ov) if vec_m else arith.MulfOp(ov, iv))
                                b.store(b.value(arith.AddfOp(cur, prod)), acc, [o, i])
                    loops = [(0, valid_rows), (0, valid_cols)]
                    with b.loop(*loops[1 if vec_m else 0]) as first, b.loop(*loops[0 if vec_m else 1]) as second:
                        ii, jj = (second, first) if vec_m else (first, second)
                        row = b.affine([(ib, mr), (ii, 1)])
                        col = b.affine([(jb, nr), (jj, 1)])
                        y = b.load(acc, [jj, ii] if vec_m else [ii, jj])
                        if pbias is not None:
                            y = b.value(arith.AddfOp(y, b.load(pbias, [col if bias_per_col else row])))
                        b.store(y, pc, [row, col])
                    if self.epilogue:
                        # the fused ops run over the stored tile (still in L1) in a loop
                        # of their own: inside the store loop they made gcc compile the
                        # whole kernel up to 4x slower (a ReLU6 after a K=27 conv)
                        with b.loop(*loops[1 if vec_m else 0]) as first, b.loop(*loops[0 if vec_m else 1]) as second:
                            ii, jj = (second, first) if vec_m else (first, second)
                            row = b.affine([(ib, mr), (ii, 1)])
                            col = b.affine([(jb, nr), (jj, 1)])
                            b.store(self.apply_epilogue(b, b.load(pc, [row, col]), pextra, row, col), pc, [row, col])
        finish_kernel(b)

    def gemm_loops(
        self, op, a: SSAValue, bmat: SSAValue | None, c: SSAValue, bias: SSAValue | None, kind: str,
        b_packed: SSAValue | None, extra: list[SSAValue], bias_per_col: bool, b_load=None, n: int | None = None,
        batch: int = 0, fold_batch: bool = False, b_table: SSAValue | None = None, b_transposed: bool = False,
        store_perm: tuple[list[int], list[int]] | None = None,
    ) -> None:
        """c = a @ b as the plain nest `for i, j (parallel): acc = sum_k a[i,k] * b[k,j]`,
        then bias and the fused epilogue on `acc` and one store. The kernel is marked
        `hetc.gemm = [M, N, K]` and its k loop `hetc.gemm_k`: a GPU printer tiles that
        nest (shared memory or tensor cores), reading A and B through the loads written
        here, so packed operands (im2col panels) need no separate form. Printed as it
        stands, it is a correct one-thread-per-output GEMM. `b_load(b, pb, kk, j)` reads
        B[kk, j] from `bmat` some other way (a convolution's input, as an implicit GEMM).
        `batch` > 0: B products in one nest under a parallel loop marked
        `hetc.gemm_batch`; c is [B, M, N], a and bmat are [B, ...] or shared [M, K] /
        [K, N]. `b_load(b, pb, kk, j, table)` gets `b_table` too (a kernel argument after
        the epilogue's). `fold_batch` (a shared A and a [K, >= B*N] bmat): the B products
        are one [M, B*N, K] GEMM instead, column j of image j / N (a convolution over a
        batch: late layers have a few pixels per image, which would waste most of a
        per-image tile). `b_transposed`: bmat is B^T ([N, K], or [B, N, K]), read as B[k, j] =
        bmat[j, k] (a Transpose of K in attention's scores costs no kernel). `store_perm` =
        (shape, perm): c is the Transpose(perm) of the product seen as `shape` (same
        elements): each output goes to its transposed place (no transpose kernel after)."""
        m, k = _shape(a)[-2:]
        n = _shape(c)[-1] if store_perm is None else _shape(bmat)[-2 if b_transposed else -1]
        bp = b_packed if b_packed is not None else bmat
        nr = _shape(b_packed)[2] if b_packed is not None else 0
        args = [a, bp, c] + ([bias] if bias is not None else []) + list(extra) + ([b_table] if b_table is not None else [])
        b, params = self.kernel(kind, op, args)
        ptable = params[-1] if b_table is not None else None
        if b_table is not None:
            params = params[:-1]
        fold = bool(batch) and fold_batch and len(_shape(a)) == 2 and b_load is None and len(_shape(bmat)) == 2
        self.kernels[-1].attributes[GEMM_ATTR] = ArrayAttr([IntegerAttr(x, 64) for x in (m, batch * n if fold else n, k)])
        pa, pb, pc = params[:3]
        pbias = params[3] if bias is not None else None
        pextra = params[3 + (bias is not None) :]
        e = c.type.get_element_type()
        zero = b.index(0)
        a_batched = batch and len(_shape(a)) == 3
        b_batched = batch and b_load is None and b_packed is None and len(_shape(bmat)) == 3
        with contextlib.ExitStack() as stack:
            bt = None
            if batch and not fold:
                bt = stack.enter_context(b.loop(0, batch, parallel=True))
                b.block.parent_op().attributes[GEMM_BATCH_ATTR] = IntegerAttr(batch, 64)
            i = stack.enter_context(b.loop(0, m, parallel=m > 1))
            j = stack.enter_context(b.loop(0, batch * n if fold else n, parallel=True if fold else n > 1))

            acc = b.value(memref.AllocaOp.get(e, shape=[1]))
            b.store(b.const(0.0, e), acc, [zero])
            with b.loop(0, k) as kk:
                b.block.parent_op().attributes[GEMM_K_ATTR] = UnitAttr()
                va = b.load(pa, [bt, i, kk] if a_batched else [i, kk])
                if b_load is not None:
                    vb = b_load(b, pb, kk, j, ptable)
                elif b_packed is not None:  # column panels Bp[N / nr, K, nr]
                    vb = b.load(pb, [b.value(arith.DivUIOp(j, b.index(nr))), kk, b.value(arith.RemUIOp(j, b.index(nr)))])
                else:  # (folded: the images' columns side by side in bmat)
                    kj = [j, kk] if b_transposed else [kk, j]
                    vb = b.load(pb, [bt, *kj] if b_batched else kj)
                b.store(b.value(arith.AddfOp(b.load(acc, [zero]), b.value(arith.MulfOp(va, vb)))), acc, [zero])
            y = b.load(acc, [zero])
            if fold:  # the image and its column of output column j
                bt, j = b.value(arith.DivUIOp(j, b.index(n))), b.value(arith.RemUIOp(j, b.index(n)))
            if pbias is not None:
                y = b.value(arith.AddfOp(y, b.load(pbias, [j if bias_per_col else i])))
            if self.epilogue:
                y = self.apply_epilogue(b, y, pextra, i, j, bt)
            if store_perm is not None:
                flat = b.affine(([(bt, m * n)] if bt is not None else []) + [(i, n), (j, 1)])
                b.store(y, pc, permuted_subscript(b, flat, *store_perm))
            else:
                b.store(y, pc, [bt, i, j] if batch else [i, j])
        finish_kernel(b)

    @contextmanager
    def _tile_loops(self, b: LoopBuilder, rows: tuple[int, int], cols: tuple[int, int], columns_outer: bool):
        """The two tile loops (row panels ib, column panels jb), both parallel."""
        (r0, r1), (c0, c1) = rows, cols
        if columns_outer:
            with b.loop(c0, c1, parallel=c1 - c0 > 1) as jb, b.loop(r0, r1, parallel=r1 - r0 > 1) as ib:
                yield ib, jb
        else:
            with b.loop(r0, r1, parallel=r1 - r0 > 1) as ib, b.loop(c0, c1, parallel=c1 - c0 > 1) as jb:
                yield ib, jb

    def tile(self, m: int, n: int) -> tuple[int, int, bool]:
        """(MR, NR, vectorize over M?) for an M x N GEMM. Wide N: MR x NR with NR one or two
        vectors. Narrow N (late CNN layers: few pixels, many channels) would waste most
        of such a tile, so the tile turns: 32 rows of M in vectors, a few columns of N."""
        if n >= self.nr or m < 32:
            return self.mr, self.nr, False
        nr = 8 if n % 8 == 0 else (n if n <= 8 else 6)
        return 32, nr, True

    def lower_matmul(self, op, a, bm, out, store_perm: tuple[list[int], list[int]] | None = None) -> bool:
        """out = a @ bm, numpy-style. `store_perm` (see gemm_loops): `out` is the Transpose of
        the product; done only where the product is one GEMM kernel (returns whether it was:
        else nothing is emitted)."""
        sa, sb, so = _shape(op.operands[0]), _shape(op.operands[1]), _shape(op.results[0])
        # numpy matmul: a 1-D operand is a row (A) or a column (B) whose dim is dropped
        if len(sa) == 1:
            sa, so = [1] + sa, so[:-1] + [1] + so[-1:] if len(sb) > 1 else [1] + so
        if len(sb) == 1:
            sb, so = sb + [1], so + [1]
        m, k = sa[-2:]
        n = sb[-1]
        batch = so[:-2]
        # numpy broadcasting of the batch dims: one GEMM per output batch index, each
        # operand's offset taken with its own (right-aligned, size-1 = shared) dims
        def offsets(shape: list[int], mat: int) -> list[int]:
            dims = [1] * (len(batch) - len(shape[:-2])) + shape[:-2]
            strides = [int(np.prod(dims[d + 1 :], dtype=np.int64)) * mat for d in range(len(dims))]
            result = []
            for idx in np.ndindex(*batch) if batch else [()]:
                result.append(sum(i * st for i, st, dim in zip(idx, strides, dims) if dim != 1))
            return result

        nb = max(1, int(np.prod(batch)))
        oas, obs = offsets(sa, m * k), offsets(sb, k * n)
        bt = op.operands[1] in self.transposed_b  # bm holds B^T: [..., N, K]
        kn = [n, k] if bt else [k, n]
        if nb > 1 and oas == list(range(0, nb * m * k, m * k)) and not any(obs) and \
                all(mode != "row" for _, _, mode in self.epilogue):
            # a batched A times one shared B (a transformer's dense layers over [batch,
            # tokens, features]) is one [B*M, K] x [K, N] GEMM: per-batch tiles of M rows
            # (65 tokens) would waste most of a GPU tile or a CPU row panel
            m, nb = nb * m, 1
            oas, obs = [0], [0]
        if self.gpu and nb > 1:
            # one kernel for every batch index (attention's per-head products) when each
            # operand is either batched contiguously or shared by all
            def mode(offs: list[int], mat: int):
                return "full" if offs == list(range(0, nb * mat, mat)) else ("shared" if not any(offs) else None)

            ma, mb = mode(oas, m * k), mode(obs, k * n)
            if ma and mb:
                av = self.view(a, [nb, m, k] if ma == "full" else [m, k])
                bv = self.view(bm, [nb, *kn] if mb == "full" else kn)
                extra = self.epilogue_args(0, 0, m, n, batch=nb)
                cv = out if store_perm is not None else self.view(out, [nb, m, n])
                self.gemm_loops(op, av, bv, cv, None, "gemm", None, extra, False, batch=nb, b_transposed=bt,
                                store_perm=store_perm)
                return True
        if store_perm is not None and nb > 1:
            return False
        if store_perm is not None:
            self.gemm(op, self.view(a, [m, k]), self.view(bm, kn), out, extra=self.epilogue_args(0, 0, m, n),
                      b_transposed=bt, store_perm=store_perm)
            return True
        for oa, ob, oc in zip(oas, obs, range(0, nb * m * n, m * n)):
            extra = self.epilogue_args(oc, 0, m, n)
            self.gemm(op, self.view(a, [m, k], oa), self.view(bm, kn, ob), self.view(out, [m, n], oc), extra=extra, b_transposed=bt)
        return True
