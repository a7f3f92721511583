"""The CUDA spelling of the C-family printer: loop nests mapped onto the GPU grid.

Each kernel of the loop IR becomes one or more `__global__` functions and a launch
shape for each (`self.launches[kernel name]`). How a kernel maps, per top-level loop
nest (a *phase*; phases of one kernel run as consecutive launches, which orders them):

- **threads**: the perfect prefix of loops marked `hetc.parallel` (or of one trip) is
  flattened over the grid, one thread per iteration; what is inside runs serially in it.
- **warp per iteration**: when that iteration's body holds a loop marked
  `hetc.reduction` (a softmax or layer-norm row, a reduction), 32 lanes split that loop
  and combine each accumulator with a butterfly of `__shfl_xor_sync`; a serial loop
  marked `hetc.warp_uniform` (an attention row's output columns) runs on every lane,
  the reduction loops inside it split the same way.
- **tiled GEMM**: a kernel marked `hetc.gemm` (convert-onnx-to-loops{target=gpu}) is
  tiled through shared memory; its A/B tile loads are the nest's own loads printed
  at tile coordinates (so im2col panels need no special case) and its bias and fused
  epilogue are the nest's own ops after the k loop. Exact fp32 runs on the CUDA cores
  (up to 128 x 128 tiles, 8 x 8 outputs a thread, K split across blocks where the tiles
  are few, gemm_simt.py); float16 / bfloat16 operands, and float32 ones under precision
  tf32 / fp16 / bf16, on the tensor cores (mma.sync tiles, gemm_mma.py; wgmma, gemm_wgmma.py)
  unless their tiles would be too few (then the split CUDA-core tiles).
- **one block**: anything else (scalar code, a serial loop around parallel ones) runs
  in one block of 256 threads: parallel loops are split over the block with a barrier
  after each, and stores outside them are made by thread 0, then a barrier.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from hetc.backends.cfamily.narrow import NarrowFloatHelpers
from hetc.backends.cfamily.printer import CFamilyPrinter, _trip_count, static_bounds
from hetc.backends.cuda.attention_flash import FlashAttentionPrinter, flash_kind, flash_parts
from hetc.backends.cuda.gemm_mma import (
    MmaGemmPrinter,
    choose_config,
    device_helpers,
    mma_kind,
    operand_forms,
)
from hetc.backends.cuda.gemm_simt import SPLITS, SimtGemmPrinter, choose_simt_config
from hetc.backends.cuda.gemm_wgmma import THREADS as WGMMA_THREADS
from hetc.backends.cuda.gemm_wgmma import TensorMap, WgmmaGemmPrinter, wgmma_tile
from hetc.backends.cuda.nest_queries import depends_on, widened_load
from hetc.passes.loop_builder import PARALLEL_ATTR, REDUCTION_ATTR
from hetc.passes.loops.attention import UNIFORM_ATTR
from hetc.passes.loops.gemm import GEMM_ATTR, GEMM_BATCH_ATTR, GEMM_K_ATTR
from xdsl.dialects import arith, func, memref, scf
from xdsl.dialects.builtin import BFloat16Type, Float16Type, Float32Type, IndexType
from xdsl.ir import Block, Operation, SSAValue

THREADS = 256
#: a reduction loop this long or longer gets a warp per iteration
WARP_MIN_TRIP = 64
#: ops with no side effects that index or name values (printed wherever needed)
PURE = (arith.ConstantOp, arith.AddiOp, arith.SubiOp, arith.MuliOp, arith.DivUIOp, arith.RemUIOp, arith.IndexCastOp)
#: accumulator update op -> the warp combine helper
COMBINE = {
    arith.AddfOp: "hetc_warp_sum", arith.AddiOp: "hetc_warp_sum", arith.MulfOp: "hetc_warp_prod",
    arith.MuliOp: "hetc_warp_prod", arith.MaximumfOp: "hetc_warp_max", arith.MinimumfOp: "hetc_warp_min",
    arith.MaxSIOp: "hetc_warp_max", arith.MinSIOp: "hetc_warp_min",
}
#: fp32: exact float32 GEMMs on the CUDA cores; tf32: float32 data on the tensor cores;
#: fp16 / bf16: storage narrowed by hetc-narrow-storage, GEMMs on the tensor cores
GEMM_PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
#: GEMMs of 32 x 32 outputs or more and this many multiply-adds are tiled on the CUDA
#: cores even when the tiles are too few to fill the SMs: their K is split across blocks
#: (H100, ResNet-18 at batch 32 in fp32: its 128 x 512 x 1152 convolutions 36.7 -> 22.3 us;
#: smaller ones, ViT-tiny's batch-1 65 x 192 x 192, were slower than in the forms below;
#: HETC_CUDA_SPLIT_K=0: the forms below whatever the size)
SIMT_SPLIT_MIN_MACS = 1 << 24 if len(SPLITS) > 1 else 1 << 62
#: GEMMs with fewer rows than this are printed as plain nests (one thread per output)
GEMM_TILE_MIN_ROWS = 16
#: a GEMM with too few 64 x 64 tiles to fill the GPU is still tiled from this many outputs
#: (CUDA cores / tensor cores; below, a warp or a split-K block per output row)
SIMT_TILE_MIN_OUTPUTS = int(os.environ.get("HETC_CUDA_SIMT_TILE_OUTPUTS", "131072"))
MMA_TILE_MIN_OUTPUTS = int(os.environ.get("HETC_CUDA_MMA_TILE_OUTPUTS", "65536"))
#: the same for a batch of products (a convolution over a batch of images; H100: ResNet-18 at
#: batch 32 in fp16 0.757 -> 0.665 ms from 65536 to 16384)
MMA_TILE_MIN_BATCHED = int(os.environ.get("HETC_CUDA_MMA_TILE_BATCHED", "16384"))
#: GEMMs with fewer multiply-adds run on the CUDA cores whatever their precision (ViT-tiny's
#: batch-1 patch embedding, 192 x 64 x 48 from a float32 input: a few tensor-core blocks
#: converting their operands on the way in)
MMA_MIN_MACS = int(os.environ.get("HETC_CUDA_MMA_MIN_MACS", str(1 << 21)))
#: streaming multiprocessors of the GPUs this is tuned on (H100 / H200: 132)
SM_COUNT = 132
#: a GEMM too small to tile with at least this many outputs gets a thread per output
#: rather than a warp per output (HETC_CUDA_THREAD_OUTPUTS overrides it, for tuning)
THREAD_PER_OUTPUT_MIN = int(os.environ.get("HETC_CUDA_THREAD_OUTPUTS", "16384"))
#: attention groups with 16-bit operands as FlashAttention-style kernels (HETC_CUDA_FLASH=0:
#: the warp-per-row form, for comparison)
FLASH_ATTENTION = os.environ.get("HETC_CUDA_FLASH", "1") != "0"


@dataclass(frozen=True)
class Launch:
    function: str  # the __global__ function
    grid: tuple[int, ...]  # blocks in x, y (and z: a batched GEMM's products)
    block: int  # threads per block
    flops: int = 0  # 2 M N K for a GEMM phase
    smem: int = 0  # bytes of dynamic shared memory
    #: TMA descriptors the host encodes and passes after the arguments (wgmma tiles)
    tmaps: tuple[TensorMap, ...] = ()
    #: launched instead where a descriptor cannot be made (an operand view at an odd offset)
    fallback: Launch | None = None
    #: floats of the model's device workspace and semaphores of its semaphore array (zeroed
    #: at init; a launch leaves them zeroed) it takes as its last two arguments: a GEMM's
    #: K splits meet there
    work: int = 0
    sems: int = 0


def _is_loop(op: Operation) -> bool:
    return isinstance(op, scf.ForOp)


#: ops that touch memory or loop: what a kernel's top level is split into phases by
EFFECTS = (scf.ForOp, memref.LoadOp, memref.StoreOp, memref.AllocaOp)


def _side_effects(block: Block) -> list[Operation]:
    return [op for op in block.ops if isinstance(op, EFFECTS)]


def _is_expression(op: Operation) -> bool:
    """A value computation (an arith/math op that neither loads, stores, allocates nor loops)."""
    return not isinstance(op, (*EFFECTS, scf.YieldOp, func.ReturnOp))


def _static(loop: scf.ForOp) -> bool:
    return static_bounds(loop) is not None


def _bounds(loop: scf.ForOp) -> tuple[int, int, int]:
    return static_bounds(loop)


def _distributable(loop: scf.ForOp) -> bool:
    return PARALLEL_ATTR in loop.attributes or _static(loop) and _trip_count(loop) == 1


def parallel_prefix(loop: scf.ForOp) -> list[scf.ForOp]:
    """The perfect nest of independent loops from `loop` down (empty: `loop` is serial)."""
    prefix = []
    cur = loop
    while _is_loop(cur) and _distributable(cur) and _static(cur):
        prefix.append(cur)
        inner = [op for op in cur.body.block.ops if not isinstance(op, PURE) and not isinstance(op, scf.YieldOp)]
        if len(inner) != 1 or not _is_loop(inner[0]):
            break
        cur = inner[0]
    return prefix


def _reduction_accumulators(loop: scf.ForOp) -> dict[SSAValue, str] | None:
    """Accumulators a `hetc.reduction` loop updates -> combine helper; None if a store
    in it is neither such an update nor indexed by the loop's own variable."""
    iv = loop.body.block.args[0]
    accs: dict[SSAValue, str] = {}
    for op in loop.walk():
        if not isinstance(op, memref.StoreOp):
            continue
        ref = op.memref
        if isinstance(ref.owner, memref.AllocaOp) and list(ref.type.get_shape()) == [1]:
            upd = op.value.owner
            helper = COMBINE.get(type(upd))
            loads = [v for v in getattr(upd, "operands", []) if isinstance(v.owner, memref.LoadOp) and v.owner.memref is ref]
            if helper is None or len(loads) != 1:
                return None
            accs[ref] = helper
        elif not _indexed_by(op, iv):
            return None
    # an accumulator may be read in the loop only by its own update
    for op in loop.walk():
        if isinstance(op, memref.LoadOp) and op.memref in accs:
            users = [u.operation for u in op.results[0].uses]
            if len(users) != 1 or type(users[0]) not in COMBINE:
                return None
    return accs


