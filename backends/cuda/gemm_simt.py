"""Exact float32 GEMM tiles of the CUDA printer, on the CUDA cores.

A kernel marked `hetc.gemm` that stays in float32 (precision fp32) is printed as one block
of 256 threads (16 x 16) per BM x BN output tile, each thread holding (BM / 16) x (BN / 16)
sums in registers:

- **operands.** The nest's own A and B loads, printed at tile coordinates (so im2col panels,
  views and implicit-GEMM convolutions need no special case), 8-deep K slices. The next
  slice's loads go to registers while the current one is multiplied from shared memory,
  and are stored to the other of two shared-memory buffers after it: one barrier a slice,
  global latency hidden behind the math. A B read as B^T (last index k: attention's K^T
  read in place) is loaded along k like A.
- **K groups.** Where the tiles do not fill the SMs, up to 4 groups of 256 threads in a
  block each run the whole tile over every ks-th K slice (the same number of steps each,
  so all meet at every barrier); their partial sums meet in shared memory.
- **math.** A is stored k-major (transposed on the way in), so a thread reads its rows and
  its columns of one k as float4s: 4 x 4 sub-blocks 64 apart, conflict-free; an 8 x 8
  thread tile does 64 FMAs per 4 shared-memory reads.
- **K splits.** Where even that leaves SMs idle (a late CNN layer over a batch: 128 x 512
  outputs, K = 1152), K is also split across S blocks (grid z): each writes its partial
  tile to the model's device workspace and counts itself in on the tile's semaphore; the
  last to arrive adds the S partials in split order (so the sum does not depend on which
  block came last: deterministic, run to run), resets the semaphore for the next run and
  runs the epilogue.
- **epilogue.** The nest's ops after the k loop (bias, fused activation, residual, the
  store), per output, from registers.

Tile shapes: 128 x 128 down to 64 x 64 (4 x 4 sub-blocks a thread), and 64 x 32, 32 x 64,
32 x 32 (2-wide sub-blocks, float2 reads) for GEMMs of 32 rows or too few tiles, the K
groups and the K splits: the ones with the least predicted time for the GEMM's shape
(`choose_simt_config`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hetc.backends.cfamily.printer import _trip_count
from xdsl.dialects import arith, func

THREADS = 256
BK = 8
#: tile -> relative cost per output: smaller thread tiles read more from shared memory per
#: FMA (4 x 4: one float4 per 2 FMAs a k; 8 x 8: one per 16)
TILE_COST = {(128, 128): 1.0, (128, 64): 1.15, (64, 128): 1.15, (64, 64): 1.35,
             # 2 x 4 / 4 x 2 / 2 x 2 a thread: for GEMMs whose 64-row tiles are half padding
             # (32 output channels over a batch of images) or too few to fill the SMs
             (32, 64): 1.7, (64, 32): 1.7, (32, 32): 2.2}
#: resident warps an SM needs before its loads' latency is hidden (8 a K group; H100, ViT's
#: 2080 x 768 x 192 layer: 3 tiles of 64 x 64 an SM ran 8% faster whole than in 2 K groups)
BUSY_WARPS = 24
#: float32 GEMMs with too few tiles to fill the SMs split K over up to this many groups of
#: 256 threads in a block (ViT's 2080 x 192 x 768 projection: 99 tiles of 64 x 64)
MAX_K_GROUPS = 4
#: static shared memory a block may declare
SMEM_LIMIT = 48 * 1024
#: K splits across blocks tried (HETC_CUDA_SPLIT_K=0: none, for comparison)
SPLITS = (1,) if os.environ.get("HETC_CUDA_SPLIT_K", "1") == "0" else (1, 2, 4, 8)
#: the tiles that may split (128-wide ones are for GEMMs with tiles enough)
SPLIT_TILES = ((64, 64), (32, 64), (64, 32), (32, 32))
#: cost of a split in the cost model's units (an SM's multiply-adds in 128 x 128 tiles, ~90 a
#: cycle): per partial sum the busiest SM's blocks write (an SM moves 8-16 floats a cycle to
#: L2), per partial the last block reads back (serial: the tile waits for it), and once per
#: split GEMM (the fence, the semaphore's atomic, ~1 us). Fitted to an H100 sweep of 22
#: forced tile / group / split forms on 10 GEMM shapes from ResNet-18, BERT-mini and
#: ViT-tiny at batch 32: ranking only the forms timed, the model's picks were 1.3 us slower
#: than the fastest ones summed over the 10 shapes (wide 64 x 64 tiles split 8 ways lost to
#: 32 x 64 ones split 4 ways on the long-K ResNet layers: the last block's read-back)
SPLIT_WRITE_COST = 8
SPLIT_READ_COST = 16
SPLIT_FIXED_COST = 150_000
#: K splits are tried only where the tiles alone leave SMs idle, and each split keeps this
#: much of K: shorter ones lost to the unsplit form on every shape timed (H100: ViT-tiny's
#: batch-32 2080 x 192 x 192 layer, 13 us in 3 K groups, 18 us in 4 splits of 48)
SPLIT_MIN_K = 16 * BK

@dataclass(frozen=True)
class SimtConfig:
    bm: int
    bn: int
    ks: int = 1  # K groups: each runs the whole tile over every ks-th K slice
    splits: int = 1  # K splits across blocks (grid z), met through the workspace

    def split_slices(self, k: int) -> int:
        """BK-deep K slices each split takes (the last may take fewer)."""
        return -(-(-(-k // BK)) // self.splits)

    def tiles(self, m: int, n: int, nbatch: int) -> int:
        return -(-m // self.bm) * -(-n // self.bn) * nbatch

    def work_floats(self, m: int, n: int, nbatch: int) -> int:
        """Floats of the model's workspace a split GEMM's partial tiles take (0: no split)."""
        return 0 if self.splits == 1 else self.tiles(m, n, nbatch) * self.splits * self.bm * self.bn

    def semaphores(self, m: int, n: int, nbatch: int) -> int:
        """A split GEMM's semaphores: one a tile (0: no split)."""
        return 0 if self.splits == 1 else self.tiles(m, n, nbatch)

    @property
    def threads(self) -> int:
        return THREADS * self.ks

    @property
    def group_floats(self) -> int:  # one group's two A and two B buffers
        return 2 * BK * (self.bm + 4 + self.bn + 4)

    @property
    def smem_floats(self) -> int:  # the groups' buffers, reused for the partial sums
        return max(self.ks * self.group_floats, self.bm * self.bn if self.ks > 1 else 0)

    @property
    def tm(self) -> int:  # rows a thread holds
        return self.bm // 16

    @property
    def tn(self) -> int:  # columns a thread holds
        return self.bn // 16


