"""Tensor-core GEMM tiles of the CUDA printer: `mma.sync` over double-buffered shared memory.

A kernel marked `hetc.gemm` whose operands are float16 / bfloat16 (or float32 under
precision tf32, or converted under fp16 / bf16) is printed as one block per BM x BN output
tile, warps of WM x WN outputs each, and a K loop over BK-deep stages:

- **operands.** An operand read straight from a row-major matrix argument (A[i, k] with K
  contiguous, B[k, j] with N contiguous, maybe behind a batch index) whose rows are 16-byte
  aligned is copied with `cp.async` (16 bytes per copy, no registers; partial chunks at the
  edges and a misaligned base fall back to element loads). Any other operand (an im2col
  panel, a view, a float32 operand converted to half) is loaded by its own nest ops into
  registers, one tile ahead, and stored to shared memory after the current tile's math: the
  loads of tile t+1 are in flight while tile t is multiplied either way.
- **math.** 16-bit: `ldmatrix` (x4; `.trans` for B, stored k-major) into fragments, then
  `mma.sync.m16n8k16` with float32 accumulators. tf32: scalar fragment loads (padded rows:
  no bank conflicts), rounded with `cvt.rna.tf32.f32`, `mma.sync.m16n8k8`.
- **epilogue.** Each thread applies the nest's own ops after the k loop (bias, fused
  activation, residual, the store and its rounding to the output type) to the outputs its
  fragments hold, straight from registers.

Rows are padded (16 bytes for A, 16 / 32 bytes for B) so that ldmatrix and the tf32
fragment loads hit 32 distinct banks. Needs sm_80 or newer (cp.async, mma.sync m16n8k16).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from xdsl.dialects import memref
from xdsl.dialects.builtin import BFloat16Type, Float16Type, Float32Type
from xdsl.ir import BlockArgument, SSAValue

#: warp tiles tried, rows x columns -> relative cost per output (a smaller tile reads
#: more fragments from shared memory per mma; 64 x 64, 128 accumulators a thread, measured
#: 20% slower than 64 x 32 at 4096^3 on an H100)
WARP_TILES = {(64, 64): 1.1, (64, 32): 1.0, (32, 32): 1.25}
#: resident warps an SM needs before its tensor cores stay busy
BUSY_WARPS = 8
#: K steps' worth of time a block spends filling its pipeline before the first multiply
FILL_STEPS = 2


@dataclass(frozen=True)
class MmaConfig:
    kind: str  # "f16" | "bf16" | "tf32"
    bm: int
    bn: int
    wm: int
    wn: int
    kbytes: int = 64
    #: K groups: `ks` sets of warps in one block, each over every ks-th K tile with its own
    #: stages, their partial sums added in shared memory (only where both operands are
    #: copied by cp.async)
    ks: int = 1

    @property
    def warps(self) -> int:
        """Warps of one K group (each holds WM x WN outputs of the tile)."""
        return (self.bm // self.wm) * (self.bn // self.wn)

    @property
    def threads(self) -> int:
        return 32 * self.warps * self.ks

    @property
    def half(self) -> bool:
        return self.kind != "tf32"

    @property
    def bk(self) -> int:
        return self.kbytes // (2 if self.half else 4)

    @property
    def kstep(self) -> int:
        return 16 if self.half else 8

    @property
    def vec(self) -> int:  # elements per 16-byte copy
        return 8 if self.half else 4

    @property
    def pad_a(self) -> int:
        return 8 if self.half else 4

    @property
    def pad_b(self) -> int:
        return 8

    @property
    def stages(self) -> int:
        """Tiles in flight when every operand is copied by cp.async (else 2: one in
        registers, one in shared memory): 4 where they fit in 160 KiB of the 227."""
        return 4 if self.smem_bytes(4) <= 110 * 1024 else 3

    def stores(self, load: memref.LoadOp) -> bool:
        """Does `load` read elements of the type the tiles hold (no conversion on the way)?"""
        want = {"f16": Float16Type, "bf16": BFloat16Type, "tf32": Float32Type}[self.kind]
        return isinstance(load.memref.type.get_element_type(), want)

    def smem_bytes(self, stages: int) -> int:
        e = 2 if self.half else 4
        return stages * (self.bm * (self.bk + self.pad_a) + self.bk * (self.bn + self.pad_b)) * e


def choose_config(kind: str, m: int, n: int, nbatch: int, sm_count: int, k: int = 0, k_groups: bool = False) -> MmaConfig:
    """The tile shape with the least predicted time: the busiest SM's tiles x their padded
    outputs x the K steps of a tile (plus the pipeline's fill), slowed where too few warps
    are resident to keep the tensor cores fed. `k_groups` (both operands copied by
    cp.async): K may also be split over 2 or 4 groups of warps in a block, which fills the
    SMs where the tiles are few (ViT's 2080 x 192 x 768 projection: 99 64 x 64 tiles)."""
    forced = os.environ.get("HETC_CUDA_MMA_TILE")  # BMxBNxWMxWN[xKS], for tuning
    if forced:
        bm, bn, wm, wn, *ks = (int(x) for x in forced.split("x"))
        return MmaConfig(kind, bm, bn, wm, wn, int(os.environ.get("HETC_CUDA_MMA_KBYTES", "64")), ks[0] if ks and k_groups else 1)
    k_groups = k_groups and os.environ.get("HETC_CUDA_MMA_KGROUPS", "1") != "0"  # (for measurements)
    steps = max(1, -(-k // MmaConfig(kind, 16, 8, 16, 8).bk))  # K tiles of a block, ungrouped
    best: dict[bool, tuple] = {}
    for (wm, wn), factor in WARP_TILES.items():
        for wr in (1, 2, 4):
            for wc in (1, 2, 4):
                warps = wr * wc
                bm, bn = wr * wm, wc * wn
                if warps not in (2, 4, 8) or bm > 128 or bn > 256:
                    continue
                tiles = -(-m // bm) * -(-n // bn) * nbatch
                per_sm = -(-tiles // sm_count)
                for ks in (1, 2, 4) if k_groups else (1,):
                    if warps * ks > 8 or ks > 1 and -(-steps // ks) < 2:
                        continue
                    # K groups add no multiply-adds, only resident warps (and the sharing
                    # of their partial sums)
                    busy = min(1.0, per_sm * warps * ks / BUSY_WARPS)
                    cost = per_sm * bm * bn * factor * (steps + FILL_STEPS + (ks > 1)) / busy
                    key = (cost, tiles * bm * bn, ks, -warps)
                    if (ks > 1) not in best or key < best[ks > 1][0]:
                        best[ks > 1] = (key, MmaConfig(kind, bm, bn, wm, wn, ks=ks), busy)
    # K groups only where the best plain tiles leave the tensor cores short of warps (their
    # cost model does not see the smaller warp tiles' extra fragment traffic at short K)
    plain = best[False]
    if True in best and plain[2] < 1.0 and best[True][0] < plain[0]:
        return best[True][1]
    return plain[1]


def mma_kind(precision: str, a_type, b_type, arch: str) -> str | None:
    """The tensor-core form of a GEMM with these operand element types, or None (CUDA cores)."""
    if int(arch.removeprefix("sm_").rstrip("a") or 0) < 80:
        return None
    names = {Float16Type: "f16", BFloat16Type: "bf16", Float32Type: "f32"}
    ta, tb = names.get(type(a_type)), names.get(type(b_type))
    if ta is None or tb is None:
        return None
    if ta == tb and ta in ("f16", "bf16"):
        return ta
    if precision in ("fp16", "bf16"):  # float32 operands are rounded to the storage type
        return "f16" if precision == "fp16" else "bf16"
    if ta == tb == "f32" and precision == "tf32":
        return "tf32"
    return None


def device_helpers() -> str:
    """The inline-PTX wrappers the tiles call (in every .cu: unused inline functions are
    never emitted, so a build for an older GPU fails only if a tile uses them)."""
    return r"""static __device__ __forceinline__ void hetc_cp_async16(void* smem, const void* gmem) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"((unsigned)__cvta_generic_to_shared(smem)), "l"(gmem));
}
static __device__ __forceinline__ void hetc_cp_async_commit(void) { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
/* wait until at most N of this thread's copy groups are still in flight */
template <int N> static __device__ __forceinline__ void hetc_cp_async_wait(void) {
  asm volatile("cp.async.wait_group %0;\n" :: "n"(N) : "memory");
}
static __device__ __forceinline__ void hetc_ldsm_x4(unsigned* r, const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"((unsigned)__cvta_generic_to_shared(smem)));
}
static __device__ __forceinline__ void hetc_ldsm_x4_t(unsigned* r, const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"((unsigned)__cvta_generic_to_shared(smem)));
}
#define HETC_MMA16(NAME, T)                                                                              \
  static __device__ __forceinline__ void NAME(float* c, const unsigned* a, const unsigned* b) {           \
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." T "." T ".f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n" \
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])                                        \
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));                    \
  }
HETC_MMA16(hetc_mma_f16, "f16")
HETC_MMA16(hetc_mma_bf16, "bf16")
static __device__ __forceinline__ unsigned hetc_tf32(float x) {
  unsigned r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}
static __device__ __forceinline__ void hetc_mma_tf32(float* c, const unsigned* a, const unsigned* b) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}"""


def operand_forms(kind: str, parts) -> tuple[bool, bool, bool]:
    """(A copied by cp.async, B copied by cp.async, B copied as B^T) for a GEMM nest's
    operands: those stored in the tile's type, read straight from a row-major matrix
    argument whose rows are whole 16-byte chunks. B^T: attention's K^T read in place,
    copied as it is (N rows of K) and fed to the tensor cores K-major."""
    (m, n, k), li, lj, lk, la, lb_, _, lbatch, _, _ = parts
    cfg = MmaConfig(kind, 16, 8, 16, 8)
    bt_arg = lbatch.body.block.args[0] if lbatch is not None else None
    i_arg, j_arg, k_arg = li.body.block.args[0], lj.body.block.args[0], lk.body.block.args[0]
    ebytes = 2 if cfg.half else 4
    row_bytes = [ld.memref.type.get_shape()[-1] * ebytes for ld in (la, lb_)]
    direct_a = cfg.stores(la) and row_bytes[0] % 16 == 0 and _direct(la, i_arg, k_arg, bt_arg, (m, k))
    direct_b = cfg.stores(lb_) and row_bytes[1] % 16 == 0 and _direct(lb_, k_arg, j_arg, bt_arg, (k, n))
    b_kmajor = not direct_b and cfg.stores(lb_) and row_bytes[1] % 16 == 0 and _direct(lb_, j_arg, k_arg, bt_arg, (n, k))
    return direct_a, direct_b or b_kmajor, b_kmajor


def _direct(load: memref.LoadOp, row_iv: SSAValue, col_iv: SSAValue, batch_iv: SSAValue | None, shape2: tuple[int, int]) -> bool:
    """Does `load` read a row-major [rows, >= cols] matrix (maybe one of a batch) at exactly
    [row_iv, col_iv]? Then its tile rows are contiguous runs of memory (rows may be longer
    than the GEMM's: an im2col buffer's are padded to 16-byte multiples)."""
    if not isinstance(load.memref, BlockArgument):
        return False  # not a kernel argument (an alloca or a view made in the kernel)
    idx = list(load.indices)
    shape = list(load.memref.type.get_shape())
    if idx[-2:] != [row_iv, col_iv] or len(shape) < 2 or shape[-2] != shape2[0] or shape[-1] < shape2[1]:
        return False
    if len(idx) == 2:
        return True
    return len(idx) == 3 and batch_iv is not None and idx[0] is batch_iv


class MmaGemmPrinter:
    """Mixin of CudaPrinter: `_print_mma_gemm` (see the module docstring)."""

    def _tile_operand(self, load: memref.LoadOp, value: SSAValue, cfg: MmaConfig):
        """(ops to print, C expression of the element as stored in shared memory)."""
        if not cfg.half:
            return self._slice(value.owner, load.parent_block()), lambda: self.names[value]
        if cfg.stores(load):  # the bits as they are
            return self._slice(load, load.parent_block()), lambda: self.names[load.results[0]]
        conv = "__half_as_ushort(__float2half_rn({}))" if cfg.kind == "f16" else "__bfloat16_as_ushort(__float2bfloat16_rn({}))"
        return self._slice(value.owner, load.parent_block()), lambda: conv.format(self.names[value])

    def _print_mma_gemm(self, fn, fname: str, parts, cfg: MmaConfig) -> str:
        (m, n, k), li, lj, lk, la, lb_, _, lbatch, va, vb = parts
        from xdsl.dialects import arith

        self.lines = [self._signature(fn, fname)]
        self.hoisted = set()
        e, t = self._emit, self.index_ctype
        self._pure_top(fn, 1)
        outer = list(lbatch.body.block.ops) if lbatch is not None else []
        for op in outer + list(li.body.block.ops) + list(lj.body.block.ops):
            if isinstance(op, arith.ConstantOp):
                self._op(op, 1, False)
        bt_arg = lbatch.body.block.args[0] if lbatch is not None else None
        if lbatch is not None:
            e(1, f"const {t} hetc_bt = blockIdx.z;")
            self.names[bt_arg] = "hetc_bt"
        i_arg, j_arg, k_arg = li.body.block.args[0], lj.body.block.args[0], lk.body.block.args[0]
        bm, bn, bk = cfg.bm, cfg.bn, cfg.bk
        stype = "unsigned short" if cfg.half else "float"
        ebytes = 2 if cfg.half else 4
        direct_a, direct_b, b_kmajor = operand_forms(cfg.kind, parts)
        ks = cfg.ks
        assert ks == 1 or direct_a and direct_b, "K groups need both operands copied by cp.async"
        threads = cfg.threads // ks  # of one K group: the loads and the math are per group
        mi, ni = cfg.wm // 16, cfg.wn // 8
        kt_count = -(-k // bk)
        iters = -(-kt_count // ks)  # K tiles of one group: group g takes tiles g, g + ks, ...
        stages = cfg.stages if direct_a and direct_b else 2
        stages = int(os.environ.get("HETC_CUDA_MMA_STAGES", stages)) if stages > 2 else stages  # (tuning)
        e(1, f"/* {m} x {n} x {k} GEMM on the tensor cores ({cfg.kind}, mma.sync): {bm} x {bn} tiles, "
             f"{cfg.warps} warps of {cfg.wm} x {cfg.wn}{f' in each of {ks} K groups' if ks > 1 else ''}, {stages} stages {bk} deep; "
             f"A {'cp.async' if direct_a else 'loaded ahead in registers'}, "
             f"B {'K-major cp.async' if b_kmajor else 'cp.async' if direct_b else 'loaded ahead in registers'} */")
        #: dynamic shared memory of this launch (the host raises the 48 KiB default where needed)
        a_bytes = stages * bm * (bk + cfg.pad_a) * ebytes
        group_bytes = a_bytes + stages * bn * (bk + cfg.pad_a) * ebytes if b_kmajor else cfg.smem_bytes(stages)
        # a K group's stages follow the previous group's; the partial sums reuse them
        self.mma_smem = max(ks * group_bytes, (ks - 1) * bm * bn * 4)
        b_tile = f"[{bn}][{bk + cfg.pad_a}]" if b_kmajor else f"[{bk}][{bn + cfg.pad_b}]"
        e(1, "extern __shared__ __align__(16) unsigned char hetc_smem[];  /* the stages: A tiles, then B tiles */")
        if ks > 1:
            e(1, f"const int hetc_kg = threadIdx.x / {threads};  /* this thread's K group */")
        base = f"hetc_smem + hetc_kg * {group_bytes}" if ks > 1 else "hetc_smem"
        e(1, f"{stype} (*const hetc_As)[{bm}][{bk + cfg.pad_a}] = reinterpret_cast<{stype} (*)[{bm}][{bk + cfg.pad_a}]>({base});")
        e(1, f"{stype} (*const hetc_Bs){b_tile} = reinterpret_cast<{stype} (*){b_tile}>({base} + {a_bytes});")
        e(1, f"const {t} hetc_row0 = ({t})blockIdx.y * {bm}, hetc_col0 = ({t})blockIdx.x * {bn};")
        tid = f"threadIdx.x % {threads}" if ks > 1 else "threadIdx.x"
        e(1, f"const int hetc_tid = {tid}, hetc_lane = hetc_tid & 31, hetc_warp = hetc_tid >> 5;")
        e(1, f"const int hetc_wm = (hetc_warp / {bn // cfg.wn}) * {cfg.wm}, hetc_wn = (hetc_warp % {bn // cfg.wn}) * {cfg.wn};")
        e(1, f"float hetc_c[{mi}][{ni}][4];")
        e(1, f"for (int a = 0; a < {mi}; a++) for (int b = 0; b < {ni}; b++) for (int r = 0; r < 4; r++) hetc_c[a][b][r] = 0.0f;")
        if direct_a or direct_b:  # a view's base may be misaligned: then element copies
            base = [f"(size_t){self.names[ld.memref]}" for ld, d in ((la, direct_a), (lb_, direct_b)) if d]
            e(1, f"const bool hetc_vec = ((({' | '.join(base)}) & 15) == 0);")
        loads = ((la, va, "A", direct_a, i_arg, k_arg, m, k, "hetc_row0", bm, bk),
                 (lb_, vb, "Bt", True, j_arg, k_arg, n, k, "hetc_col0", bn, bk) if b_kmajor else
                 (lb_, vb, "B", direct_b, k_arg, j_arg, k, n, "hetc_col0", bk, bn))
        if stages > 2:
            # every operand copied by cp.async: `stages` tiles in flight, one commit group
            # each; with K groups, step s of group g is K tile s * ks + g (every group runs
            # the same steps, so the block-wide barriers match; a tile past K is skipped)
            tile = (lambda step: f"({step}) * {ks} + hetc_kg") if ks > 1 else (lambda step: step)
            e(1, f"for (int hetc_p = 0; hetc_p < {stages - 1}; hetc_p++) {{")
            e(2, f"if ({tile('hetc_p')} < {kt_count}) {{")
            e(3, f"const {t} hetc_kn = ({t})({tile('hetc_p')}) * {bk};")
            e(3, "const int hetc_sl = hetc_p;")
            for ld in loads:
                self._mma_load(ld[0], ld[1], cfg, *ld[2:], threads, 3)
            e(2, "}")
            e(2, "hetc_cp_async_commit();")
            e(1, "}")
            e(1, f"for (int hetc_kt = 0; hetc_kt < {iters}; hetc_kt++) {{")
            e(2, f"hetc_cp_async_wait<{stages - 2}>();  /* tile hetc_kt has landed */")
            e(2, "__syncthreads();")
            e(2, f"if ({tile(f'hetc_kt + {stages - 1}')} < {kt_count}) {{  /* into the stage every warp finished reading */")
            e(3, f"const {t} hetc_kn = ({t})({tile(f'hetc_kt + {stages - 1}')}) * {bk};")
            e(3, f"const int hetc_sl = (hetc_kt + {stages - 1}) % {stages};")
            for ld in loads:
                self._mma_load(ld[0], ld[1], cfg, *ld[2:], threads, 3)
            e(2, "}")
            e(2, "hetc_cp_async_commit();")
            e(2, f"const int hetc_sc = hetc_kt % {stages};")
            if ks > 1 and iters * ks != kt_count:
                e(2, f"if ({tile('hetc_kt')} < {kt_count}) {{")
                self._mma_compute(cfg, 3, b_kmajor)
                e(2, "}")
            else:
                self._mma_compute(cfg, 2, b_kmajor)
            e(1, "}")
            if ks > 1:
                self._mma_share_partials(mi, ni, threads, ks)
        else:
            if not direct_a:
                e(1, f"{stype} hetc_ra[{bm * bk // threads}];")
            if not direct_b:
                e(1, f"{stype} hetc_rb[{bk * bn // threads}];")
                if threads % bn == 0:  # each thread loads one column of every B tile
                    self.names[j_arg] = f"(hetc_col0 + hetc_tid % {bn})"
                    self.hoisted = self._hoist(self._tile_operand(lb_, vb, cfg)[0], {k_arg, i_arg}, 1)
            e(1, f"for (int hetc_kt = 0; hetc_kt <= {kt_count}; hetc_kt++) {{")
            e(2, f"const {t} hetc_kn = ({t})hetc_kt * {bk};  /* K offset of the tile loaded in this step */")
            e(2, "const int hetc_sl = hetc_kt & 1, hetc_sc = hetc_sl ^ 1;  /* stage loaded, stage multiplied */")
            e(2, f"if (hetc_kt < {kt_count}) {{")
            for ld in loads:
                self._mma_load(ld[0], ld[1], cfg, *ld[2:], threads, 3)
            e(2, "}")
            e(2, "if (hetc_kt > 0) {  /* the tile loaded in the previous step */")
            self._mma_compute(cfg, 3, b_kmajor)
            e(2, "}")
            # register-staged operands go to shared memory now, after the math
            e(2, f"if (hetc_kt < {kt_count}) {{")
            if not direct_a:
                self._mma_store_regs("A", bm, bk, threads, 3)
            if not direct_b:
                self._mma_store_regs("B", bk, bn, threads, 3)
            if direct_a or direct_b:
                e(3, "hetc_cp_async_commit();")
                e(3, "hetc_cp_async_wait<0>();")
            e(2, "}")
            e(2, "__syncthreads();")
            e(1, "}")
        # -- epilogue: the nest's ops after the k loop, per output a thread holds --
        e(1, "#pragma unroll")
        e(1, f"for (int hetc_a = 0; hetc_a < {mi}; hetc_a++)")
        e(1, "#pragma unroll")
        e(1, f"for (int hetc_b = 0; hetc_b < {ni}; hetc_b++)")
        e(1, "#pragma unroll")
        e(1, "for (int hetc_h = 0; hetc_h < 2; hetc_h++) {  /* rows +0 / +8, two neighbouring columns each */")
        e(2, "const int hetc_r = hetc_wm + hetc_a * 16 + (hetc_lane >> 2) + hetc_h * 8;")
        e(2, "const int hetc_cc = hetc_wn + hetc_b * 8 + (hetc_lane & 3) * 2;")
        self._gemm_output_run(parts, outer, [f"hetc_c[hetc_a][hetc_b][2 * hetc_h + {t}]" for t in range(2)], 2)
        e(1, "}")
        self.lines.append("}")
        return "\n".join(self.lines)

    def _mma_share_partials(self, mi: int, ni: int, threads: int, ks: int) -> None:
        """K groups 1.. add their accumulators into group 0's through shared memory (the
        stages, every copy done); group 0 then runs the epilogue, the others leave. Each
        thread's registers lie `threads` floats apart: neighbours hit neighbouring banks."""
        e, regs = self._emit, mi * ni * 4
        e(1, "hetc_cp_async_wait<0>();")
        e(1, "__syncthreads();  /* every group done with its stages */")
        e(1, "float* const hetc_part = reinterpret_cast<float*>(hetc_smem);")
        slot = f"(((a * {ni} + b) * 4 + h) + {{g}} * {regs}) * {threads} + hetc_tid"

        def each_accumulator(depth: int, stmt: str) -> None:
            for var, count in (("a", mi), ("b", ni), ("h", 4)):
                e(depth, "#pragma unroll")
                e(depth, f"for (int {var} = 0; {var} < {count}; {var}++)")
            e(depth + 1, stmt)

        e(1, "if (hetc_kg != 0) {")
        each_accumulator(2, f"hetc_part[{slot.format(g='(hetc_kg - 1)')}] = hetc_c[a][b][h];")
        e(1, "}")
        e(1, "__syncthreads();")
        e(1, "if (hetc_kg != 0) return;")
        e(1, f"for (int g = 0; g < {ks - 1}; g++) {{")
        each_accumulator(2, f"hetc_c[a][b][h] += hetc_part[{slot.format(g='g')}];")
        e(1, "}")

    def _mma_load(self, load, value, cfg: MmaConfig, which: str, direct: bool, row_iv, col_iv, rows: int, cols: int,
                  origin: str, tr: int, tc: int, threads: int, depth: int) -> None:
        """Issue the loads of one operand's tile (tr x tc at the current K offset). A: rows
        are the tile's M rows (origin hetc_row0), columns K; B: rows K, columns N (origin
        hetc_col0); Bt (B^T): rows N, columns K."""
        e = self._emit
        dst = "hetc_As" if which == "A" else "hetc_Bs"
        # which of (row, column) is the K axis and which the M/N axis of the tile
        row0, col0 = (origin, "hetc_kn") if which in ("A", "Bt") else ("hetc_kn", origin)
        rexpr, cexpr = f"({row0} + hetc_r)", f"({col0} + hetc_kc)"
        if direct:
            self._chunked_copy(load, f"{dst}[hetc_sl]", row_iv, col_iv, row0, col0, rows, cols, tr, tc, cfg, threads, depth)
            return
        regs = "hetc_ra" if which == "A" else "hetc_rb"
        per = tr * tc // threads
        e(depth, "#pragma unroll")
        e(depth, f"for (int hetc_t = 0; hetc_t < {per}; hetc_t++) {{")
        e(depth + 1, f"const int hetc_e = hetc_tid + hetc_t * {threads};")
        e(depth + 1, f"const int hetc_r = hetc_e / {tc}, hetc_kc = hetc_e % {tc};")
        e(depth + 1, f"{regs}[hetc_t] = 0;")
        e(depth + 1, f"if ({rexpr} < {rows} && {cexpr} < {cols}) {{")
        self.names[row_iv], self.names[col_iv] = rexpr, cexpr
        ops, expr = self._tile_operand(load, value, cfg)
        for op in ops:
            if op not in self.hoisted:
                self._op(op, depth + 2, False)
        e(depth + 2, f"{regs}[hetc_t] = {expr()};")
        e(depth + 1, "}")
        e(depth, "}")

    def _chunked_copy(self, load: memref.LoadOp, dst: str, row_iv, col_iv, row0: str, col0: str, rows: int, cols: int,
                      tr: int, tc: int, cfg: MmaConfig, threads: int, depth: int, tid: str = "hetc_tid",
                      index_ops=None, row_name=None) -> None:
        """Copy the tr x tc tile at (row0, col0) of a row-major operand read along its columns
        into shared memory `dst[r][c]` with 16-byte cp.async chunks (needs `hetc_vec`: aligned
        bases); a chunk past `cols`, past `rows` or of a misaligned base by element loads, zero
        outside the operand. `index_ops(depth)` prints the load's index arithmetic once the
        tile coordinates are named (the row as `row_name(r)`, e.g. clamped, if given)."""
        e = self._emit
        vec = cfg.vec
        chunks = tr * tc // vec
        rexpr, cexpr = f"({row0} + hetc_r)", f"({col0} + hetc_kc)"
        e(depth, "#pragma unroll")
        e(depth, f"for (int hetc_t = 0; hetc_t < {-(-chunks // threads)}; hetc_t++) {{")
        e(depth + 1, f"const int hetc_e = {tid} + hetc_t * {threads};")
        if chunks % threads:
            e(depth + 1, f"if (hetc_e >= {chunks}) break;")
        e(depth + 1, f"const int hetc_r = hetc_e / {tc // vec}, hetc_kc = (hetc_e % {tc // vec}) * {vec};")
        self.names[row_iv], self.names[col_iv] = row_name(rexpr) if row_name else rexpr, cexpr
        if index_ops:
            index_ops(depth + 1)
        sub = self._subscript(load.memref, load.indices)
        e(depth + 1, f"if (hetc_vec && {rexpr} < {rows} && {cexpr} + {vec} <= {cols}) {{")
        e(depth + 2, f"hetc_cp_async16(&{dst}[hetc_r][hetc_kc], &{sub});")
        e(depth + 1, "} else {")
        e(depth + 2, "#pragma unroll")
        e(depth + 2, f"for (int hetc_x = 0; hetc_x < {vec}; hetc_x++) {{")
        col = f"({col0} + hetc_kc + hetc_x)"
        self.names[col_iv] = f"min({col0} + hetc_kc + hetc_x, {cols - 1})" if index_ops else col
        if index_ops:
            index_ops(depth + 3)
        sub = self._subscript(load.memref, load.indices)
        cond = f"{rexpr} < {rows} && {col} < {cols}"
        e(depth + 3, f"{dst}[hetc_r][hetc_kc + hetc_x] = {cond} ? {sub} : ({'unsigned short' if cfg.half else 'float'})0;")
        e(depth + 2, "}")
        e(depth + 1, "}")
        e(depth, "}")

    def _mma_compute(self, cfg: MmaConfig, depth: int, b_kmajor: bool = False) -> None:
        """Multiply stage `hetc_sc` into the accumulators: fragments, then mma.sync. B is in
        shared memory k-major ([k][n], ldmatrix .trans) or, `b_kmajor`, as B^T ([n][k])."""
        e, d = self._emit, depth
        mi, ni, bk = cfg.wm // 16, cfg.wn // 8, cfg.bk
        e(d, "#pragma unroll")
        e(d, f"for (int hetc_kk = 0; hetc_kk < {bk}; hetc_kk += {cfg.kstep}) {{")
        e(d + 1, f"unsigned hetc_fa[{mi}][4], hetc_fb[{ni}][2];")
        if cfg.half:
            e(d + 1, "#pragma unroll")
            e(d + 1, f"for (int a = 0; a < {mi}; a++) hetc_ldsm_x4(hetc_fa[a], &hetc_As[hetc_sc][hetc_wm + a * 16 + (hetc_lane & 15)][hetc_kk + (hetc_lane >> 4) * 8]);")
            e(d + 1, "#pragma unroll")
            e(d + 1, f"for (int b = 0; b < {ni}; b += 2) {{")
            e(d + 2, "unsigned hetc_q[4];")
            if b_kmajor:  # matrices (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
                e(d + 2, "hetc_ldsm_x4(hetc_q, &hetc_Bs[hetc_sc][hetc_wn + b * 8 + (hetc_lane & 7) + ((hetc_lane >> 4) << 3)]"
                         "[hetc_kk + ((hetc_lane >> 3) & 1) * 8]);")
            else:
                e(d + 2, "hetc_ldsm_x4_t(hetc_q, &hetc_Bs[hetc_sc][hetc_kk + (hetc_lane & 15)][hetc_wn + b * 8 + (hetc_lane >> 4) * 8]);")
            e(d + 2, "hetc_fb[b][0] = hetc_q[0]; hetc_fb[b][1] = hetc_q[1]; hetc_fb[b + 1][0] = hetc_q[2]; hetc_fb[b + 1][1] = hetc_q[3];")
            e(d + 1, "}")
            mma = "hetc_mma_f16" if cfg.kind == "f16" else "hetc_mma_bf16"
        else:
            e(d + 1, "const int hetc_g = hetc_lane >> 2, hetc_q = hetc_lane & 3;")
            e(d + 1, "#pragma unroll")
            e(d + 1, f"for (int a = 0; a < {mi}; a++) {{")
            e(d + 2, "const float* hetc_p = &hetc_As[hetc_sc][hetc_wm + a * 16 + hetc_g][hetc_kk + hetc_q];")
            e(d + 2, f"hetc_fa[a][0] = hetc_tf32(hetc_p[0]); hetc_fa[a][1] = hetc_tf32(hetc_p[8 * {bk + cfg.pad_a}]);")
            e(d + 2, f"hetc_fa[a][2] = hetc_tf32(hetc_p[4]); hetc_fa[a][3] = hetc_tf32(hetc_p[8 * {bk + cfg.pad_a} + 4]);")
            e(d + 1, "}")
            e(d + 1, "#pragma unroll")
            e(d + 1, f"for (int b = 0; b < {ni}; b++) {{")
            if b_kmajor:
                e(d + 2, "const float* hetc_p = &hetc_Bs[hetc_sc][hetc_wn + b * 8 + hetc_g][hetc_kk + hetc_q];")
                e(d + 2, "hetc_fb[b][0] = hetc_tf32(hetc_p[0]); hetc_fb[b][1] = hetc_tf32(hetc_p[4]);")
            else:
                e(d + 2, "const float* hetc_p = &hetc_Bs[hetc_sc][hetc_kk + hetc_q][hetc_wn + b * 8 + hetc_g];")
                e(d + 2, f"hetc_fb[b][0] = hetc_tf32(hetc_p[0]); hetc_fb[b][1] = hetc_tf32(hetc_p[4 * {cfg.bn + cfg.pad_b}]);")
            e(d + 1, "}")
            mma = "hetc_mma_tf32"
        e(d + 1, "#pragma unroll")
        e(d + 1, f"for (int a = 0; a < {mi}; a++)")
        e(d + 2, "#pragma unroll")
        e(d + 2, f"for (int b = 0; b < {ni}; b++) {mma}(hetc_c[a][b], hetc_fa[a], hetc_fb[b]);")
        e(d, "}")

    def _mma_store_regs(self, which: str, tr: int, tc: int, threads: int, depth: int) -> None:
        e = self._emit
        regs, dst = ("hetc_ra", "hetc_As") if which == "A" else ("hetc_rb", "hetc_Bs")
        e(depth, "#pragma unroll")
        e(depth, f"for (int hetc_t = 0; hetc_t < {tr * tc // threads}; hetc_t++) {{")
        e(depth + 1, f"const int hetc_e = hetc_tid + hetc_t * {threads};")
        e(depth + 1, f"{dst}[hetc_sl][hetc_e / {tc}][hetc_e % {tc}] = {regs}[hetc_t];")
        e(depth, "}")