def _indexed_by(store: memref.StoreOp, iv: SSAValue) -> bool:
    """Does one index of the store depend on `iv` (through index arithmetic)?"""
    return any(depends_on(i, iv) for i in store.indices)


class CudaPrinter(FlashAttentionPrinter, WgmmaGemmPrinter, MmaGemmPrinter, SimtGemmPrinter, CFamilyPrinter):
    """CUDA C++: `__global__` kernels over flat `__restrict__` pointers."""

    kernel_qualifiers = f"__global__ void __launch_bounds__({THREADS})"
    restrict = "__restrict__"

    def __init__(self, precision: str = "fp32", arch: str = "sm_90") -> None:
        if precision not in GEMM_PRECISIONS:
            raise ValueError(f"unknown CUDA precision '{precision}' ({', '.join(GEMM_PRECISIONS)})")
        self.precision = precision
        #: the GPU the code is for: tensor-core GEMMs (mma.sync, cp.async) need sm_80 or newer
        self.arch = arch
        self.narrow = NarrowFloatHelpers("static __device__ __forceinline__")
        #: (kind, BN) of the wgmma tiles printed: their PTX wrappers and sm_90a are needed
        self.wgmma_forms: set[tuple[str, int]] = set()
        self.launches: dict[str, list[Launch]] = {}
        #: "threads" (grid mappings) or "block" (one-block fallback); see _op
        self.mode = "threads"
        self.in_split = False
        #: reduction loops split over a warp's lanes -> their accumulators' combine helpers
        self.warp_loops: dict[scf.ForOp, dict[SSAValue, str]] = {}
        #: this GEMM nest's k loop may be split over lanes (see print_kernel)
        self.split_gemm_k = False
        #: index arithmetic of a tile load printed once before the K loop (see _hoist)
        self.hoisted: set[Operation] = set()
        #: row buffers of a warp-per-row phase that only lane-split loops index (see
        #: _lane_private): each lane keeps its own 1/32 of the row
        self.lane_private: set[SSAValue] = set()
        #: (subscript, value) of stores collected rather than printed (_gemm_output_run)
        self.deferred_stores: list[tuple[str, str]] | None = None

    # -- spelling ----------------------------------------------------------------------------

    def float_literal(self, x: float, t) -> str:
        text = super().float_literal(x, t)
        if text in ("NAN", "INFINITY", "-INFINITY"):  # device-safe spellings
            f = isinstance(t, Float32Type)
            name = ("HETC_NAN" if text == "NAN" else "HETC_INF") + ("" if f else "D")
            return f"(-{name})" if text.startswith("-") else name
        return text

    def helper_definitions(self) -> str:
        return self.narrow.definitions()

    def convert_float(self, x: str, src, dst, round_mode: str | None = None) -> str:
        """float16 / bfloat16 <-> float32 with the GPU's conversion instructions: decoding
        is exact; encoding rounds to nearest even like the C helpers, and a NaN still goes
        through the helper (ml_dtypes' NaN bit patterns)."""
        if isinstance(dst, Float32Type) and isinstance(src, Float16Type):
            return f"__half2float(__ushort_as_half({x}))"
        if isinstance(dst, Float32Type) and isinstance(src, BFloat16Type):
            return f"__uint_as_float((unsigned)({x}) << 16)"
        if isinstance(src, Float32Type) and isinstance(dst, (Float16Type, BFloat16Type)) and round_mode is None:
            return f"hetc_{'f16' if isinstance(dst, Float16Type) else 'bf16'}_rn({x})"
        return super().convert_float(x, src, dst, round_mode)

    # -- kernels ------------------------------------------------------------------------------

    def print_kernel(self, fn: func.FuncOp) -> str:
        name = fn.sym_name.data
        effects = _side_effects(fn.body.block)
        self.split_gemm_k = False
        launches: list[Launch] = []
        texts: list[str] = []
        flash = flash_parts(fn) if FLASH_ATTENTION else None
        flash_as = flash_kind(flash, self.precision, self.arch) if flash is not None else None
        if flash_as is not None:  # an attention group on the tensor cores, FlashAttention-style
            text, grid, threads, flops, smem = self._print_flash_attention(fn, name, flash, flash_as, SM_COUNT)
            self.launches[name] = [Launch(name, grid, threads, flops, smem)]
            return self.kernel_comment(fn) + "\n" + text
        gemm = self._gemm_parts(fn)
        ksplit = None
        if gemm is not None:
            m, n, k = gemm[0]
            nbatch = _trip_count(gemm[7]) if gemm[7] is not None else 1
            kind = mma_kind(self.precision, gemm[4].memref.type.get_element_type(), gemm[5].memref.type.get_element_type(), self.arch)
            if kind is not None and m * n * k * nbatch < MMA_MIN_MACS:
                kind = None  # too little work to fill a tensor-core tile's pipeline: CUDA cores
            # few rows (batch-1 dense layers) or too few tiles to fill the GPU (late CNN
            # layers: few pixels, long K): a warp per output splits K over its lanes; but
            # not once there are many outputs (a batch of images: the tiles' operand reuse
            # wins even when they do not fill every SM; on the tensor cores sooner)
            tiles64 = (-(-m // 64)) * (-(-n // 64)) * nbatch
            few_tiles = tiles64 < SM_COUNT and m * n * nbatch < (
                SIMT_TILE_MIN_OUTPUTS if kind is None else MMA_TILE_MIN_OUTPUTS if nbatch == 1 else MMA_TILE_MIN_BATCHED)
            if m >= 32 and n >= 32 and m * n * k * nbatch >= SIMT_SPLIT_MIN_MACS and (
                    kind is None or few_tiles and k >= WARP_MIN_TRIP or kind == "tf32" and tiles64 < SM_COUNT // 2):
                # the CUDA-core tiles split K across blocks to fill the SMs: for float32, and in
                # place of the row-per-block form or of too few tf32 tiles (H100, ResNet-18 at
                # batch 32: its 256 x 128 x 2304 convolutions in fp16 37.8 -> 20.6 us; in tf32
                # 36.3 -> 22.6, the 128 x 512 x 1152 ones 39.7 -> 20.4; fuller tf32 tiles and
                # the fp16 / bf16 tensor-core tiles stay faster)
                kind, few_tiles = None, False
            if m < GEMM_TILE_MIN_ROWS or few_tiles and k >= WARP_MIN_TRIP:
                parts, gemm = gemm, None
                # lanes along K read B[k, j] N apart (a column of a row-major B): once there
                # are enough outputs to fill the GPU with threads, or N is wide, a thread per
                # output (neighbours read neighbouring columns, coalesced) is the better choice;
                # not for a narrow N (a few pixels), where neighbouring threads change rows
                self.split_gemm_k = n < 32 or n < 2048 and m * n * nbatch < THREAD_PER_OUTPUT_MIN
                if n >= 32 and n < 2048 and k >= WARP_MIN_TRIP \
                        and list(parts[5].indices)[-1] is parts[2].body.block.args[0]:
                    # a row-major B (not an implicit-GEMM convolution, whose im2col reads
                    # along K stay close anyway) with enough columns: lanes along N
                    # (coalesced B), the warps of a block along K, whatever the number of
                    # outputs (ViT-tiny's batch-1 projections, 65 x 576 and 65 x 768: 1.46x
                    # faster end to end on an H100 than a thread per output)
                    self.split_gemm_k, ksplit = True, parts
        if ksplit is not None:
            texts.append(self._print_ksplit(fn, name, ksplit))
            launches.append(Launch(name, (nbatch * m * -(-n // 32), 1), THREADS, 2 * m * n * k * nbatch))
        elif gemm is not None:
            if kind is not None:
                bn = wgmma_tile(kind, self.arch, gemm, SM_COUNT)
                cfg = choose_config(kind, m, n, nbatch, SM_COUNT, k, all(operand_forms(kind, gemm)[:2]))
                mma_name = name if bn is None else f"{name}_mma"
                mma_text = self._print_mma_gemm(fn, mma_name, gemm, cfg)
                mma = Launch(mma_name, (-(-n // cfg.bn), -(-m // cfg.bm), nbatch), cfg.threads, 2 * m * n * k * nbatch,
                             self.mma_smem)
                if bn is None:
                    texts.append(mma_text)
                    launches.append(mma)
                else:  # Hopper: TMA + wgmma, the mma.sync form kept for a misaligned operand
                    text, smem, maps = self._print_wgmma_gemm(fn, name, gemm, kind, bn)
                    texts += [text, mma_text]
                    launches.append(Launch(name, (-(-n // bn), -(-m // 128), 1), WGMMA_THREADS, 2 * m * n * k, smem, maps, mma))
            else:
                simt = choose_simt_config(m, n, k, nbatch, SM_COUNT)
                texts.append(self._print_gemm(fn, name, gemm, simt))
                launches.append(Launch(name, (-(-n // simt.bn), -(-m // simt.bm), nbatch * simt.splits), simt.threads,
                                       2 * m * n * k * nbatch, work=simt.work_floats(m, n, nbatch),
                                       sems=simt.semaphores(m, n, nbatch)))
        elif effects and all(_is_loop(op) and parallel_prefix(op) for op in effects):
            for index, loop in enumerate(effects):
                fname = name if len(effects) == 1 else f"{name}_p{index}"
                text, launch = self._print_phase(fn, fname, loop)
                texts.append(text)
                launches.append(launch)
        else:
            texts.append(self._print_single_block(fn, name))
            launches.append(Launch(name, (1, 1), THREADS))
        self.launches[name] = launches
        return "\n\n".join([self.kernel_comment(fn) + "\n" + texts[0], *texts[1:]])

    def _signature(self, fn: func.FuncOp, fname: str) -> str:
        # 32-bit index arithmetic (64-bit division is emulated on the GPU) wherever every
        # buffer and loop bound fits; the products in subscripts then fit too
        sizes = [int(np.prod(a.type.get_shape(), dtype=np.int64)) for a in fn.body.block.args]
        sizes += [_bounds(op)[1] for op in fn.walk() if isinstance(op, scf.ForOp) and _static(op)]
        self.index_ctype = "int" if max(sizes, default=0) < (1 << 31) - 1024 else "int64_t"
        return self.begin_kernel(fn, fname)

    def _pure_top(self, fn: func.FuncOp, depth: int) -> None:
        """The kernel's top-level constants and value computations (every phase has them)."""
        for op in fn.body.block.ops:
            if _is_expression(op):
                self._op(op, depth, False)

    def _print_phase(self, fn: func.FuncOp, fname: str, loop: scf.ForOp) -> tuple[str, Launch]:
        self.lines = [self._signature(fn, fname)]
        self._pure_top(fn, 1)
        prefix = parallel_prefix(loop)
        inner_body = prefix[-1].body.block
        # a warp per iteration when every loop in its body is a long reduction loop (or a
        # lane-uniform serial loop holding only such loops: an attention row's columns)
        warp_loops = self._warp_loops(inner_body)
        warp = bool(warp_loops)
        sizes = [_trip_count(lp) for lp in prefix]
        total = 1
        for s in sizes:
            total *= s
        per = 32 if warp else 1
        tctype = self.index_ctype if total * per < (1 << 31) else "int64_t"
        self._emit(1, f"const {tctype} hetc_t = (({tctype})blockIdx.x * blockDim.x + threadIdx.x){' >> 5' if warp else ''};")
        self._emit(1, f"if (hetc_t >= {total}) return;")
        if warp:
            self._emit(1, "const int hetc_lane = threadIdx.x & 31;")
        inner = 1
        for lp, size in reversed(list(zip(prefix, sizes))):
            lb, _, step = _bounds(lp)
            iv = self._fresh("i")
            self.names[lp.body.block.args[0]] = iv
            idx = "hetc_t" if inner == 1 else f"(hetc_t / {inner})"
            idx = idx if size * inner == total else f"({idx} % {size})"
            expr = idx if step == 1 else f"{idx} * {step}"
            self._emit(1, f"const {self.index_ctype} {iv} = {expr if lb == 0 else f'{lb} + {expr}'};")
            inner *= size
        for lp in prefix[:-1]:
            for op in lp.body.block.ops:
                if isinstance(op, PURE):
                    self._op(op, 1, False)
        self.warp_loops = warp_loops or {}
        self.lane_private = self._lane_private(inner_body, self.warp_loops)
        self._block(inner_body, 1, outer_loop=False)
        self.warp_loops, self.lane_private = {}, set()
        self.lines.append("}")
        blocks = -(-total * per // THREADS)
        return "\n".join(self.lines), Launch(fname, (blocks, 1), THREADS)

    def _warp_loops(self, body: Block) -> dict[scf.ForOp, dict[SSAValue, str]] | None:
        """The reduction loops of `body` split over a warp's lanes -> their accumulators,
        or None if some loop of `body` cannot be (then a thread per iteration)."""
        warp_loops: dict[scf.ForOp, dict[SSAValue, str]] = {}
        for op in body.ops:
            if not _is_loop(op):
                continue
            if UNIFORM_ATTR in op.attributes and _static(op):
                inner = self._warp_loops(op.body.block)
                if not inner:
                    return None
                warp_loops.update(inner)
                continue
            accs = None
            if (REDUCTION_ATTR in op.attributes or GEMM_K_ATTR in op.attributes and self.split_gemm_k) and _static(op) \
                    and _trip_count(op) >= WARP_MIN_TRIP:
                accs = _reduction_accumulators(op)
            if accs is None:
                return None
            warp_loops[op] = accs
        return warp_loops

    @staticmethod
    def _lane_private(body: Block, warp_loops: dict) -> set[SSAValue]:
        """Row buffers (a softmax's exponentials, a layer norm's row) that every access
        indexes with the variable of a lane-split loop from 0 step 1: element i is only
        ever touched by lane i % 32, so each lane holds ceil(n / 32) of them, at i >> 5. As
        a whole row per thread they lived in local memory (ViT-tiny at batch 32: 65 floats
        per lane, 28 us per softmax on an H100)."""
        ivs = {lp.body.block.args[0] for lp in warp_loops if _bounds(lp)[0] == 0 and _bounds(lp)[2] == 1}
        private = set()
        for op in body.walk():
            if not isinstance(op, memref.AllocaOp) or len(op.results[0].type.get_shape()) != 1:
                continue
            buf = op.results[0]
            uses = [u.operation for u in buf.uses]
            if buf.type.get_shape()[0] > 32 and uses and all(
                isinstance(u, (memref.LoadOp, memref.StoreOp)) and u.memref is buf and len(u.indices) == 1 and u.indices[0] in ivs
                for u in uses
            ):
                private.add(buf)
        return private

    def _subscript(self, ref: SSAValue, indices) -> str:
        if ref in self.lane_private:
            return f"{self.names[ref]}[{self.names[indices[0]]} >> 5]"
        return super()._subscript(ref, indices)

    def _op(self, op: Operation, depth: int, outer_loop: bool) -> None:
        if isinstance(op, memref.StoreOp) and self.deferred_stores is not None:  # see _gemm_output_run
            self.deferred_stores.append((self._subscript(op.memref, op.indices), self.names[op.value]))
            return
        if isinstance(op, memref.AllocaOp) and op.results[0] in self.lane_private:
            name = self._fresh("acc")
            self.names[op.results[0]] = name
            self.shapes[op.results[0]] = list(op.results[0].type.get_shape())
            ctype = self.value_type(op.results[0], op.results[0].type.get_element_type())
            self._emit(depth, f"{ctype} {name}[{-(-op.results[0].type.get_shape()[0] // 32)}];  /* this lane's elements i: [i >> 5] */")
            return
        accs = self.warp_loops.get(op) if isinstance(op, scf.ForOp) else None
        if accs is None:
            if self.mode == "block" and isinstance(op, scf.ForOp) and PARALLEL_ATTR in op.attributes and not self.in_split:
                self._block_split_loop(op, depth)
                return
            if self.mode == "block" and isinstance(op, memref.StoreOp) and not self.in_split \
                    and not isinstance(op.memref.owner, memref.AllocaOp):
                self._emit(depth, "if (threadIdx.x == 0) {")
                super()._op(op, depth + 1, outer_loop)
                self._emit(depth, "}")
                self._emit(depth, "__syncthreads();")
                return
            super()._op(op, depth, outer_loop)
            return
        # a reduction loop split over the warp's lanes, then the lanes' partials combined
        iv = self._fresh("i")
        self.names[op.body.block.args[0]] = iv
        lb, ub, step = _bounds(op)
        self._emit(depth, f"for ({self.index_ctype} {iv} = {lb} + hetc_lane * {step}; {iv} < {ub}; {iv} += {32 * step}) {{")
        self._block(op.body.block, depth + 1, outer_loop=False)
        self._emit(depth, "}")
        for acc, helper in accs.items():
            ref = self.names[acc]
            self._emit(depth, f"{ref}[0] = {helper}({ref}[0]);")

    # -- one block ----------------------------------------------------------------------------

    def _print_single_block(self, fn: func.FuncOp, fname: str) -> str:
        self.lines = [self._signature(fn, fname)]
        self.mode, self.in_split = "block", False
        try:
            self._block(fn.body.block, 1, outer_loop=False)
        finally:
            self.mode = "threads"
        self.lines.append("}")
        return "\n".join(self.lines)

    def _block_split_loop(self, op: scf.ForOp, depth: int) -> None:
        iv = self._fresh("i")
        self.names[op.body.block.args[0]] = iv
        lb, ub, step = (self.names[x] for x in (op.lb, op.ub, op.step))
        self._emit(depth, f"for ({self.index_ctype} {iv} = {lb} + threadIdx.x * {step}; {iv} < {ub}; {iv} += blockDim.x * {step}) {{")
        self.in_split = True
        self._block(op.body.block, depth + 1, outer_loop=False)
        self.in_split = False
        self._emit(depth, "}")
        self._emit(depth, "__syncthreads();")

    # -- GEMM -----------------------------------------------------------------------------------

    def _gemm_parts(self, fn: func.FuncOp):
        """((M, N, K), i loop, j loop, k loop, A load, B load, accumulator) of a plain GEMM
        nest, or None when the kernel does not have exactly that shape."""
        if GEMM_ATTR not in fn.attributes:
            return None
        mnk = tuple(a.value.data for a in fn.attributes[GEMM_ATTR].data)
        loops = [op for op in fn.body.block.ops if _is_loop(op)]
        if len(loops) != 1:
            return None
        li = loops[0]
        lbatch = None
        if GEMM_BATCH_ATTR in li.attributes:  # B products: the batch goes on the grid's z axis
            lbatch = li
            inner = [op for op in li.body.block.ops if _is_loop(op)]
            if len(inner) != 1:
                return None
            li = inner[0]
        lj = [op for op in li.body.block.ops if _is_loop(op)]
        if len(lj) != 1:
            return None
        lj = lj[0]
        lk = [op for op in lj.body.block.ops if _is_loop(op)]
        if len(lk) != 1 or GEMM_K_ATTR not in lk[0].attributes:
            return None
        lk = lk[0]
        mul = [op for op in lk.body.block.ops if isinstance(op, arith.MulfOp)]
        allocas = [op for op in lj.body.block.ops if isinstance(op, memref.AllocaOp)]
        if len(mul) != 1 or len(allocas) != 1 or not isinstance(mul[0].results[0].type, Float32Type):
            return None
        # each factor is a load, or a float16 / bfloat16 load widened (hetc-narrow-storage)
        loads = [widened_load(v) for v in mul[0].operands]
        if None in loads:
            return None
        la, lb_ = loads
        args = list(fn.body.block.args)
        if la.memref is not args[0] or lb_.memref is not args[1]:
            return None
        va, vb = mul[0].operands
        return mnk, li, lj, lk, la, lb_, allocas[0], lbatch, va, vb

    def _hoist(self, ops: list[Operation], varying: set[SSAValue], depth: int) -> set[Operation]:
        """Print once, at `depth`, the index arithmetic among `ops` (a tile load's slice) that
        none of `varying` (the K and other loop variables) feeds: a thread's column of a B
        tile is the same at every K step, so an implicit-GEMM convolution's window address
        (image, output pixel: several div/rem) is computed once rather than per element
        and step. Values the other ops use become named constants. Returns the ops printed."""
        dep = set(varying)
        hoisted: list[Operation] = []
        for op in ops:
            if isinstance(op, PURE) and not any(v in dep for v in op.operands) and \
                    all(isinstance(r.type, IndexType) or isinstance(op, arith.ConstantOp) for r in op.results):
                hoisted.append(op)
            else:
                dep.update(op.results)
        printed = set(hoisted)
        for op in hoisted:
            self._op(op, depth, False)
        for op in hoisted:
            if not isinstance(op, arith.ConstantOp) and any(u.operation not in printed for u in op.results[0].uses):
                name = self._fresh("hetc_h")
                self._emit(depth, f"const {self.index_ctype} {name} = {self.names[op.results[0]]};")
                self.names[op.results[0]] = name
        return printed

    def _slice(self, load: memref.LoadOp, body: Block) -> list[Operation]:
        """The ops of `body` that `load` needs (its index arithmetic), in order, and itself."""
        need: set[Operation] = {load}
        for op in reversed(list(body.ops)):
            if op in need:
                for v in op.operands:
                    if isinstance(v.owner, Operation) and v.owner.parent_block() is body:
                        need.add(v.owner)
        return [op for op in body.ops if op in need]

    def _print_ksplit(self, fn: func.FuncOp, fname: str, parts) -> str:
        """A GEMM too small to tile, with N >= 32: a block per (batch, row, 32 columns); its
        lanes take neighbouring columns (coalesced reads of a row-major B, A broadcast) and
        its 8 warps split K; the partial sums meet in shared memory, warp 0 finishes."""
        (m, n, k), li, lj, lk, _, _, acc, lbatch, _, _ = parts
        slices = THREADS // 32
        self.lines = [self._signature(fn, fname)]
        self._pure_top(fn, 1)
        outer = list(lbatch.body.block.ops) if lbatch is not None else []
        e, t = self._emit, self.index_ctype
        nb = -(-n // 32)
        e(1, f"/* {m} x {n} x {k} GEMM: 32 columns x {slices} slices of K per block */")
        e(1, f"__shared__ float hetc_part[{slices}][32];")
        e(1, "const int hetc_lane = threadIdx.x & 31, hetc_w = threadIdx.x >> 5;")
        e(1, f"const {t} hetc_b = blockIdx.x;")
        e(1, f"const {t} hetc_j = (hetc_b % {nb}) * 32 + hetc_lane;")
        e(1, f"const {t} hetc_i = (hetc_b / {nb}) % {m};")
        if lbatch is not None:
            e(1, f"const {t} hetc_bt = hetc_b / {nb * m};")
            self.names[lbatch.body.block.args[0]] = "hetc_bt"
        self.names[li.body.block.args[0]], self.names[lj.body.block.args[0]] = "hetc_i", "hetc_j"
        after = list(lj.body.block.ops)
        for op in outer + list(li.body.block.ops) + after[: after.index(lk)]:
            if not _is_loop(op):
                self._op(op, 1, False)
        ref = self.names[acc.results[0]]
        kv = self._fresh("i")
        self.names[lk.body.block.args[0]] = kv
        lo, hi, step = _bounds(lk)
        e(1, f"if (hetc_j < {n}) {{")
        e(2, f"for ({t} {kv} = {lo} + hetc_w * {step}; {kv} < {hi}; {kv} += {slices * step}) {{")
        self._block(lk.body.block, 3, outer_loop=False)
        e(2, "}")
        e(1, "}")
        e(1, f"hetc_part[hetc_w][hetc_lane] = {ref}[0];")
        e(1, "__syncthreads();")
        e(1, f"if (hetc_w != 0 || hetc_j >= {n}) return;")
        e(1, f"for (int hetc_s = 1; hetc_s < {slices}; hetc_s++) {ref}[0] += hetc_part[hetc_s][hetc_lane];")
        for op in after[after.index(lk) + 1 :]:
            self._op(op, 1, False)
        self.lines.append("}")
        return "\n".join(self.lines)

    def _gemm_epilogue(self, parts, outer: list[Operation], value: str, col: str, depth: int) -> None:
        """The nest's own ops after the k loop (bias, fused epilogue, the store) for the output
        at (hetc_row0 + hetc_r, `col`) of a tile, whose sum is `value`."""
        (_, _, _), li, lj, lk, _, _, acc, _, _, _ = parts
        after = list(lj.body.block.ops)

        def index_math(ops):
            return [op for op in ops if isinstance(op, PURE) and not isinstance(op, arith.ConstantOp)]

        pre = index_math(outer + list(li.body.block.ops)) + index_math(after[: after.index(lk)])
        self.names[li.body.block.args[0]], self.names[lj.body.block.args[0]] = "(hetc_row0 + hetc_r)", col
        self._op(acc, depth, False)
        self._emit(depth, f"{self.names[acc.results[0]]}[0] = {value};")
        for op in pre + after[after.index(lk) + 1 :]:
            self._op(op, depth, False)

    def _vector_store(self, parts) -> memref.StoreOp | None:
        """The epilogue's one store if neighbouring columns j, j + 1 of an output row land
        next to each other (its last index is j itself, the others do not depend on j) in
        16- or 32-bit elements: then a run of a thread's columns is one vector store."""
        (_, _, _), li, lj, lk, *_ = parts
        after = list(lj.body.block.ops)
        tail = after[after.index(lk) + 1 :]
        stores = [op for op in tail if isinstance(op, memref.StoreOp)]
        if len(stores) != 1 or any(isinstance(op, (scf.ForOp, scf.IfOp)) for op in tail):
            return None
        store, j = stores[0], lj.body.block.args[0]
        if not isinstance(store.value.type, (Float32Type, Float16Type, BFloat16Type)) or not store.indices \
                or store.indices[-1] is not j or any(depends_on(i, j, PURE) for i in store.indices[:-1]):
            return None
        return store

    def _gemm_output_run(self, parts, outer: list[Operation], values: list[str], depth: int) -> None:
        """The epilogue for the outputs at (hetc_row0 + hetc_r, hetc_col0 + hetc_cc + t), t <
        len(values) (a thread's neighbouring columns, sums `values`): where the store allows
        (`_vector_store`) and the run is inside the output and aligned, the values are
        computed first and stored as one 4- to 16-byte vector (an H100 epilogue's scalar
        2-byte stores were a third of a short-K GEMM's time); else one by one."""
        (m, n, _), *_ = parts
        e, width = self._emit, len(values)
        store = self._vector_store(parts)
        if store is None:
            e(depth, "#pragma unroll")
            e(depth, f"for (int hetc_t = 0; hetc_t < {width}; hetc_t++) {{")
            pick = values[0] if width == 1 else "(" + " : ".join(f"hetc_t == {t} ? {v}" for t, v in enumerate(values[:-1])) + f" : {values[-1]})"
            e(depth + 1, f"if (hetc_row0 + hetc_r >= {m} || hetc_col0 + hetc_cc + hetc_t >= {n}) continue;")
            self._gemm_epilogue(parts, outer, pick, "(hetc_col0 + hetc_cc + hetc_t)", depth + 1)
            e(depth, "}")
            return
        e(depth, f"if (hetc_row0 + hetc_r >= {m} || hetc_col0 + hetc_cc >= {n}) continue;")
        half = not isinstance(store.value.type, Float32Type)
        vbytes = width * (2 if half else 4)
        self.deferred_stores = []
        for t, v in enumerate(values):
            # a column past N (a ragged last tile) reads the last one's operands; not stored
            col = "(hetc_col0 + hetc_cc)" if t == 0 else f"(hetc_col0 + hetc_cc + {t})" if n % width == 0 \
                else f"min(hetc_col0 + hetc_cc + {t}, {n - 1})"
            self._gemm_epilogue(parts, outer, v, col, depth)
        (sub, _), *_ = self.deferred_stores
        vals = [val for _, val in self.deferred_stores]
        self.deferred_stores = None
        ctype = self.value_type(store.value, store.value.type)
        e(depth, f"{ctype}* const hetc_o = &{sub};")
        if half:  # pairs of 16-bit values as 32-bit words
            words = [f"((unsigned){vals[i]} | ((unsigned){vals[i + 1]} << 16))" for i in range(0, width, 2)]
            vtype, vexpr = ("unsigned", words[0]) if width == 2 else (f"uint{width // 2}", f"make_uint{width // 2}({', '.join(words)})")
        else:
            vtype, vexpr = f"float{width}", f"make_float{width}({', '.join(vals)})"
        e(depth, f"if (hetc_col0 + hetc_cc + {width - 1} < {n} && ((size_t)hetc_o & {vbytes - 1}) == 0) {{")
        e(depth + 1, f"*reinterpret_cast<{vtype}*>(hetc_o) = {vexpr};")
        e(depth, "} else {")
        for t, v in enumerate(vals):
            e(depth + 1, f"if (hetc_col0 + hetc_cc + {t} < {n}) hetc_o[{t}] = {v};")
        e(depth, "}")


def device_prelude() -> str:
    """Definitions every generated .cu starts with (warp combines, NaN/Inf spellings)."""
    return r"""#define HETC_INF __int_as_float(0x7f800000)
#define HETC_NAN __int_as_float(0x7fffffff)
#define HETC_INFD __longlong_as_double(0x7ff0000000000000LL)
#define HETC_NAND __longlong_as_double(0x7ff8000000000000LL)
/* float -> float16 / bfloat16 bits, nearest even; a NaN as NumPy / ml_dtypes cast it (the
 * sign, and for float16 the top payload bits, never zero). Branch-free: the C helpers'
 * general encoder, inlined at every store of a GEMM epilogue, was most of its time. */
static __device__ __forceinline__ unsigned short hetc_f16_rn(float x) {
  const unsigned b = __float_as_uint(x), p = (b >> 13) & 0x3ffu;
  const unsigned short h = __half_as_ushort(__float2half_rn(x));
  return x != x ? (unsigned short)(((b >> 16) & 0x8000u) | 0x7c00u | (p ? p : 1u)) : h;
}
static __device__ __forceinline__ unsigned short hetc_bf16_rn(float x) {
  const unsigned short h = __bfloat16_as_ushort(__float2bfloat16_rn(x));
  return x != x ? (unsigned short)(((__float_as_uint(x) >> 16) & 0x8000u) | 0x7fc0u) : h;
}
template <typename T> static __device__ __forceinline__ T hetc_warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <typename T> static __device__ __forceinline__ T hetc_warp_prod(T v) {
  for (int o = 16; o > 0; o >>= 1) v *= __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
/* max/min that propagate NaN like arith.maximumf / minimumf */
template <typename T> static __device__ __forceinline__ T hetc_warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) { const T w = __shfl_xor_sync(0xffffffffu, v, o); v = (v > w || v != v) ? v : w; }
  return v;
}
template <typename T> static __device__ __forceinline__ T hetc_warp_min(T v) {
  for (int o = 16; o > 0; o >>= 1) { const T w = __shfl_xor_sync(0xffffffffu, v, o); v = (v < w || v != v) ? v : w; }
  return v;
}
""" + device_helpers()

