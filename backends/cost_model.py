"""The cost model every decision pass reads: `estimate(op_or_group, device) -> Estimate`.

Two layers:

* The device roofline (issue 5). FLOP and byte counts per ONNX op (`op_counts`: Conv,
  MatMul/Gemm, elementwise, reductions, pools, normalizations, attention, recurrent ops,
  data movement, views; one FLOP per output element for the rest), and per device from the
  catalog (`hetc.backends.devices`):

      time = max(FLOPs / peak FLOP/s of the op's dtype, bytes / memory bandwidth) + launch overhead

  where matrix-class ops (MatMul, Gemm, Conv, attention) use the device's `peak_flops`
  and the rest its `vector_flops`, and the bandwidth is that of the smallest `cache`
  memory the op's bytes fit in, else the main memory. On a device whose catalog entry
  has a `[kernels]` table (the host CPU, which runs the C target), the compute term of a
  float32 2-D Conv or MatMul/Gemm is the C target's kernel-shape model below instead of
  FLOPs / peak (register-tile padding, im2col/packing copies, depthwise loops: it halves
  the error on convolutions). Energy is time x the device's power. `transfer(bytes, link)` prices moving a tensor over a link (or a route of
  links). A group of ops (a fused kernel) counts its FLOPs, only the bytes that cross
  its boundary, and one launch. Where `hetc calibrate --validate` fitted a correction
  for a device, `estimate(..., corrected=True)` applies it on top of the roofline
  (reports show both).

* The C target's kernel shapes (`conv_seconds`, `gemm_seconds`, `transpose_seconds`),
  which `hetc-choose-layout` uses to price NCHW against NHWC: GEMM register tiles, im2col
  and packing copies, transposes. Their throughputs (`CPU`) are the built-in catalog's
  `[devices.cpu.kernels]`, read off `hetc run --profile` on this project's 2-core Xeon
  (AVX-512) with ResNet-50 and MobileNetV2: the register-tiled GEMM sustains about 70
  GFLOP/s, packing and im2col copies about 6 GB/s (scattered stores), transposes about
  3 GB/s. A calibration profile does not change them (layout decisions stay the same from
  machine to machine).
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


def _builtin_cpu_params() -> CpuParams:
    """`CPU` from the built-in catalog's host `[kernels]` table (the same numbers as before
    the catalog existed: 70 GFLOP/s GEMM, 20/3 GFLOP/s vector/scalar loops, 6/3/15 GB/s
    copies/transposes/streaming, 1 MiB L2)."""
    from hetc.backends.devices import builtin_catalog

    host = builtin_catalog().host
    k = host.kernels
    return CpuParams(
        name=f"{host.name} (this machine, 1 thread)",
        gemm_flops=k["gemm_flops"],
        vector_flops=k["vector_flops"],
        scalar_flops=k["scalar_flops"],
        copy_bandwidth=k["copy_bandwidth"],
        transpose_bandwidth=k["transpose_bandwidth"],
        l2_bytes=int(k["l2_bytes"]),
        stream_bandwidth=k["stream_bandwidth"],
    )


CPU = _builtin_cpu_params()


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


# ============================================================================ the device roofline

import math  # noqa: E402
from collections.abc import Iterable, Mapping, Sequence  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

if TYPE_CHECKING:
    from hetc.backends.devices import Catalog, Device, Link

#: op classes priced at the device's matrix (tensor-core / GEMM) rate
MATRIX_CLASSES = frozenset({"matmul", "conv", "attention"})

_CLASS_OF: dict[str, str] = {}
for _cls, _ops in {
    "matmul": ("MatMul", "Gemm", "MatMulInteger", "QLinearMatMul", "Einsum"),
    "conv": ("Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "DeformConv"),
    "attention": ("Attention", "MultiHeadAttention", "RotaryEmbedding"),
    "recurrent": ("LSTM", "GRU", "RNN"),
    "pool": (
        "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "MaxRoiPool",
        "RoiAlign", "MaxUnpool",
    ),
    "reduction": (
        "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
        "ReduceLogSum", "ReduceLogSumExp", "ArgMax", "ArgMin", "CumSum", "TopK",
    ),
    "norm": (
        "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
        "RMSNormalization", "SkipLayerNormalization", "LRN", "MeanVarianceNormalization", "Softmax", "LogSoftmax",
        "Hardmax", "LpNormalization",
    ),
    "movement": (
        "Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterND",
        "ScatterElements", "Pad", "Tile", "Expand", "Resize", "DepthToSpace", "SpaceToDepth", "ReverseSequence",
        "Compress", "OneHot", "Trilu", "Upsample", "CenterCropPad", "Col2Im", "GridSample",
    ),
    "view": (
        "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Shape", "Size", "Constant",
        "ConstantOfShape", "NoValue",
    ),
}.items():
    for _op in _ops:
        _CLASS_OF[_op] = _cls

#: FLOPs per output element of elementwise ops beyond the default 1
_ELEMENTWISE_FLOPS = {
    "Div": 4, "Sqrt": 4, "Reciprocal": 4, "Pow": 10, "Exp": 8, "Log": 8, "Tanh": 10, "Sigmoid": 10, "Erf": 10,
    "Sin": 8, "Cos": 8, "Tan": 10, "Gelu": 14, "Softplus": 12, "Mish": 20, "Elu": 10, "Selu": 10, "Celu": 10,
    "HardSigmoid": 3, "HardSwish": 4, "Swish": 11, "Softsign": 5, "Clip": 2, "LeakyRelu": 2, "PRelu": 2,
    "Where": 1, "Mod": 4, "Atan": 10, "Asin": 10, "Acos": 10, "Sinh": 10, "Cosh": 10,
}  # fmt: skip
_ELEMENTWISE = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Relu", "Neg", "Abs", "Sign", "Floor", "Ceil",
    "Round", "Cast", "CastLike", "Not", "And", "Or", "Xor", "Equal", "Greater", "GreaterOrEqual", "Less",
    "LessOrEqual", "IsNaN", "IsInf", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot",
    "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ThresholdedRelu", "Shrink", "Bernoulli",
    *_ELEMENTWISE_FLOPS,
}  # fmt: skip
_NORM_FLOPS = {
    "BatchNormalization": 2, "LayerNormalization": 8, "InstanceNormalization": 8, "GroupNormalization": 8,
    "RMSNormalization": 5, "SkipLayerNormalization": 9, "MeanVarianceNormalization": 8, "Softmax": 5,
    "LogSoftmax": 6, "Hardmax": 2, "LpNormalization": 4,
}  # fmt: skip


def op_class(op_type: str) -> str:
    """The class an ONNX op type is priced as (see OP_CLASSES in hetc.backends.devices)."""
    if op_type in _CLASS_OF:
        return _CLASS_OF[op_type]
    if op_type in _ELEMENTWISE:
        return "elementwise"
    return "other"


def dtype_key(t: Any) -> str:
    """The catalog's dtype key of an element type (xDSL type or NumPy dtype): float32,
    float16, bfloat16, float8 (every 8-bit float), int8 (and uint8), int32, bool, ..."""
    import numpy as np

    if not isinstance(t, np.dtype):
        from hetc.dialects import onnx as onnx_d

        try:
            t = onnx_d.numpy_dtype(t)
        except Exception:
            return "float32"
    name = t.name
    if name.startswith("float8_"):
        return "float8"
    if name.startswith(("float4_", "float6_")):
        return "float4"
    if name == "bool":
        return "bool"
    for bits in ("64", "32", "16", "8", "4", "2"):
        if name in (f"int{bits}", f"uint{bits}"):
            return "int4" if bits == "2" else f"int{bits}"
    return name  # float64, float32, float16, bfloat16


@dataclass(frozen=True)
class OpCounts:
    """What an op (or a group of ops) computes and moves."""

    op_type: str
    op_class: str
    dtype: str
    flops: float
    bytes_in: float
    bytes_out: float
    #: bytes of constant operands (weights): read by the op, resident on its device
    weight_bytes: float = 0.0
    name: str = ""
    #: the kernel's shape where the C target's kernel model knows it:
    #: ("conv", ConvShape, images) for a float32 2-D Conv, ("gemm", m, n, k, batch) for
    #: a float32 MatMul/Gemm (see `kernel_model_seconds`)
    kernel: tuple | None = None

    @property
    def bytes(self) -> float:
        return self.bytes_in + self.bytes_out


@dataclass(frozen=True)
class Estimate:
    """`estimate`'s answer: predicted seconds, joules, and bytes moved, with the roofline's
    terms (compute, memory, launch) and which one bounds it."""

    time_s: float
    energy_j: float
    bytes: float
    compute_s: float = 0.0
    memory_s: float = 0.0
    launch_s: float = 0.0
    bound: str = ""
    #: the pure roofline time when `time_s` carries a learned correction (else equal)
    roofline_s: float = 0.0
    corrected: bool = False


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= max(int(d), 0)
    return n


def _value_info(v: Any) -> tuple[tuple[int, ...], Any] | None:
    from xdsl.dialects.builtin import TensorType

    t = getattr(v, "type", None)
    if isinstance(t, TensorType):
        return tuple(t.get_shape()), t.get_element_type()
    return None


def _nbytes(v: Any) -> float:
    info = _value_info(v)
    if info is None:
        return 0.0
    shape, elem = info
    try:
        from hetc.dialects import onnx as onnx_d

        itemsize = onnx_d.numpy_dtype(elem).itemsize
    except Exception:
        itemsize = 4
    return float(_numel(shape) * itemsize)


def _is_constant(v: Any) -> bool:
    owner = getattr(v, "owner", None)
    return getattr(owner, "OP_TYPE", None) == "Constant"


def _attr(op: Any, name: str, default: Any = None) -> Any:
    from hetc.dialects import onnx as onnx_d

    a = op.attributes.get(name)
    return default if a is None else onnx_d.attribute_to_python(a)


def _flops(op: Any, op_type: str, cls: str, ins: list, outs: list) -> float:
    def shape(v) -> tuple[int, ...]:
        info = _value_info(v) if v is not None else None
        return info[0] if info else ()

    y = shape(outs[0]) if outs else ()
    ny = _numel(y)
    x = shape(ins[0]) if ins and ins[0] is not None else ()
    if op_type in ("MatMul", "MatMulInteger", "QLinearMatMul"):
        a = shape(ins[0])
        k = a[-1] if a else 1
        return 2.0 * ny * k
    if op_type == "Gemm":
        a = shape(ins[0])
        k = (a[0] if _attr(op, "transA", 0) else a[1]) if len(a) == 2 else 1
        bias = ny if len(ins) > 2 and ins[2] is not None else 0
        return 2.0 * ny * k + bias
    if op_type in ("Conv", "ConvInteger", "QLinearConv", "DeformConv"):
        w = shape(ins[3] if op_type == "QLinearConv" else ins[1])
        per_out = _numel(w[1:]) if len(w) > 1 else 1
        return 2.0 * ny * per_out + (ny if len(ins) > 2 and ins[2] is not None and op_type == "Conv" else 0)
    if op_type == "ConvTranspose":
        w = shape(ins[1])
        return 2.0 * _numel(x) * (_numel(w[1:]) if len(w) > 1 else 1)
    if op_type == "Einsum":
        return 2.0 * _einsum_iterations(op, [shape(v) for v in ins])
    if op_type in ("Attention", "MultiHeadAttention"):
        q, k = shape(ins[0]), shape(ins[1]) if len(ins) > 1 else ()
        skv = (k[-2] if len(k) == 4 else k[1]) if len(k) >= 3 else 1
        return 4.0 * _numel(q) * skv + 5.0 * (_numel(q) / max(q[-1] if q else 1, 1)) * skv
    if cls == "recurrent":
        w = shape(ins[1]) if len(ins) > 1 else ()
        r = shape(ins[2]) if len(ins) > 2 else ()
        seq, batch = (x[0], x[1]) if len(x) >= 2 else (1, 1)
        if len(w) == 3 and len(r) == 3:
            dirs, gates, inp = w
            return 2.0 * seq * batch * dirs * gates * (inp + r[2]) + 10.0 * seq * batch * dirs * gates
        return float(ny)
    if cls == "pool":
        if op_type.startswith("Global"):
            return float(_numel(x))
        ks = _attr(op, "kernel_shape") or []
        return float(ny * max(_numel(ks), 1))
    if cls == "reduction":
        return float(_numel(x))
    if cls == "norm":
        return float(_NORM_FLOPS.get(op_type, 5) * max(ny, _numel(x)))
    if cls == "elementwise":
        return float(_ELEMENTWISE_FLOPS.get(op_type, 1) * ny)
    if cls in ("movement", "view"):
        return 0.0
    return float(ny)


def _einsum_iterations(op: Any, shapes: list[tuple[int, ...]]) -> float:
    """Product of every index's extent (one multiply-add per point of the iteration space)."""
    eq = str(_attr(op, "equation", "") or "").replace(" ", "")
    lhs = eq.split("->")[0].split(",")
    sizes: dict[str, int] = {}
    for term, shp in zip(lhs, shapes):
        letters = [c for c in term if c.isalpha()]
        if "..." in term:
            extra = len(shp) - len(letters)
            for i, d in enumerate(shp[:extra]):
                sizes[f"_ell{i}"] = max(sizes.get(f"_ell{i}", 1), d)
            shp = shp[extra:]
        for c, d in zip(letters, shp):
            sizes[c] = max(sizes.get(c, 1), d)
    return float(_numel(sizes.values())) if sizes else 1.0


