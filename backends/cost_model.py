"""Cost estimates the decision passes share: a roofline over the CPU's GEMM throughput
and copy bandwidth, with the kernel shapes the loop lowering actually emits.

Today one device (the C target's CPU, one thread); the device catalog and calibration
of issue 5 will replace `CPU` with measured parameters. The numbers below were read
off `hetc run --profile` on this project's 2-core Xeon (AVX-512) with ResNet-50 and
MobileNetV2: the register-tiled GEMM sustains about 70 GFLOP/s, packing and im2col
copies about 6 GB/s (scattered stores), transposes about 3 GB/s.
"""

from __future__ import annotations

from dataclasses import dataclass

from hetc.passes.loops.ops import GEMM_MR, GEMM_NR


@dataclass(frozen=True)
class CpuParams:
    name: str
    #: float32 FLOP/s of the GEMM micro-kernel on full tiles
    gemm_flops: float
    #: FLOP/s of direct (non-GEMM) loops vectorized over a contiguous inner dimension
    vector_flops: float
    #: FLOP/s of direct loops whose inner dimension is a short window (no useful vectors)
    scalar_flops: float
    #: bytes/s of a copy that writes scattered (packing, im2col) or strided (transpose)
    copy_bandwidth: float
    transpose_bandwidth: float
    #: per-core cache the GEMM's streamed operand should fit in, and the bandwidth of
    #: streaming it from beyond that cache
    l2_bytes: int
    stream_bandwidth: float


CPU = CpuParams(
    name="cpu (this machine, 1 thread)",
    gemm_flops=70e9,
    vector_flops=20e9,
    scalar_flops=3e9,
    copy_bandwidth=6e9,
    transpose_bandwidth=3e9,
    l2_bytes=1 << 20,
    stream_bandwidth=15e9,
)


def _ceil_to(x: int, m: int) -> int:
    return -(-x // m) * m


def gemm_seconds(m: int, n: int, k: int, mr: int = GEMM_MR, nr: int = GEMM_NR, dev: CpuParams = CPU) -> float:
    """An M x N x K GEMM on MR x NR register tiles: partial tiles cost a full tile, and
    the operand the inner tile loop streams (the smaller one) costs memory bandwidth on
    every pass of the outer loop once it no longer fits in L2."""
    if n < nr and m >= 32:  # the lowering turns the tile for narrow N (32 rows x a few columns)
        mr, nr = 32, 8
    compute = 2.0 * _ceil_to(m, mr) * _ceil_to(n, nr) * k / dev.gemm_flops
    outer_panels, streamed = (-(-n // nr), 4 * m * k) if n > m else (-(-m // mr), 4 * k * n)
    spill = outer_panels * streamed / dev.stream_bandwidth if streamed > dev.l2_bytes else 0.0
    return compute + spill


def copy_seconds(nbytes: float, dev: CpuParams = CPU) -> float:
    return nbytes / dev.copy_bandwidth


def transpose_seconds(nbytes: float, dev: CpuParams = CPU) -> float:
    return nbytes / dev.transpose_bandwidth


@dataclass(frozen=True)
class ConvShape:
    """One 2-D convolution per batch image: C_in x H x W -> C_out x OH x OW."""

    c_in: int
    h: int
    w: int
    c_out: int
    oh: int
    ow: int
    kh: int
    kw: int
    group: int
    padded: bool
    strided: bool

    @property
    def depthwise(self) -> bool:
        return self.group == self.c_in and self.group == self.c_out and self.group > 1


def conv_seconds(s: ConvShape, layout: str, dev: CpuParams = CPU) -> float:
    """Predicted time of one image's convolution as the loop lowering emits it in
    `layout` (NCHW: pad, im2col into B panels or pack B, W @ cols; NHWC: im2col rows
    with padding folded in, cols @ W^T with A read in place)."""
    f = 4  # bytes per float32
    pixels = s.oh * s.ow
    if s.depthwise:
        flops = 2.0 * s.c_out * pixels * s.kh * s.kw
        pad = copy_seconds(f * s.c_in * (s.h + s.kh) * (s.w + s.kw)) if (s.padded and layout == "NCHW") else 0.0
        # NCHW reduces each output over a KH x KW window (scalar); NHWC vectorizes over channels
        return pad + flops / (dev.scalar_flops if layout == "NCHW" else dev.vector_flops)
    cg, mg = s.c_in // s.group, s.c_out // s.group
    k = cg * s.kh * s.kw
    direct = s.kh == s.kw == 1 and not s.strided and not s.padded
    t = 0.0
    if layout == "NCHW":
        if s.padded:
            t += copy_seconds(f * s.c_in * (s.h + 2) * (s.w + 2))
        # 1x1 stride 1: B = X packed into panels; otherwise im2col writes the panels
        t += copy_seconds(f * k * _ceil_to(pixels, GEMM_NR) * s.group)
        t += s.group * gemm_seconds(mg, pixels, k, dev=dev)
    else:
        if not direct:
            t += copy_seconds(f * pixels * k * s.group)
        t += s.group * gemm_seconds(pixels, mg, k, dev=dev)
    return t
