"""Hopper GEMM tiles (sm_90a): TMA copies, `wgmma` on the tensor cores, a producer warpgroup.

A mixin of the CUDA printer, used for float16 / bfloat16 GEMMs whose A [M, K] and B [K, N]
are both read row-major, straight from kernel arguments (dense layers, im2col'd batched
convolutions) of at least 128 rows; the tile width (64 to 256) is the one of least
predicted time (`wgmma_cycles`). The `mma.sync` tiles
(gemm_mma.py) top out near 35% of cuBLAS on an H100 (the register file feeds the tensor
cores and every thread issues its own copies); this form reaches ~0.7x at 4096^3:

- a block is three warpgroups: warpgroup 0 has one thread issue, per K step of 64, one TMA
  copy of the A tile (128 x 64, K-major) and BN / 64 of the B tile (64 x 64 atoms, N-major),
  each into shared memory with the 128-byte swizzle `wgmma` reads, onto an mbarrier that
  completes when the bytes have landed; warpgroups 1 and 2 each multiply a 64 x BN slab
  with `wgmma.mma_async` m64nBNk16 (A K-major, B transposed), float32 accumulators;
- `stages` slots rotate: a consumer warpgroup releases a slot (an arrive on its `empty`
  barrier) once the wgmma group that read it has retired (one group stays in flight), and
  the producer waits on that before refilling it;
- the epilogue is the nest's own ops after the k loop (bias, fused activations and
  residuals, the rounding store) per pair of neighbouring accumulators, like the other tiles
  (`_gemm_output_run`).

TMA needs each operand's base 16-byte aligned (rows already are); the host encodes the
two tensor maps at the first forward pass and, where a map cannot be made (a view at an odd
offset), launches the `mma.sync` form of the same GEMM instead (Launch.fallback).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hetc.backends.cuda.gemm_mma import _direct
from xdsl.dialects import arith
from xdsl.dialects.builtin import BFloat16Type, Float16Type

#: rows of a block tile (two consumer warpgroups of 64) and K per stage (128 bytes of half)
BM, BK = 128, 64
THREADS = 384
#: shared-memory slots of A + B tiles in flight (H100: 3-4 measured alike at 128 x 256)
STAGES = 4
#: the block tile widths tried (multiples of the 64-column B atom)
TILE_WIDTHS = (64, 128, 192, 256)
#: a block's fixed cost in SM cycles (launch, barriers, the first copies' latency)
START_CYCLES = 3000


@dataclass(frozen=True)
class TensorMap:
    """What the host needs to encode one operand's TMA descriptor: kernel argument `arg`
    (its pointer expression at the launch), a [rows, cols] matrix with rows `row_elems`
    apart, copied in boxes of `box` (cols, rows) elements."""

    arg: int
    cols: int
    rows: int
    row_elems: int
    box: tuple[int, int]
    bf16: bool


def wgmma_tile(kind: str | None, arch: str, parts, sm_count: int) -> int | None:
    """BN of the wgmma tiles for this GEMM nest, or None where they do not apply."""
    (m, n, k), li, lj, lk, la, lb_, _, lbatch, _, _ = parts
    if kind not in ("f16", "bf16") or arch not in ("sm_90", "sm_90a") or lbatch is not None:
        return None
    if os.environ.get("HETC_CUDA_WGMMA", "1") == "0":  # (for measurements: the mma.sync tiles)
        return None
    want = Float16Type if kind == "f16" else BFloat16Type
    i_arg, j_arg, k_arg = li.body.block.args[0], lj.body.block.args[0], lk.body.block.args[0]
    for load, rows, cols, r_iv, c_iv in ((la, m, k, i_arg, k_arg), (lb_, k, n, k_arg, j_arg)):
        if not isinstance(load.memref.type.get_element_type(), want) or not _direct(load, r_iv, c_iv, None, (rows, cols)):
            return None
        if load.memref.type.get_shape()[-1] * 2 % 16:
            return None
    if m < BM:
        return None
    forced = os.environ.get("HETC_CUDA_WGMMA_BN")  # (for measurements)
    return int(forced) if forced else min(TILE_WIDTHS, key=lambda bn: (wgmma_cycles(m, n, k, bn, sm_count), -bn))


def wgmma_cycles(m: int, n: int, k: int, bn: int, sm_count: int) -> int:
    """Predicted SM cycles of the busiest SM (one block an SM): its waves of 128 x BN tiles,
    each a fixed start (barriers, the pipeline's fill, ~1.5 us) plus per K step the larger
    of the tensor cores' time (4 BN cycles at ~4096 flop a cycle) and the copy's (~100
    bytes a cycle from L2), plus the epilogue. A 2080 x 192 x 768 projection thus takes 51
    tiles 64 wide rather than 17 192 wide; at 4096^3 the widest tile wins."""
    waves = -(-(-(-m // BM) * -(-n // bn)) // sm_count)
    steps = -(-k // BK)
    copy = (BM * BK + BK * bn) * 2 // 100
    return waves * (START_CYCLES + steps * max(4 * bn, copy) + 5 * bn)


def wgmma_helpers() -> str:
    """Device wrappers of the PTX the wgmma tiles use (sm_90a)."""
    return r"""static __device__ __forceinline__ unsigned long long hetc_wg_desc(unsigned addr, unsigned lbo) {
  /* a shared-memory matrix descriptor: start, leading / stride byte offsets, 128-byte swizzle */
  return (unsigned long long)((addr & 0x3FFFF) >> 4) | ((unsigned long long)((lbo & 0x3FFFF) >> 4) << 16)
       | ((unsigned long long)(1024 >> 4) << 32) | (1ull << 62);
}
static __device__ __forceinline__ void hetc_mbar_init(unsigned a, unsigned n) { asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" :: "r"(a), "r"(n)); }
static __device__ __forceinline__ void hetc_mbar_expect(unsigned a, unsigned bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" :: "r"(a), "r"(bytes) : "memory");
}
static __device__ __forceinline__ void hetc_mbar_arrive(unsigned a) { asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" :: "r"(a) : "memory"); }
static __device__ __forceinline__ void hetc_mbar_wait(unsigned a, unsigned parity) {
  unsigned ok = 0;
  do {
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(ok) : "r"(a), "r"(parity) : "memory");
  } while (!ok);
}
static __device__ __forceinline__ void hetc_tma2d(unsigned dst, const CUtensorMap* map, int c0, int c1, unsigned bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];"
               :: "r"(dst), "l"((unsigned long long)map), "r"(c0), "r"(c1), "r"(bar) : "memory");
}"""


def wgmma_instruction(kind: str, bn: int) -> str:
    """`hetc_wgmma_<kind>_<bn>(d, descA, descB)`: d += A (K-major) @ B (N-major), m64 n`bn` k16."""
    nacc = bn // 2
    regs = ", ".join(f"%{i}" for i in range(nacc))
    outs = ", ".join(f'"+f"(d[{i}])' for i in range(nacc))
    return (f"static __device__ __forceinline__ void hetc_wgmma_{kind}_{bn}(float* d, unsigned long long da, unsigned long long db) {{\n"
            f'  asm volatile("{{\\n.reg .pred p;\\nsetp.ne.b32 p, 1, 0;\\n"\n'
            f'    "wgmma.mma_async.sync.aligned.m64n{bn}k16.f32.{kind}.{kind} {{{regs}}}, %{nacc}, %{nacc + 1}, p, 1, 1, 0, 1;\\n}}\\n"\n'
            f'    : {outs} : "l"(da), "l"(db));\n}}')


class WgmmaGemmPrinter:
    """Mixin of CudaPrinter: `_print_wgmma_gemm` (see the module docstring)."""

    def _print_wgmma_gemm(self, fn, fname: str, parts, kind: str, bn: int) -> tuple[str, int, tuple[TensorMap, TensorMap]]:
        """(kernel text, dynamic shared memory bytes, the tensor maps of A and B)."""
        (m, n, k), li, lj, _, la, lb_, _, _, _, _ = parts
        self.wgmma_forms.add((kind, bn))
        sig = self._signature(fn, fname)
        sig = sig.replace("__launch_bounds__(256)", f"__launch_bounds__({THREADS}, 1)")
        sig = sig[: sig.rindex(")")] + ", const __grid_constant__ CUtensorMap hetc_ta, const __grid_constant__ CUtensorMap hetc_tb) {"
        self.lines = [sig]
        e = self._emit
        self._pure_top(fn, 1)
        for op in list(li.body.block.ops) + list(lj.body.block.ops):
            if isinstance(op, arith.ConstantOp):
                self._op(op, 1, False)
        a_bytes, b_bytes = BM * BK * 2, BK * bn * 2
        stage = a_bytes + b_bytes
        kt = -(-k // BK)
        smem = STAGES * stage + 1024 + 2 * STAGES * 8  # (+ alignment slack and the barriers)
        e(1, f"/* {m} x {n} x {k} GEMM on the tensor cores ({kind}, wgmma + TMA, sm_90a): {BM} x {bn} tiles, "
             f"{STAGES} stages {BK} deep; warpgroup 0 copies, warpgroups 1-2 multiply 64 x {bn} each */")
        e(1, "extern __shared__ __align__(1024) unsigned char hetc_smem_raw[];")
        e(1, "unsigned char* const hetc_smem = (unsigned char*)(((size_t)hetc_smem_raw + 1023) & ~(size_t)1023);  /* the swizzle's alignment */")
        e(1, "const unsigned hetc_sbase = (unsigned)__cvta_generic_to_shared(hetc_smem);")
        e(1, f"const unsigned hetc_full = hetc_sbase + {STAGES * stage}, hetc_empty = hetc_full + {STAGES * 8};")
        e(1, "const int hetc_tid = threadIdx.x, hetc_wg = hetc_tid >> 7;")
        e(1, f"const int hetc_row0 = (int)blockIdx.y * {BM}, hetc_col0 = (int)blockIdx.x * {bn};")
        e(1, "if (hetc_tid == 0) {")
        e(2, f"for (int s = 0; s < {STAGES}; s++) {{ hetc_mbar_init(hetc_full + 8 * s, 1); hetc_mbar_init(hetc_empty + 8 * s, 2); }}")
        e(2, 'asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");')
        e(1, "}")
        e(1, "__syncthreads();")
        e(1, "if (hetc_wg == 0) {  /* the producer: one thread issues every copy */")
        e(2, 'asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\\n");')
        e(2, "if (hetc_tid == 0) {")
        e(3, f"for (int kt = 0; kt < {kt}; kt++) {{")
        e(4, f"const int s = kt % {STAGES};")
        e(4, f"if (kt >= {STAGES}) hetc_mbar_wait(hetc_empty + 8 * s, ((kt / {STAGES}) - 1) & 1);  /* both consumers are done with it */")
        e(4, f"const unsigned a_s = hetc_sbase + s * {stage};")
        e(4, f"hetc_mbar_expect(hetc_full + 8 * s, {stage});")
        e(4, f"hetc_tma2d(a_s, &hetc_ta, kt * {BK}, hetc_row0, hetc_full + 8 * s);")
        e(4, f"for (int t = 0; t < {bn // 64}; t++) hetc_tma2d(a_s + {a_bytes} + t * {BK * 128}, &hetc_tb, hetc_col0 + 64 * t, kt * {BK}, hetc_full + 8 * s);")
        e(3, "}")
        e(2, "}")
        e(2, "return;")
        e(1, "}")
        e(1, 'asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\\n");')
        e(1, "const int hetc_cw = hetc_wg - 1;")
        e(1, f"float hetc_d[{bn // 2}];")
        e(1, "#pragma unroll")
        e(1, f"for (int i = 0; i < {bn // 2}; i++) hetc_d[i] = 0.0f;")
        e(1, f"for (int kt = 0; kt < {kt}; kt++) {{")
        e(2, f"const int s = kt % {STAGES};")
        e(2, f"hetc_mbar_wait(hetc_full + 8 * s, (kt / {STAGES}) & 1);")
        e(2, f"const unsigned a_s = hetc_sbase + s * {stage} + hetc_cw * {64 * 128}, b_s = hetc_sbase + s * {stage} + {a_bytes};")
        e(2, 'asm volatile("wgmma.fence.sync.aligned;\\n" ::: "memory");')
        e(2, "#pragma unroll")
        e(2, f"for (int kk = 0; kk < {BK // 16}; kk++) "
             f"hetc_wgmma_{kind}_{bn}(hetc_d, hetc_wg_desc(a_s + kk * 32, 16), hetc_wg_desc(b_s + kk * 2048, {BK * 128}));")
        e(2, 'asm volatile("wgmma.commit_group.sync.aligned;\\n" ::: "memory");')
        e(2, 'asm volatile("wgmma.wait_group.sync.aligned 1;\\n" ::: "memory");  /* the previous step\'s group has retired */')
        e(2, f"if (kt > 0 && (hetc_tid & 127) == 0) hetc_mbar_arrive(hetc_empty + 8 * ((kt - 1) % {STAGES}));")
        e(1, "}")
        e(1, 'asm volatile("wgmma.wait_group.sync.aligned 0;\\n" ::: "memory");')
        # -- epilogue: accumulator j*4+h of a thread is row 16*warp + lane/4 (+8), column 8j + 2*(lane%4) (+1)
        e(1, "const int hetc_lane = hetc_tid & 31, hetc_warp4 = (hetc_tid >> 5) & 3;")
        e(1, "#pragma unroll")
        e(1, f"for (int hetc_j = 0; hetc_j < {bn // 8}; hetc_j++)")
        e(1, "#pragma unroll")
        e(1, "for (int hetc_h = 0; hetc_h < 2; hetc_h++) {  /* rows +0 / +8, two neighbouring columns each */")
        e(2, "const int hetc_r = hetc_cw * 64 + hetc_warp4 * 16 + (hetc_lane >> 2) + hetc_h * 8;")
        e(2, "const int hetc_cc = hetc_j * 8 + (hetc_lane & 3) * 2;")
        self._gemm_output_run(parts, [], [f"hetc_d[hetc_j * 4 + 2 * hetc_h + {t}]" for t in range(2)], 2)
        e(1, "}")
        self.lines.append("}")
        args = list(fn.body.block.args)
        bf16 = kind == "bf16"
        maps = (TensorMap(args.index(la.memref), k, m, la.memref.type.get_shape()[-1], (64, BM), bf16),
                TensorMap(args.index(lb_.memref), n, k, lb_.memref.type.get_shape()[-1], (64, BK), bf16))
        return "\n".join(self.lines), smem, maps