def op_counts(op: Any) -> OpCounts:
    """FLOPs and bytes of one `onnx`-dialect op, from its operand and result types."""
    from xdsl.dialects.builtin import NoneType

    op_type = getattr(op, "OP_TYPE", None) or op.name.split(".")[-1]
    cls = op_class(op_type)
    ins = [None if isinstance(getattr(v, "type", None), NoneType) else v for v in op.operands]
    outs = list(op.results)
    present = [v for v in ins if v is not None]
    elem = None
    for v in [*present, *outs]:
        info = _value_info(v)
        if info is not None:
            elem = info[1]
            if dtype_key(elem).startswith(("float", "bfloat")):
                break
    dtype = dtype_key(elem) if elem is not None else "float32"
    flops = _flops(op, op_type, cls, ins, outs)
    bytes_out = sum(_nbytes(v) for v in outs)
    if cls == "view":
        bytes_in = bytes_out = 0.0  # a view of its input: no data moves
    elif op_type in ("Gather", "GatherElements", "GatherND"):
        # reads the gathered rows (about the output's size) and the indices, not the whole table
        bytes_in = bytes_out + sum(_nbytes(v) for v in present[1:])
    else:
        bytes_in = sum(_nbytes(v) for v in present)
    weights = sum(_nbytes(v) for v in present if _is_constant(v))
    kernel = _kernel_shape(op, op_type, ins, outs) if dtype == "float32" else None
    return OpCounts(op_type, cls, dtype, flops, bytes_in, bytes_out, weights, getattr(op, "node_name", ""), kernel)


