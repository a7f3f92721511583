"""FlashAttention-style attention kernels of the CUDA printer (tensor cores, online softmax).

An attention group (passes/loops/attention.py, GPU form) whose Q, K^T and V are float16 /
bfloat16 (or float32 rounded to them under precision fp16 / bf16) is printed as one kernel in
the FlashAttention-2 manner rather than a warp per query row:

- **a block per BM query rows** of one (batch, head) slice, W warps of 16 rows each (BM =
  16 W, W chosen so the padded rows are few); the Q tile goes to shared memory once and into
  `mma` fragments once.
- **keys in tiles of BN** (16 / 32 / 64), K and V tiles in a ring of 2 to MAX_STAGES
  stages in shared memory (`cp.async` 16-byte copies where the operand is a row-major
  argument with aligned rows, else element loads, converted on the way where needed):
  tiles t + 1 .. t + stages - 1 are in flight while tile t is multiplied; a short key
  sequence (ViT's 65 keys: 3 tiles) is copied whole up front, so a block waits for global
  memory once rather than once a tile.
- **scores** S = Q K^T with `mma.sync.m16n8k16` (float32 accumulators); the group's own score
  ops (scale, mask Add, ...) are printed per element a thread holds, at its (row, key);
  keys past S are -inf.
- **online softmax** in registers: each row's running max m and sum l (a quad of lanes holds
  a row: two shuffles); the accumulators are rescaled by exp(m_old - m_new) when the max
  grows, P = exp(S - m_new) rounded to the operand type and reused from registers as the A
  fragments of P.V (an m16n8 accumulator pair is an m16n8k16 A fragment).
- **epilogue**: the group's own ops after the P.V sum (the division by the row sum, the
  store and its rounding), per output a thread holds.

So the Sq x Sk scores never leave the SM, and one launch replaces QK^T, softmax and P.V.
Numerics: the unfused softmax is max-subtracted too; here P is rounded to the 16-bit
operand type before P.V (the unfused fp16 pipeline stores P in it as well) and the sum l
is of the unrounded exponentials. Head sizes up to MAX_HEAD (register budget); others keep
the warp-per-row form, as do exact float32 and tf32 (no 16-bit operands). Needs sm_80+.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.dialects import arith, func, memref, scf
from xdsl.ir import BlockArgument, Operation, SSAValue

from hetc.backends.cfamily.printer import static_bounds
from hetc.backends.cuda.gemm_mma import MmaConfig, mma_kind
from hetc.backends.cuda.nest_queries import depends_on, widened_load
from hetc.passes.loop_builder import REDUCTION_ATTR
from hetc.passes.loops.attention import UNIFORM_ATTR

#: head sizes (D of Q K^T, Dv of P.V) up to this run flash-style (accumulators in registers)
MAX_HEAD = 128
#: at most this many warps (16 query rows each) a block
MAX_WARPS = 8
#: K / V tiles in flight, and the shared memory they (and the Q tile) may take
MAX_STAGES = 4
STAGE_BYTES = 100 * 1024


@dataclass
class FlashParts:
    """The pieces of an attention nest (passes/loops/attention.py `_attention_gpu`)."""

    batch: list[scf.ForOp]  # the parallel loops over the batch dims (maybe of one trip)
    rows: scf.ForOp  # the query-row loop
    scores: scf.ForOp  # j: the keys, score = sum_d q kT, the score ops, the max
    dot: scf.ForOp  # d inside `scores`
    columns: scf.ForOp  # c: the output columns (lane-uniform)
    pv: scf.ForOp  # j inside `columns`
    q: memref.LoadOp
    qv: SSAValue  # q as multiplied (widened)
    kt: memref.LoadOp
    ktv: SSAValue
    v: memref.LoadOp
    vv: SSAValue
    score_in: memref.LoadOp  # the raw dot product's reload, where the score ops start
    score: SSAValue  # the score after the score ops (what the max takes)
    acc_in: memref.LoadOp  # the P.V sum's reload, where the epilogue starts
    denom: memref.LoadOp  # the exponentials' sum
    sq: int
    sk: int
    d: int
    dv: int


def _loops(block) -> list[scf.ForOp]:
    return [op for op in block.ops if isinstance(op, scf.ForOp)]


def _trip(loop: scf.ForOp) -> int | None:
    b = static_bounds(loop)
    return None if b is None or b[0] != 0 or b[2] != 1 else b[1]


def flash_parts(fn: func.FuncOp) -> FlashParts | None:
    """The attention nest of kernel `fn` (hetc.kernel = "attention"), or None where it does
    not have the GPU form's exact shape (then the warp-per-row printing)."""
    if "hetc.kernel" not in fn.attributes or fn.attributes["hetc.kernel"].data != "attention":
        return None
    top = _loops(fn.body.block)
    if len(top) != 1:
        return None
    nest = [top[0]]
    while True:
        inner = _loops(nest[-1].body.block)
        if len(inner) == 1 and REDUCTION_ATTR not in inner[0].attributes:
            nest.append(inner[0])
            continue
        break
    body_loops = _loops(nest[-1].body.block)
    if len(body_loops) != 3 or any(_trip(lp) is None for lp in nest + body_loops):
        return None
    scores, _exps, columns = body_loops
    if REDUCTION_ATTR not in scores.attributes or UNIFORM_ATTR not in columns.attributes:
        return None
    dot, pv = _loops(scores.body.block), _loops(columns.body.block)
    if len(dot) != 1 or len(pv) != 1 or any(_trip(lp) is None for lp in dot + pv):
        return None
    dot, pv = dot[0], pv[0]
    muls = [op for op in dot.body.block.ops if isinstance(op, arith.MulfOp)]
    pmuls = [op for op in pv.body.block.ops if isinstance(op, arith.MulfOp)]
    if len(muls) != 1 or len(pmuls) != 1:
        return None
    q, kt = (widened_load(x) for x in muls[0].operands)
    p_row, v = (widened_load(x) for x in pmuls[0].operands)
    if None in (q, kt, p_row, v) or p_row.memref.owner is None:
        return None
    # the score: what the row max takes besides the max itself
    maxes = [op for op in scores.body.block.ops if isinstance(op, arith.MaximumfOp)]
    after_dot = list(scores.body.block.ops)[list(scores.body.block.ops).index(dot) + 1 :]
    reloads = [op for op in after_dot if isinstance(op, memref.LoadOp) and op.indices and op.indices[0] is scores.body.block.args[0]
               and isinstance(op.memref.owner, memref.AllocaOp)]
    if len(maxes) != 1 or not reloads:
        return None
    mx = maxes[0]
    score = next((x for x in mx.operands if not (isinstance(x.owner, memref.LoadOp) and x.owner.indices
                                                   and x.owner.indices[0] is not scores.body.block.args[0])), None)
    tail = list(columns.body.block.ops)[list(columns.body.block.ops).index(pv) + 1 :]
    acc_loads = [op for op in tail if isinstance(op, memref.LoadOp) and isinstance(op.memref.owner, memref.AllocaOp)]
    divs = [op for op in tail if isinstance(op, arith.DivfOp)]
    if score is None or len(acc_loads) != 1 or len(divs) != 1 or not isinstance(divs[0].operands[1].owner, memref.LoadOp):
        return None
    denom = divs[0].operands[1].owner
    return FlashParts(
        batch=nest[:-1], rows=nest[-1], scores=scores, dot=dot, columns=columns, pv=pv,
        q=q, qv=muls[0].operands[0], kt=kt, ktv=muls[0].operands[1], v=v, vv=pmuls[0].operands[1],
        score_in=reloads[0], score=score, acc_in=acc_loads[0], denom=denom,
        sq=_trip(nest[-1]), sk=_trip(scores), d=_trip(dot), dv=_trip(columns),
    )  # fmt: skip