def simt_cost(cfg: SimtConfig, m: int, n: int, k: int, nbatch: int, sm_count: int) -> float | None:
    """Predicted time of `cfg` on an M x N x K GEMM (nbatch products), in an SM's multiply-
    adds: the busiest SM's blocks x their outputs x their K x the tile's cost per output,
    slowed where too few warps are resident, plus 10% a K group for combining the partial
    sums and, for K splits, the partials written and read back; None where `cfg` does not
    apply (shared memory, too short a K for its groups or splits, tiles that fill the SMs
    without splitting)."""
    bm, bn, ks, splits = cfg.bm, cfg.bn, cfg.ks, cfg.splits
    kc = cfg.split_slices(k) * BK
    if ks > 1 and (cfg.smem_floats * 4 > SMEM_LIMIT or kc < 4 * BK * ks):
        return None
    tiles = cfg.tiles(m, n, nbatch)
    if splits > 1 and ((bm, bn) not in SPLIT_TILES or tiles >= sm_count or kc < SPLIT_MIN_K or -(-k // kc) < splits):
        return None  # a wide tile, tiles that fill the SMs already, too short a split, or an empty one
    per_sm = -(-tiles * splits // sm_count)
    busy = min(1.0, per_sm * ks * (THREADS // 32) / BUSY_WARPS)
    cost = per_sm * bm * bn * TILE_COST[bm, bn] * min(k, kc) / busy * (1 + 0.1 * (ks - 1))
    if splits > 1:
        cost += (per_sm * SPLIT_WRITE_COST + splits * SPLIT_READ_COST) * bm * bn + SPLIT_FIXED_COST
    return cost


def choose_simt_config(m: int, n: int, k: int, nbatch: int, sm_count: int) -> SimtConfig:
    """The tile, K groups and K splits with the least predicted time (`simt_cost`);
    HETC_CUDA_SIMT_TILE=BMxBNxKS[xS] forces one."""
    forced = os.environ.get("HETC_CUDA_SIMT_TILE")
    if forced:
        return SimtConfig(*(int(x) for x in forced.split("x")))
    best = None
    for bm, bn in TILE_COST:
        for ks in range(1, MAX_K_GROUPS + 1):
            for splits in SPLITS:
                cfg = SimtConfig(bm, bn, ks, splits)
                cost = simt_cost(cfg, m, n, k, nbatch, sm_count)
                if cost is None:
                    continue
                key = (cost, cfg.tiles(m, n, nbatch) * bm * bn, ks, splits)
                if best is None or key < best[0]:
                    best = (key, cfg)
    return best[1]


class SimtGemmPrinter:
    """Mixin of CudaPrinter: the float32 CUDA-core GEMM tiles."""

    def _print_gemm(self, fn: func.FuncOp, fname: str, parts, cfg: SimtConfig) -> str:
        (m, n, k), li, lj, lk, _, _, _, lbatch, va, vb = parts
        sig = self._signature(fn, fname)
        self.lines = [sig.replace(f"__launch_bounds__({THREADS})", f"__launch_bounds__({cfg.threads})")]
        self._pure_top(fn, 1)
        outer = list(lbatch.body.block.ops) if lbatch is not None else []
        for op in outer + list(li.body.block.ops) + list(lj.body.block.ops):
            if isinstance(op, arith.ConstantOp):
                self._op(op, 1, False)
        e, t = self._emit, self.index_ctype
        bm, bn, tm, tn, ks, splits = cfg.bm, cfg.bn, cfg.tm, cfg.tn, cfg.ks, cfg.splits
        nbatch = _trip_count(lbatch) if lbatch is not None else 1
        if splits > 1:  # the model's workspace for partial tiles, and its semaphores
            self.lines[0] = self.lines[0].replace(") {", ", float* __restrict__ hetc_work, unsigned* __restrict__ hetc_sems) {")
        z = "blockIdx.z" if splits == 1 else f"(blockIdx.z / {splits})"
        if lbatch is not None:
            self._emit(1, f"const {self.index_ctype} hetc_bt = {z};")
            self.names[lbatch.body.block.args[0]] = "hetc_bt"
        i_arg, j_arg, k_arg = li.body.block.args[0], lj.body.block.args[0], lk.body.block.args[0]
        na, nb = bm * BK // THREADS, BK * bn // THREADS  # elements a thread loads a slice
        groups = f", K split over {ks} groups of {THREADS} threads" if ks > 1 else ""
        groups += f", K split across {splits} blocks" if splits > 1 else ""
        e(1, f"/* {m} x {n} x {k} GEMM, {bm} x {bn} tiles, fp32, {tm} x {tn} per thread, 2 x {BK}-deep buffers{groups} */")
        kc = cfg.split_slices(k) * BK  # K a split covers
        kend = str(k)
        if splits > 1:
            e(1, f"const int hetc_z = blockIdx.z % {splits};  /* this block's split of K */")
            e(1, f"const {t} hetc_kbase = hetc_z * {kc}, hetc_kend = min(({t}){k}, hetc_kbase + {kc});")
            kend = "hetc_kend"
        e(1, f"const {t} hetc_row0 = blockIdx.y * {bm}, hetc_col0 = blockIdx.x * {bn};")
        e(1, f"const int hetc_tid = threadIdx.x & {THREADS - 1}, hetc_g = threadIdx.x / {THREADS};")
        e(1, "const int hetc_tx = hetc_tid & 15, hetc_ty = hetc_tid >> 4;")
        # each K group's two A and two B buffers; rows +4: 16-byte aligned float4 reads,
        # and the transposed A stores hit 32 banks. The partial sums reuse them.
        e(1, f"__shared__ __align__(16) float hetc_smem[{cfg.smem_floats}];")
        e(1, f"float (*hetc_As)[{BK}][{bm} + 4] = (float (*)[{BK}][{bm} + 4])(hetc_smem + hetc_g * {cfg.group_floats});")
        e(1, f"float (*hetc_Bs)[{BK}][{bn} + 4] = (float (*)[{BK}][{bn} + 4])(hetc_smem + hetc_g * {cfg.group_floats} + {2 * BK * (bm + 4)});")
        e(1, f"float hetc_c[{tm}][{tn}] = {{{{0.0f}}}};")
        e(1, f"float hetc_ra[{na}], hetc_rb[{nb}];")
        # B read as B^T (its last index is k: attention's K^T read in place) is loaded like A,
        # consecutive threads along k; else along N, and then a thread's B column is the
        # same at every K slice (THREADS is a multiple of BN): its index terms (an
        # implicit-GEMM convolution's window) are computed once
        b_kmajor = list(parts[5].indices)[-1] is k_arg
        hoisted = set()
        if not b_kmajor:
            self.names[j_arg] = f"(hetc_col0 + (hetc_tid & {bn - 1}))"
            hoisted = self._hoist(self._slice(vb.owner, lk.body.block), {k_arg, i_arg}, 1)
        b_coords = (f"const int hetc_e = hetc_tid + {THREADS} * hetc_l, hetc_cc = hetc_e / {BK}, hetc_kc = hetc_e % {BK};"
                    if b_kmajor else f"const int hetc_kc = hetc_l * {THREADS // bn} + hetc_tid / {bn}, hetc_cc = hetc_tid & {bn - 1};")

        def load(depth: int, k0: str) -> None:
            """The slice at K offset `k0` into hetc_ra / hetc_rb (zero outside the matrix)."""
            e(depth, "#pragma unroll")
            e(depth, f"for (int hetc_l = 0; hetc_l < {na}; hetc_l++) {{")
            # consecutive threads walk k along a row of A (row-major [M, K] or a view)
            e(depth + 1, f"const int hetc_e = hetc_tid + {THREADS} * hetc_l, hetc_r = hetc_e / {BK}, hetc_kc = hetc_e % {BK};")
            e(depth + 1, "float hetc_v = 0.0f;")
            e(depth + 1, f"if (hetc_row0 + hetc_r < {m} && {k0} + hetc_kc < {kend}) {{")
            self.names[i_arg], self.names[k_arg] = "(hetc_row0 + hetc_r)", f"({k0} + hetc_kc)"
            for op in self._slice(va.owner, lk.body.block):
                self._op(op, depth + 2, False)
            e(depth + 2, f"hetc_v = {self.names[va]};")
            e(depth + 1, "}")
            e(depth + 1, "hetc_ra[hetc_l] = hetc_v;")
            e(depth, "}")
            e(depth, "#pragma unroll")
            e(depth, f"for (int hetc_l = 0; hetc_l < {nb}; hetc_l++) {{")
            e(depth + 1, b_coords)
            e(depth + 1, "float hetc_v = 0.0f;")
            e(depth + 1, f"if (hetc_col0 + hetc_cc < {n} && {k0} + hetc_kc < {kend}) {{")
            self.names[j_arg], self.names[k_arg] = "(hetc_col0 + hetc_cc)", f"({k0} + hetc_kc)"
            for op in self._slice(vb.owner, lk.body.block):
                if op not in hoisted:
                    self._op(op, depth + 2, False)
            e(depth + 2, f"hetc_v = {self.names[vb]};")
            e(depth + 1, "}")
            e(depth + 1, "hetc_rb[hetc_l] = hetc_v;")
            e(depth, "}")

        def store(depth: int, buf: str) -> None:
            e(depth, "#pragma unroll")
            e(depth, f"for (int hetc_l = 0; hetc_l < {na}; hetc_l++) {{")
            e(depth + 1, f"const int hetc_e = hetc_tid + {THREADS} * hetc_l;")
            e(depth + 1, f"hetc_As[{buf}][hetc_e % {BK}][hetc_e / {BK}] = hetc_ra[hetc_l];")
            e(depth, "}")
            e(depth, "#pragma unroll")
            e(depth, f"for (int hetc_l = 0; hetc_l < {nb}; hetc_l++) {{")
            e(depth + 1, b_coords)
            e(depth + 1, f"hetc_Bs[{buf}][hetc_kc][hetc_cc] = hetc_rb[hetc_l];")
            e(depth, "}")

        # group g takes K slices g, g + ks, ...; every group runs the same number of steps
        # (a slice past K loads zeros) so that all meet at each barrier
        step = BK * ks
        steps = -(-min(k, kc) // step)
        base = "hetc_kbase + " if splits > 1 else ""
        load(1, f"{base}hetc_g * {BK}")
        store(1, "0")
        e(1, "__syncthreads();")
        e(1, f"for (int hetc_s = 0; hetc_s < {steps}; hetc_s++) {{")
        e(2, f"const {t} hetc_k0 = {base}hetc_s * {step} + hetc_g * {BK};")
        e(2, "const int hetc_cur = hetc_s & 1;")
        e(2, f"const bool hetc_more = hetc_s + 1 < {steps};")
        e(2, "if (hetc_more) {")
        load(3, f"(hetc_k0 + {step})")
        e(2, "}")
        e(2, "#pragma unroll")
        e(2, f"for (int hetc_kc = 0; hetc_kc < {BK}; hetc_kc++) {{")
        e(3, f"float hetc_a[{tm}], hetc_b[{tn}];")
        # a thread's rows: sub-blocks of su = min(4, TM) rows, ty * su .. + su - 1 in each
        # 16 su-row part of the tile; columns likewise with tx
        for which, count, arr, idx in (("a", tm, "As", "ty"), ("b", tn, "Bs", "tx")):
            su = min(4, count)
            for g in range(count // su):
                e(3, f"{{ const float{su} hetc_q = *(const float{su} *)&hetc_{arr}[hetc_cur][hetc_kc][hetc_{idx} * {su} + {16 * su * g}];")
                e(4, " ".join(f"hetc_{which}[{su * g + c}] = hetc_q.{f};" for c, f in enumerate("xyzw"[:su])) + " }")
        e(3, "#pragma unroll")
        e(3, f"for (int a = 0; a < {tm}; a++)")
        e(4, "#pragma unroll")
        e(4, f"for (int b = 0; b < {tn}; b++) hetc_c[a][b] = fmaf(hetc_a[a], hetc_b[b], hetc_c[a][b]);")
        e(2, "}")
        e(2, "if (hetc_more) {")
        store(3, "hetc_cur ^ 1")
        e(2, "}")
        e(2, "__syncthreads();")
        e(1, "}")
        sm, sn = min(4, tm), min(4, tn)
        row = f"(hetc_a / {sm}) * {16 * sm} + hetc_ty * {sm} + (hetc_a % {sm})"
        col = f"(hetc_b / {sn}) * {16 * sn} + hetc_tx * {sn} + (hetc_b % {sn})"
        def each_sum(depth: int, statement: str) -> None:  # unrolled: hetc_c stays in registers
            e(depth, "#pragma unroll")
            e(depth, f"for (int hetc_a = 0; hetc_a < {tm}; hetc_a++)")
            e(depth + 1, "#pragma unroll")
            e(depth + 1, f"for (int hetc_b = 0; hetc_b < {tn}; hetc_b++) {statement}")

        if ks > 1:  # the groups' partial sums meet in shared memory, in turn; group 0 stores
            partial = f"hetc_smem[({row}) * {bn} + {col}]"
            for g in range(1, ks):
                e(1, f"if (hetc_g == {g}) {{")
                each_sum(2, f"{partial} {'=' if g == 1 else '+='} hetc_c[hetc_a][hetc_b];")
                e(1, "}")
                e(1, "__syncthreads();")
            e(1, "if (hetc_g != 0) return;")
            each_sum(1, f"hetc_c[hetc_a][hetc_b] += {partial};")
        if splits > 1:
            self._split_meet(cfg, m, n, nbatch, each_sum, row, col)
        e(1, "#pragma unroll")
        e(1, f"for (int hetc_a = 0; hetc_a < {tm}; hetc_a++)")
        e(1, "#pragma unroll")
        e(1, f"for (int hetc_q = 0; hetc_q < {tn // sn}; hetc_q++) {{  /* {sn} neighbouring columns */")
        e(2, f"const int hetc_r = {row}, hetc_cc = hetc_q * {16 * sn} + hetc_tx * {sn};")
        self._gemm_output_run(parts, outer, [f"hetc_c[hetc_a][hetc_q * {sn} + {t}]" for t in range(sn)], 2)
        e(1, "}")
        self.lines.append("}")
        return "\n".join(self.lines)

    def _split_meet(self, cfg: SimtConfig, m: int, n: int, nbatch: int, each_sum, row: str, col: str) -> None:
        """A K split's partial tile to the workspace; the tile's last block to arrive adds
        them all in split order into hetc_c (its own from registers) and resets the tile's
        semaphore. Only group 0's threads are left: they meet at named barrier 1. The
        semaphores are their own buffer: a later split GEMM's partials must not land on
        an earlier one's semaphores (all start and end each launch at 0)."""
        e, t, bm, bn, splits = self._emit, self.index_ctype, cfg.bm, cfg.bn, cfg.splits
        gx, gy = -(-n // bn), -(-m // bm)
        e(1, f"const {t} hetc_tile = ({t})(blockIdx.z / {splits}) * {gx * gy} + blockIdx.y * {gx} + blockIdx.x;")
        e(1, f"float* const hetc_part = hetc_work + (size_t)hetc_tile * {splits * bm * bn};")
        e(1, "unsigned* const hetc_sem = hetc_sems + hetc_tile;")
        each_sum(1, f"__stcg(&hetc_part[hetc_z * {bm * bn} + ({row}) * {bn} + {col}], hetc_c[hetc_a][hetc_b]);")
        e(1, "__threadfence();  /* the partials reach L2 before the semaphore counts them */")
        e(1, "__shared__ unsigned hetc_arrived;")
        e(1, f"asm volatile(\"bar.sync 1, {THREADS};\");")
        e(1, f"if (hetc_tid == 0) hetc_arrived = atomicAdd(hetc_sem, 1u);")
        e(1, f"asm volatile(\"bar.sync 1, {THREADS};\");")
        e(1, f"if (hetc_arrived != {splits - 1}) return;  /* not the last: the last one finishes the tile */")
        e(1, "__threadfence();")
        e(1, "if (hetc_tid == 0) *hetc_sem = 0u;  /* ready for the next run */")
        each_sum(1, "{")
        e(3, "float hetc_v;")
        e(3, "#pragma unroll")
        e(3, f"for (int hetc_q = 0; hetc_q < {splits}; hetc_q++)  /* in split order: the same sum whoever is last */")
        part = f"(hetc_q == hetc_z ? hetc_c[hetc_a][hetc_b] : __ldcg(&hetc_part[hetc_q * {bm * bn} + ({row}) * {bn} + {col}]))"
        e(4, f"hetc_v = hetc_q == 0 ? {part} : hetc_v + {part};")
        e(3, "hetc_c[hetc_a][hetc_b] = hetc_v;")
        e(2, "}")