def _kernel_shape(op: Any, op_type: str, ins: list, outs: list) -> tuple | None:
    def shape(v) -> tuple[int, ...]:
        info = _value_info(v) if v is not None else None
        return info[0] if info else ()

    try:
        if op_type == "Conv":
            sx, sw, so = shape(ins[0]), shape(ins[1]), shape(outs[0])
            if len(sx) != 4 or len(sw) != 4 or len(so) != 4:
                return None
            pads = _attr(op, "pads") or [0] * 4
            padded = any(pads) or _attr(op, "auto_pad", "NOTSET") in ("SAME_UPPER", "SAME_LOWER")
            strided = any(st != 1 for st in (_attr(op, "strides") or [1, 1]))
            conv = ConvShape(sx[1], sx[2], sx[3], so[1], so[2], so[3], sw[2], sw[3], _attr(op, "group", 1), padded, strided)
            return ("conv", conv, sx[0])
        if op_type in ("MatMul", "Gemm"):
            a, y = shape(ins[0]), shape(outs[0])
            if len(a) < 2 or len(y) < 2:
                return None
            if op_type == "Gemm":
                k = a[0] if _attr(op, "transA", 0) else a[1]
            else:
                k = a[-1]
            m, n = y[-2], y[-1]
            return ("gemm", m, n, k, max(1, _numel(y) // max(m * n, 1)))
    except (IndexError, TypeError, ZeroDivisionError):
        return None
    return None


def _kernel_params(dev: "Device") -> CpuParams | None:
    """The C target's kernel throughputs on a device whose catalog entry has a [kernels]
    table, with the (possibly calibrated) GEMM rate, vector rate and memory bandwidth."""
    k = dev.kernels
    if not k:
        return None
    return CpuParams(
        name=dev.name,
        gemm_flops=dev.peak_flops.get("float32", k.get("gemm_flops", 70e9)),
        vector_flops=dev.vector_flops.get("float32", k.get("vector_flops", 20e9)),
        scalar_flops=k.get("scalar_flops", 3e9),
        copy_bandwidth=k.get("copy_bandwidth", 6e9),
        transpose_bandwidth=k.get("transpose_bandwidth", 3e9),
        l2_bytes=int(k.get("l2_bytes", 1 << 20)),
        stream_bandwidth=dev.bandwidth,
    )


def kernel_model_seconds(c: OpCounts, dev: "Device") -> float | None:
    """The C target's kernel-shape model of a Conv or MatMul/Gemm (GEMM register tiles,
    im2col and packing copies, depthwise loops; the better of NCHW and NHWC for a Conv, as
    hetc-choose-layout picks) on a device with a [kernels] table; None elsewhere."""
    if c.kernel is None:
        return None
    params = _kernel_params(dev)
    if params is None:
        return None
    if c.kernel[0] == "conv":
        _, conv, images = c.kernel
        return images * min(conv_seconds(conv, "NCHW", params), conv_seconds(conv, "NHWC", params))
    _, m, n, k, batch = c.kernel
    return batch * gemm_seconds(m, n, k, dev=params)


def group_counts(ops: Sequence[Any]) -> OpCounts:
    """One fused kernel made of `ops`: their FLOPs, the bytes that cross the group's
    boundary (inputs produced outside, results used outside or not at all inside), the
    class and dtype of the op with the most FLOPs."""
    ops = list(ops)
    if len(ops) == 1:
        return op_counts(ops[0])
    inside = set(ops)
    parts = [op_counts(o) for o in ops]
    seen: set = set()
    bytes_in = 0.0
    weights = 0.0
    for o in ops:
        for v in o.operands:
            if v in seen or getattr(v, "owner", None) in inside:
                continue
            seen.add(v)
            bytes_in += _nbytes(v)
            weights += _nbytes(v) if _is_constant(v) else 0.0
    bytes_out = 0.0
    for o in ops:
        for r in o.results:
            users = [u.operation for u in r.uses]
            if not users or any(u not in inside for u in users):
                bytes_out += _nbytes(r)
    if all(p.op_class == "view" for p in parts):
        bytes_in = bytes_out = 0.0
    top = max(parts, key=lambda p: (p.flops, p.bytes))
    names = ", ".join(p.name for p in parts if p.name)
    return OpCounts(top.op_type, top.op_class, top.dtype, sum(p.flops for p in parts), bytes_in, bytes_out, weights, names)


def counts_of(op_or_group: Any) -> OpCounts:
    if isinstance(op_or_group, OpCounts):
        return op_or_group
    if isinstance(op_or_group, (list, tuple)):
        return group_counts(op_or_group)
    return op_counts(op_or_group)


def _device(device: "str | Device", catalog: "Catalog | None") -> "Device":
    if isinstance(device, str):
        from hetc.backends.devices import load_catalog

        return (catalog or load_catalog()).device(device)
    return device


def supports(op_or_group: Any, device: "str | Device", catalog: "Catalog | None" = None) -> tuple[bool, str]:
    """Whether `device` can run the op (or group): its op type and class, and its dtype
    when it computes anything. Returns (ok, the reason when not)."""
    dev = _device(device, catalog)
    ops = op_or_group if isinstance(op_or_group, (list, tuple)) else [op_or_group]
    for o in ops:
        c = counts_of(o)
        if not dev.runs(c.op_type, c.op_class):
            return False, f"{dev.name} does not run {c.op_type} ({c.op_class})"
        if c.flops > 0 and dev.flops(c.dtype, c.op_class in MATRIX_CLASSES) is None:
            return False, f"{dev.name} does not compute in {c.dtype}"
    return True, ""


def roofline(c: OpCounts, dev: "Device") -> Estimate:
    """The pure roofline of counts `c` on device `dev` (see the module docstring)."""
    if c.op_class == "view" and c.flops == 0:
        return Estimate(0.0, 0.0, 0.0, bound="view")
    rate = dev.flops(c.dtype, c.op_class in MATRIX_CLASSES)
    if rate is None:
        if c.flops > 0:
            raise ValueError(f"{dev.name} does not compute in {c.dtype} (see supports())")
        rate = math.inf
    compute = c.flops / rate
    kernel = kernel_model_seconds(c, dev)
    if kernel is not None:
        compute = kernel  # the C target's kernel shapes, where the device has that model
    memory = c.bytes / dev.bandwidth_for(c.bytes) if c.bytes else 0.0
    launch = dev.launch_overhead_s
    t = max(compute, memory) + launch
    bound = "compute" if compute >= memory and compute >= launch else "memory" if memory >= launch else "launch"
    return Estimate(t, t * dev.power_w, c.bytes, compute, memory, launch, bound, t, False)


#: elementwise ops computed by a math-library call per element on a CPU (the correction
#: gives them their own column: they are far from memory-bound there)
TRANSCENDENTAL = frozenset({
    "Exp", "Log", "Tanh", "Sigmoid", "Erf", "Pow", "Sin", "Cos", "Tan", "Gelu", "Softplus", "Mish", "Elu", "Selu",
    "Celu", "Swish", "Atan", "Asin", "Acos", "Sinh", "Cosh", "Softsign",
})  # fmt: skip


def correction_class(c: OpCounts) -> str:
    """The column of an op in the learned correction: its op class, except that
    transcendental elementwise ops get their own ("transcendental")."""
    return "transcendental" if c.op_type in TRANSCENDENTAL else c.op_class


def correction_terms(c: OpCounts, est: Estimate, classes: Sequence[str]) -> list[float]:
    """The learned correction's features of one op: its roofline compute time and memory
    time, each in the column of its class (`correction_class`), and its launch overhead:

        [compute_s if class == k for k in classes] + [memory_s if class == k ...] + [launch_s]

    The correction is linear in them (time = sum coef x term, coefficients >= 0), i.e. an
    additive roofline with an effective FLOP rate and bandwidth per op class."""
    col = correction_class(c)
    comp = [est.compute_s if col == k else 0.0 for k in classes]
    mem = [est.memory_s if col == k else 0.0 for k in classes]
    return [*comp, *mem, est.launch_s]


def apply_correction(c: OpCounts, est: Estimate, corr: Mapping[str, Any]) -> float:
    """Time predicted by a fitted correction (`[corrections.DEVICE]` of a profile) for an op
    whose pure roofline estimate is `est`; the roofline itself for a class it never saw."""
    classes = list(corr.get("classes", []))
    if correction_class(c) not in classes or est.bound == "view":
        return est.time_s
    coef = list(corr["coef"])
    x = correction_terms(c, est, classes)
    if len(coef) != len(x):
        raise ValueError(f"correction has {len(coef)} coefficients for {len(x)} terms")
    return sum(a * b for a, b in zip(coef, x))


def estimate(
    op_or_group: Any,
    device: "str | Device",
    *,
    catalog: "Catalog | None" = None,
    corrected: bool | None = None,
) -> Estimate:
    """Predicted time (s), energy (J) and bytes moved of an op, a group of ops (one fused
    kernel) or `OpCounts` on a device (a `Device` or a catalog name).

    `corrected`: apply the learned correction `hetc calibrate --validate` stored for this
    device (None: when the catalog has one marked applied; False: the pure roofline).
    `Estimate.roofline_s` always holds the pure roofline time."""
    dev = _device(device, catalog)
    c = counts_of(op_or_group)
    est = roofline(c, dev)
    if corrected is False or est.bound == "view":
        return est
    if catalog is None:
        from hetc.backends.devices import load_catalog

        catalog = load_catalog()
    corr = catalog.corrections.get(dev.name)
    if not corr or (corrected is None and not corr.get("applied", False)):
        return est
    t = apply_correction(c, est, corr)
    return Estimate(t, t * dev.power_w, est.bytes, est.compute_s, est.memory_s, est.launch_s, est.bound, est.time_s, True)


def transfer(nbytes: float, link: "Link | Sequence[Link] | None") -> Estimate:
    """Moving `nbytes` over a link, or over a route of links one after the other (store and
    forward through the host): latency + bytes / bandwidth per hop. No link: free (same device)."""
    hops = [] if link is None else [link] if not isinstance(link, (list, tuple)) else list(link)
    t = sum(h.latency_s + nbytes / h.bandwidth_Bps for h in hops)
    e = sum(nbytes * h.energy_pj_per_byte * 1e-12 for h in hops)
    return Estimate(t, e, float(nbytes) * len(hops), memory_s=t, bound="transfer" if hops else "", roofline_s=t)


def transfer_between(nbytes: float, a: str, b: str, catalog: "Catalog | None" = None) -> Estimate:
    """Moving `nbytes` from device (instance) `a` to `b` along the catalog's route."""
    if catalog is None:
        from hetc.backends.devices import load_catalog

        catalog = load_catalog()
    return transfer(nbytes, catalog.route(a, b))


def model_ops(module: Any) -> Iterable[Any]:
    """The `onnx`-dialect ops of a module's `@main` that are tasks (constants and
    `onnx.NoValue` are not)."""
    from hetc.dialects import onnx as onnx_d

    for op in module.walk():
        if isinstance(op, onnx_d.OnnxOp) and op.OP_TYPE != "Constant":
            yield op