def flash_kind(parts: FlashParts, precision: str, arch: str) -> str | None:
    """"f16" / "bf16" where the nest runs flash-style, else None."""
    if max(parts.d, parts.dv) > MAX_HEAD:
        return None
    ty = [ld.memref.type.get_element_type() for ld in (parts.q, parts.kt, parts.v)]
    kinds = {mma_kind(precision, ty[0], t, arch) for t in ty[1:]}
    kind = kinds.pop() if len(kinds) == 1 else None
    return kind if kind in ("f16", "bf16") else None


def flash_warps(sq: int, nbatch: int, sm_count: int) -> int:
    """Warps of 16 query rows per block: the least work on the busiest SM, a block costing
    two warps' worth more than its rows (its K / V tiles are loaded once for all its warps):
    ViT-tiny's 65 queries x 3 heads at batch 1 get 15 blocks of one warp, at batch 32
    96 blocks of 5."""
    def cost(w: int) -> tuple:
        blocks = -(-sq // (16 * w)) * nbatch
        return -(-blocks // sm_count) * (w + 2), blocks * w, -w

    return min(range(1, MAX_WARPS + 1), key=cost)


def flash_key_tile(sk: int) -> int:
    """Keys per tile (16 / 32 / 64): the fewest padded keys, a tile costing 16 keys' worth
    more (its barrier, max and rescaling): 65 keys in three tiles of 32, not two of 64."""
    return min((16, 32, 64), key=lambda bn: (-(-sk // bn) * (bn + 16), -bn))


def _up(x: int, m: int) -> int:
    return -(-x // m) * m


class FlashAttentionPrinter:
    """Mixin of CudaPrinter: `_print_flash_attention` (see the module docstring)."""

    def _closure(self, values: list[SSAValue], stop: set[Operation]) -> list[Operation]:
        """The ops of the nest that compute `values` (loads, index math, float ops), in
        program order, not crossing loops or `stop` (ops whose results are named already)."""
        need: set[Operation] = set()
        work = [v.owner for v in values if isinstance(v.owner, Operation)]
        while work:
            op = work.pop()
            if op in need or op in stop or isinstance(op, (scf.ForOp, func.FuncOp)):
                continue
            need.add(op)
            work += [x.owner for x in op.operands if isinstance(x.owner, Operation)]
        return [op for op in self._flash_order if op in need]

    def _print_values(self, values: list[SSAValue], stop: set[Operation], depth: int) -> None:
        for op in self._closure(values, stop):
            self._op(op, depth, False)

    def _flash_tile(self, load: memref.LoadOp, value: SSAValue, cfg: MmaConfig, dst: str, r_iv, c_iv, r0: str, c0: str,
                    rows: int, cols: int, tr: int, tc: int, threads: int, stop: set, depth: int) -> None:
        """Copy the tr x tc tile at (r0, c0) of an operand into shared memory `dst[r][c]`
        (zero past rows x cols): 16-byte cp.async chunks along c where the operand is a
        row-major argument read along c with aligned rows, else element loads (converted
        to the tile type where needed)."""
        e = self._emit
        idx = list(load.indices)
        direct = cfg.stores(load) and isinstance(load.memref, BlockArgument) and idx and idx[-1] is c_iv \
            and not any(depends_on(x, c_iv, (Operation,)) for x in idx[:-1]) and load.memref.type.get_shape()[-1] % cfg.vec == 0
        if direct:  # (index arithmetic of a clamped row / column: a load in it stays in bounds)
            self._chunked_copy(load, dst, r_iv, c_iv, r0, c0, rows, cols, tr, tc, cfg, threads, depth, tid="threadIdx.x",
                               index_ops=lambda d: self._print_values(idx, stop, d), row_name=lambda x: f"min({x}, {rows - 1})")
            return
        rexpr, cexpr = f"({r0} + hetc_r)", f"({c0} + hetc_c)"
        e(depth, f"for (int hetc_e = threadIdx.x; hetc_e < {tr * tc}; hetc_e += {threads}) {{")
        e(depth + 1, f"const int hetc_r = hetc_e / {tc}, hetc_c = hetc_e % {tc};")
        e(depth + 1, "unsigned short hetc_x = 0;")
        e(depth + 1, f"if ({rexpr} < {rows} && {cexpr} < {cols}) {{")
        self.names[r_iv], self.names[c_iv] = rexpr, cexpr
        _, expr = self._tile_operand(load, value, cfg)
        self._print_values([value], stop, depth + 2)
        e(depth + 2, f"hetc_x = {expr()};")
        e(depth + 1, "}")
        e(depth + 1, f"{dst}[hetc_r][hetc_c] = hetc_x;")
        e(depth, "}")

    def _print_flash_attention(self, fn: func.FuncOp, fname: str, p: FlashParts, kind: str, sm_count: int):
        """The kernel text and its launch (grid blocks, threads, dynamic shared memory)."""
        self.lines = [self._signature(fn, fname)]
        e, t = self._emit, self.index_ctype
        cfg = MmaConfig(kind, 16, 8, 16, 8)
        self._flash_order = [op for op in fn.walk() if not isinstance(op, (scf.ForOp, func.FuncOp))]
        for op in self._flash_order:  # constants: position-independent names
            if isinstance(op, arith.ConstantOp):
                self._op(op, 1, False)
        stop = {op for op in self._flash_order if isinstance(op, arith.ConstantOp)}
        nbatch = 1
        for lp in p.batch:
            nbatch *= _trip(lp)
        warps = flash_warps(p.sq, nbatch, sm_count)
        bm, bn, threads = 16 * warps, flash_key_tile(p.sk), 32 * warps
        dp, dvp = _up(p.d, 16), _up(p.dv, 16)
        tiles, ntiles = -(-p.sq // bm), -(-p.sk // bn)
        i_iv, j_iv, d_iv = p.rows.body.block.args[0], p.scores.body.block.args[0], p.dot.body.block.args[0]
        c_iv, jv_iv = p.columns.body.block.args[0], p.pv.body.block.args[0]
        # tile layouts: K^T as [d][j] (k-major: ldmatrix .trans) unless K is read along d
        # ([j][d], K's own rows); V as [j][c] unless read along j
        k_rows_j = list(p.kt.indices)[-1] is d_iv
        v_rows_c = list(p.v.indices)[-1] is jv_iv
        kshape = (bn, dp) if k_rows_j else (dp, bn)
        vshape = (dvp, bn) if v_rows_c else (bn, dvp)
        pad = 8
        q_bytes = bm * (dp + pad) * 2
        k_bytes = kshape[0] * (kshape[1] + pad) * 2
        v_bytes = vshape[0] * (vshape[1] + pad) * 2
        stages = max(2, min(ntiles, MAX_STAGES))
        while stages > 2 and q_bytes + stages * (k_bytes + v_bytes) > STAGE_BYTES:
            stages -= 1
        smem = q_bytes + stages * (k_bytes + v_bytes)
        mma = "hetc_mma_f16" if kind == "f16" else "hetc_mma_bf16"
        h2 = "__floats2half2_rn" if kind == "f16" else "__floats2bfloat162_rn"
        e(1, f"/* attention, FlashAttention-2 style on the tensor cores ({kind}, mma.sync): {p.sq} queries x {p.sk} keys, "
             f"head {p.d} / {p.dv}, {nbatch} slices; a block per {bm} query rows ({warps} warps of 16), keys in tiles "
             f"of {bn} in {stages} stages, online softmax in registers; the scores never leave the SM */")
        e(1, "extern __shared__ __align__(16) unsigned char hetc_smem[];")
        e(1, f"unsigned short (*const hetc_Qs)[{dp + pad}] = reinterpret_cast<unsigned short (*)[{dp + pad}]>(hetc_smem);")
        e(1, f"unsigned short (*const hetc_Ks)[{kshape[0]}][{kshape[1] + pad}] = "
             f"reinterpret_cast<unsigned short (*)[{kshape[0]}][{kshape[1] + pad}]>(hetc_smem + {q_bytes});")
        e(1, f"unsigned short (*const hetc_Vs)[{vshape[0]}][{vshape[1] + pad}] = "
             f"reinterpret_cast<unsigned short (*)[{vshape[0]}][{vshape[1] + pad}]>(hetc_smem + {q_bytes + stages * k_bytes});")
        e(1, "const int hetc_lane = threadIdx.x & 31, hetc_warp = threadIdx.x >> 5, hetc_g = hetc_lane >> 2, hetc_q = hetc_lane & 3;")
        e(1, f"const {t} hetc_row0 = ({t})(blockIdx.x % {tiles}) * {bm};")
        e(1, f"const {t} hetc_bt = ({t})blockIdx.x / {tiles};")
        inner = 1
        for lp in reversed(p.batch):
            size = _trip(lp)
            name = self._fresh("hetc_b")
            idx = "hetc_bt" if inner == 1 else f"(hetc_bt / {inner})"
            e(1, f"const {t} {name} = {idx if size * inner == nbatch else f'({idx} % {size})'};")
            self.names[lp.body.block.args[0]] = name
            inner *= size
        bases = [f"(size_t){self.names[ld.memref]}" for ld in (p.q, p.kt, p.v) if isinstance(ld.memref, BlockArgument)]
        e(1, f"const bool hetc_vec = ((({' | '.join(bases) or '0'}) & 15) == 0);")

        def load_kv(depth: int, stage: str, j0: str) -> None:
            kdst, vdst = f"hetc_Ks[{stage}]", f"hetc_Vs[{stage}]"
            if k_rows_j:
                self._flash_tile(p.kt, p.ktv, cfg, kdst, j_iv, d_iv, j0, "0", p.sk, p.d, bn, dp, threads, stop, depth)
            else:
                self._flash_tile(p.kt, p.ktv, cfg, kdst, d_iv, j_iv, "0", j0, p.d, p.sk, dp, bn, threads, stop, depth)
            if v_rows_c:
                self._flash_tile(p.v, p.vv, cfg, vdst, c_iv, jv_iv, "0", j0, p.dv, p.sk, dvp, bn, threads, stop, depth)
            else:
                self._flash_tile(p.v, p.vv, cfg, vdst, jv_iv, c_iv, j0, "0", p.sk, p.dv, bn, dvp, threads, stop, depth)

        self._flash_tile(p.q, p.qv, cfg, "hetc_Qs", i_iv, d_iv, "hetc_row0", "0", p.sq, p.d, bm, dp, threads, stop, 1)
        for st in range(stages - 1):  # the first tiles (Q with tile 0), one commit group each
            if st < ntiles:
                load_kv(1, str(st), str(st * bn))
            e(1, "hetc_cp_async_commit();")
        e(1, f"float hetc_o[{dvp // 8}][4], hetc_m[2] = {{-HETC_INF, -HETC_INF}}, hetc_l[2] = {{0.0f, 0.0f}};")
        e(1, f"for (int a = 0; a < {dvp // 8}; a++) for (int r = 0; r < 4; r++) hetc_o[a][r] = 0.0f;")
        e(1, f"unsigned hetc_qf[{dp // 16}][4];")
        e(1, f"for (int hetc_kt = 0; hetc_kt < {ntiles}; hetc_kt++) {{")
        e(2, f"hetc_cp_async_wait<{stages - 2}>();")
        e(2, "__syncthreads();  /* tile hetc_kt has landed; every warp is done with the other stage */")
        e(2, "if (hetc_kt == 0) {")
        e(3, "#pragma unroll")
        e(3, f"for (int k = 0; k < {dp // 16}; k++) hetc_ldsm_x4(hetc_qf[k], &hetc_Qs[hetc_warp * 16 + (hetc_lane & 15)][k * 16 + (hetc_lane >> 4) * 8]);")
        e(2, "}")
        e(2, f"if (hetc_kt + {stages - 1} < {ntiles}) {{  /* into the stage every warp finished reading */")
        e(3, f"const {t} hetc_j1 = ({t})(hetc_kt + {stages - 1}) * {bn};")
        load_kv(3, f"(hetc_kt + {stages - 1}) % {stages}", "hetc_j1")
        e(2, "}")
        e(2, "hetc_cp_async_commit();")
        e(2, f"const int hetc_sc = hetc_kt % {stages};")
        e(2, f"const {t} hetc_j0 = ({t})hetc_kt * {bn};")
        e(2, f"float hetc_s[{bn // 8}][4];")
        e(2, f"for (int b = 0; b < {bn // 8}; b++) for (int r = 0; r < 4; r++) hetc_s[b][r] = 0.0f;")
        e(2, "#pragma unroll")
        e(2, f"for (int k = 0; k < {dp // 16}; k++) {{")
        e(3, "#pragma unroll")
        e(3, f"for (int b = 0; b < {bn // 8}; b += 2) {{")
        e(4, "unsigned hetc_f[4];")
        if k_rows_j:  # K's rows [j][d]: matrices (j 0-7, d 0-7), (j 0-7, d 8-15), (j 8-15, d 0-7), (j 8-15, d 8-15)
            e(4, "hetc_ldsm_x4(hetc_f, &hetc_Ks[hetc_sc][b * 8 + (hetc_lane & 7) + ((hetc_lane >> 4) << 3)][k * 16 + ((hetc_lane >> 3) & 1) * 8]);")
        else:
            e(4, "hetc_ldsm_x4_t(hetc_f, &hetc_Ks[hetc_sc][k * 16 + (hetc_lane & 15)][b * 8 + (hetc_lane >> 4) * 8]);")
        e(4, f"{mma}(hetc_s[b], hetc_qf[k], hetc_f);")
        e(4, f"{mma}(hetc_s[b + 1], hetc_qf[k], hetc_f + 2);")
        e(3, "}")
        e(2, "}")
        # the score ops per element, at its (row, key); keys past Sk are -inf
        e(2, "float hetc_mx[2] = {hetc_m[0], hetc_m[1]};")
        e(2, "#pragma unroll")
        e(2, f"for (int b = 0; b < {bn // 8}; b++)")
        e(2, "#pragma unroll")
        e(2, "for (int r = 0; r < 4; r++) {")
        e(3, "const int hetc_h = r >> 1;")
        e(3, f"const {t} hetc_i = hetc_row0 + hetc_warp * 16 + hetc_g + hetc_h * 8, hetc_j = hetc_j0 + b * 8 + hetc_q * 2 + (r & 1);")
        self.names[i_iv], self.names[j_iv] = f"min(hetc_i, ({t}){p.sq - 1})", f"min(hetc_j, ({t}){p.sk - 1})"
        self.names[p.score_in.results[0]] = "hetc_s[b][r]"
        self._print_values([p.score], stop | {p.score_in}, 3)
        e(3, f"const float hetc_v = hetc_j < {p.sk} ? {self.names[p.score]} : -HETC_INF;")
        e(3, "hetc_s[b][r] = hetc_v;")
        e(3, "hetc_mx[hetc_h] = fmaxf(hetc_mx[hetc_h], hetc_v);")
        e(2, "}")
        e(2, "float hetc_mu[2];")
        e(2, "#pragma unroll")
        e(2, "for (int h = 0; h < 2; h++) {  /* a row's 4 lanes agree on its max; the old sums rescaled */")
        e(3, "hetc_mx[h] = fmaxf(hetc_mx[h], __shfl_xor_sync(0xffffffffu, hetc_mx[h], 1));")
        e(3, "hetc_mx[h] = fmaxf(hetc_mx[h], __shfl_xor_sync(0xffffffffu, hetc_mx[h], 2));")
        e(3, "hetc_mu[h] = hetc_mx[h] == -HETC_INF ? 0.0f : hetc_mx[h];  /* a row masked so far: exp(-inf) = 0, not NaN */")
        e(3, "const float hetc_f = expf(hetc_m[h] - hetc_mu[h]);")
        e(3, "hetc_m[h] = hetc_mx[h];")
        e(3, "hetc_l[h] *= hetc_f;")
        e(3, f"for (int a = 0; a < {dvp // 8}; a++) {{ hetc_o[a][2 * h] *= hetc_f; hetc_o[a][2 * h + 1] *= hetc_f; }}")
        e(2, "}")
        e(2, "#pragma unroll")
        e(2, f"for (int b = 0; b < {bn // 8}; b++)")
        e(2, "#pragma unroll")
        e(2, "for (int r = 0; r < 4; r++) { hetc_s[b][r] = expf(hetc_s[b][r] - hetc_mu[r >> 1]); hetc_l[r >> 1] += hetc_s[b][r]; }")
        # P.V: P's accumulator pairs are the A fragments (16 keys: score tiles 2k and 2k + 1)
        e(2, "#pragma unroll")
        e(2, f"for (int k = 0; k < {bn // 16}; k++) {{")
        e(3, "unsigned hetc_pa[4];")
        for n, (b, r) in enumerate(((0, 0), (0, 2), (1, 0), (1, 2))):
            e(3, f"{{ const auto hetc_w = {h2}(hetc_s[2 * k + {b}][{r}], hetc_s[2 * k + {b}][{r + 1}]); "
                 f"hetc_pa[{n}] = *reinterpret_cast<const unsigned*>(&hetc_w); }}")
        e(3, "#pragma unroll")
        e(3, f"for (int n = 0; n < {dvp // 8}; n += 2) {{")
        e(4, "unsigned hetc_f[4];")
        if v_rows_c:  # V^T's rows [c][j]
            e(4, "hetc_ldsm_x4(hetc_f, &hetc_Vs[hetc_sc][n * 8 + (hetc_lane & 7) + ((hetc_lane >> 4) << 3)][k * 16 + ((hetc_lane >> 3) & 1) * 8]);")
        else:
            e(4, "hetc_ldsm_x4_t(hetc_f, &hetc_Vs[hetc_sc][k * 16 + (hetc_lane & 15)][n * 8 + (hetc_lane >> 4) * 8]);")
        e(4, f"{mma}(hetc_o[n], hetc_pa, hetc_f);")
        e(4, f"{mma}(hetc_o[n + 1], hetc_pa, hetc_f + 2);")
        e(3, "}")
        e(2, "}")
        e(1, "}")
        e(1, "#pragma unroll")
        e(1, "for (int h = 0; h < 2; h++) {  /* a row's sum over its 4 lanes */")
        e(2, "hetc_l[h] += __shfl_xor_sync(0xffffffffu, hetc_l[h], 1);")
        e(2, "hetc_l[h] += __shfl_xor_sync(0xffffffffu, hetc_l[h], 2);")
        e(1, "}")
        # the epilogue: the nest's ops after the P.V sum, per output this thread holds
        e(1, "#pragma unroll")
        e(1, f"for (int n = 0; n < {dvp // 8}; n++)")
        e(1, "#pragma unroll")
        e(1, "for (int r = 0; r < 4; r++) {")
        e(2, f"const {t} hetc_i = hetc_row0 + hetc_warp * 16 + hetc_g + (r >> 1) * 8, hetc_c = n * 8 + hetc_q * 2 + (r & 1);")
        e(2, f"if (hetc_i >= {p.sq} || hetc_c >= {p.dv}) continue;")
        self.names[i_iv], self.names[c_iv] = "hetc_i", "hetc_c"
        self.names[p.acc_in.results[0]], self.names[p.denom.results[0]] = "hetc_o[n][r]", "hetc_l[r >> 1]"
        tail = list(p.columns.body.block.ops)
        tail = tail[tail.index(p.pv) + 1 :]
        done = stop | {p.acc_in, p.denom}
        for op in tail:
            if isinstance(op, memref.StoreOp):
                self._print_values(list(op.operands), done, 2)
                done |= set(self._closure(list(op.operands), done))
                self._op(op, 2, False)
        e(1, "}")
        self.lines.append("}")
        flops = 2 * nbatch * p.sq * p.sk * (p.d + p.dv)
        return "\n".join(self.lines), (tiles * nbatch, 1), threads, flops, smem
