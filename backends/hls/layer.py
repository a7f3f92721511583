"""Layer mode: one kernel (layer) pipelined at a reuse factor R, the design point hls4ml's
io_parallel / Latency layers sit at, and its analytic cost.

Why: pipelining loop nests one at a time (`estimate.py`, `nest.py`) leaves every layer a
called function with its own loop fill/drain, and fixes the number of multipliers to an
unroll factor of one loop. hls4ml instead unrolls a whole layer, limits the multipliers
to ``MACs / R`` and pipelines it at II = R; the layers run one after another inside one
top function. This file gives hetc's kernels the same structure and two knobs per layer
that the pragma search (`estimate.search_pragmas`, choice "layers") picks: R, and d, how
many of the kernel's outer loops (a perfect nest of independent iterations: a GEMM's rows
and columns, a convolution's filters and pixels) stay a pipelined loop of T iterations
rather than being unrolled (d = 0: the whole kernel is one iteration, T = 1). d = 1 on a
convolution is hls4ml's n_partitions idea turned round: one filter per iteration.

The printed form (`target.HlsPrinter`): the kernel gets ``#pragma HLS INLINE`` (no call,
no per-layer start/done handshake; not under DATAFLOW, whose processes are functions);
for d = 0 its body is wrapped in a one-trip loop ``layer: for (r = 0; r < 1; r++)``, for
d > 0 its d-th loop is the pipelined one (the loops above flatten into it); that loop carries
``#pragma HLS PIPELINE II=R`` and ``#pragma HLS ALLOCATION operation instances=mul
limit=M``, every loop below is unrolled, and the arrays it touches are partitioned:
intermediates completely (registers), weights into ``min(S, M)`` cyclic banks (constants
when every multiplier has its own weight, ROMs of depth ``S / M`` otherwise). When every
kernel is a d = 0 layer the top is one pipeline (``#pragma HLS PIPELINE II=max R``,
hls4ml's io_parallel "pipeline" style); with d > 0 it stays sequential (a pipelined top
would unroll the layer's pipelined loop).

The model (the same operator table as every other estimate; `hls4ml_model.py` applies
the same rules to hls4ml's layers):

* ops per iteration: every op of the kernel counted with its multiplicity (the trip counts
  above it), over T; in fixed point the first add of a reduction whose accumulator starts at
  the constant 0 is folded away after unrolling (``0 + x = x``); float keeps it (-0.0);
* resources at R: ``ceil(count / R)`` instances of each operator kind (an II = R pipeline
  shares each operator R ways; ALLOCATION pins the multipliers), each shared instance with
  an R:1 multiplexer in front of one operand (`estimate.mux_lut`; hls4ml_model charges
  hls4ml's shared multipliers and adders and its convolution's buffer the same); for d > 0
  every distinct read whose address depends on the pipelined loops selects among the words
  it can address (a mux over registers, a distributed ROM for weights); one pipeline control
  per layer, or one for the whole top pipeline;
* latency: ``T * R + depth`` = ``(T - 1) * R + (R - 1) + depth + 1``: T iterations at II = R,
  the critical path of one unrolled iteration with arrays as registers (a reduction of ``n``
  terms is an adder tree of ``ceil(log2 n)`` levels in fixed point, where HLS balances the
  expression; a chain in float), and the layer's output register.
"""

from __future__ import annotations

import math
from collections import Counter

from hetc.backends.hls.estimate import LOOP_CONTROL, Kernel, Loop, Precision, mux_lut

#: op instances a layer may hold at R = 1 (bigger kernels are not offered as layers)
LAYER_MAX_OPS = 1 << 16
#: reuse factors offered per layer, at most
MAX_CHOICES = 160
#: operator kinds whose shared instances get an operand multiplexer (address arithmetic, loads and
#: stores are wiring; math functions are rare in these layers and keep their cores' cost)
SHARED_MUX = ("fmul", "fadd", "fcmp", "select", "fdiv")


def _loops(k: Kernel) -> list[Loop]:
    out: list[Loop] = []

    def rec(lp: Loop) -> None:
        out.append(lp)
        for c in lp.children:
            rec(c)

    for lp in k.loops:
        rec(lp)
    return out


def _prod(xs) -> int:
    return math.prod(xs) if xs else 1


def pipeline_levels(k: Kernel) -> list[Loop]:
    """Loops a one-nest kernel can be pipelined over: the root, then down while the loop above is
    a perfect nest (Vitis flattens it into the pipelined one); none may carry a dependence."""
    if len(k.loops) != 1:
        return []
    out, lp = [], k.loops[0]
    while lp is not None and not lp.carried and not lp.innermost:
        out.append(lp)
        lp = lp.children[0] if len(lp.children) == 1 and not lp.ops else None
    return out


def iterations(k: Kernel, outer: int) -> int:
    """T: iterations of the pipelined loop (the `outer` levels flattened); 1 for the whole kernel."""
    return _prod([lp.trip for lp in pipeline_levels(k)[:outer]])


def layer_counts(k: Kernel, prec: Precision, outer: int = 0) -> Counter:
    """Operator kind -> instances in one iteration (the fully unrolled kernel for `outer` = 0;
    loads/stores are wiring)."""
    n: Counter = Counter(k.ops)
    for lp in _loops(k):
        for kind, c in lp.ops.items():
            n[kind] += c * lp.mult * lp.trip
        if prec.kind == "fixed" and lp.zero_init and lp.ops.get("fadd"):
            n["fadd"] -= lp.mult  # 0 + x: folded once per run of the reduction
    for kind in ("load", "store"):
        n.pop(kind, None)
    t = iterations(k, outer)
    return +Counter({kind: math.ceil(c / t) for kind, c in n.items()})


def layer_arrays(k: Kernel) -> set[str]:
    return {a for lp in _loops(k) for a in lp.accesses}


def can_layer(k: Kernel) -> bool:
    arrays = layer_arrays(k)
    return bool(k.loops) and sum(layer_counts(k, Precision()).values()) <= LAYER_MAX_OPS and not any(
        a == "?" or a.startswith("axi:") for a in arrays)


def outer_choices(k: Kernel) -> list[int]:
    """0 (the whole kernel one iteration) and each level giving a new iteration count."""
    out, seen = [0], {1}
    for d in range(1, len(pipeline_levels(k)) + 1):
        t = iterations(k, d)
        if t not in seen:
            seen.add(t)
            out.append(d)
    return out


def _unrolled_depth(d: Loop, prec: Precision) -> int:
    """Critical path of loop `d` unrolled, arrays as registers; sub-loops one after another."""
    body = (d.depth_reg if prec.kind == "fixed" else d.depth_reg_f) + sum(_unrolled_depth(c, prec) for c in d.children)
    if (d.carried or d.rec) and d.trip > 1:
        add = max(1, prec.op_cost("fadd")[0])
        if prec.kind == "fixed":  # a balanced tree over the trip's terms (and a non-zero initial value)
            terms = d.trip + (0 if d.zero_init else 1)
            return body + (math.ceil(math.log2(terms)) - 1) * add  # the body holds one level
        return body + (d.trip - 1) * add  # float: the adds stay in order (a chain)
    return body


def layer_depth(k: Kernel, prec: Precision, outer: int = 0) -> int:
    """Critical path of one iteration: the pipelined loop's own ops, then its sub-loops unrolled."""
    if outer == 0:
        return sum(_unrolled_depth(lp, prec) for lp in k.loops)
    lp = pipeline_levels(k)[outer - 1]
    return (lp.depth_reg if prec.kind == "fixed" else lp.depth_reg_f) + sum(_unrolled_depth(c, prec) for c in lp.children)


def layer_latency(k: Kernel, reuse: int, prec: Precision, outer: int = 0) -> int:
    """T iterations at II = R: ``(T - 1) * R + (R - 1) + depth + 1`` (the +1: the output register)."""
    return iterations(k, outer) * reuse + layer_depth(k, prec, outer)


def multipliers(k: Kernel, reuse: int, prec: Precision, outer: int = 0) -> int:
    """Multiplier instances at reuse factor `reuse` (the ALLOCATION limit)."""
    return math.ceil(layer_counts(k, prec, outer).get("fmul", 0) / reuse)


def address_mux_lut(k: Kernel, outer: int, prec: Precision, weights: set[str], wires: set[str] = frozenset()) -> int:
    """Reads whose address depends on the pipelined loops: after unrolling, each distinct read site
    (identical addresses are one) selects among the T_dep words it can address: a mux over
    registers, or a small distributed ROM (64 words a LUT per bit) for a weight array."""
    if outer == 0:
        return 0
    levels = pipeline_levels(k)[:outer]
    pkeys = {lp.key: lp.trip for lp in levels}
    lut = 0

    def visit(d: Loop, trips: dict[str, int]) -> None:
        nonlocal lut
        for a, deps in d.reads:
            t_dep = _prod([pkeys[x] for x in deps if x in pkeys])
            if t_dep > 1:
                sites = _prod([trips[x] for x in deps if x in trips])
                per = prec.width * math.ceil(t_dep / 64) if a in weights else mux_lut(t_dep, prec.width)
                lut += sites * per
        for c in d.children:
            visit(c, {**trips, c.key: c.trip})

    visit(levels[-1], {})
    return lut


def layer_resources(k: Kernel, reuse: int, prec: Precision, control: bool = True, outer: int = 0,
                    weights: set[str] = frozenset()) -> tuple[int, int, int]:
    """(DSP, LUT, FF) of the operators at reuse factor `reuse`, their multiplexers, and the
    pipeline's control (`control=False`: the layer is a stage of the top's one pipeline)."""
    dsp, lut, ff = (0, LOOP_CONTROL[2], LOOP_CONTROL[3]) if control else (0, 0, 0)
    for kind, n in layer_counts(k, prec, outer).items():
        inst = math.ceil(n / reuse)
        _, d, l, f = prec.op_cost(kind)
        # shared R ways: one operand through a multiplexer (the other from a ROM bank or the accumulator)
        mux = mux_lut(math.ceil(n / inst), prec.width) if kind in SHARED_MUX else 0
        dsp, lut, ff = dsp + d * inst, lut + (l + mux) * inst, ff + f * inst
    return dsp, lut + address_mux_lut(k, outer, prec, weights), ff


def layer_partition(k: Kernel, reuse: int, prec: Precision, sizes: dict[str, int], weights: set[str],
                    outer: int = 0) -> dict[str, int]:
    """Cyclic factors the layer needs: intermediates complete (registers); a weight array of S
    words into min(S, M) banks for M multipliers (S banks: constants in the fabric)."""
    m = max(1, multipliers(k, reuse, prec, outer))
    out = {}
    for a in sorted(layer_arrays(k)):
        n = sizes.get(a, 1)
        if n > 1:
            out[a] = min(n, m) if a in weights else n
    return out


def reuse_choices(k: Kernel, prec: Precision, outer: int = 0) -> list[int]:
    """Reuse factors worth offering: for each distinct multiplier count the smallest R giving it,
    from R = 1..16, powers of two, and R = ceil(C / m) for m = 1..64, powers of two and the
    divisors of C (C: the most numerous operator's count per iteration, the MACs of a GEMM)."""
    counts = layer_counts(k, prec, outer)
    c = max(counts.values(), default=1)
    rs = set(range(1, 17)) | {1 << i for i in range(c.bit_length() + 1)}
    ms = set(range(1, 65)) | {1 << i for i in range(c.bit_length())} | {d for d in range(1, math.isqrt(c) + 1) if c % d == 0}
    ms |= {c // d for d in list(ms) if c % d == 0}
    rs |= {math.ceil(c / m) for m in ms}
    best: dict[int, int] = {}
    for r in sorted(x for x in rs if 1 <= x <= c):
        best.setdefault(math.ceil(c / r), r)
    out = sorted(best.values())
    if len(out) > MAX_CHOICES:  # keep both ends and an even spread between
        step = len(out) / MAX_CHOICES
        out = sorted({out[int(i * step)] for i in range(MAX_CHOICES)} | {out[-1]})
    return out


def choice(value) -> tuple[int, int]:
    """(reuse factor, outer levels) of a `pragmas["layers"]` entry: R, or {"reuse": R, "outer": d}."""
    if isinstance(value, dict):
        return int(value["reuse"]), int(value.get("outer", 0))
    return int(value), 0


def layer_pragmas(reuse: int, mults: int, kind: str) -> list[str]:
    """The pipelined loop's pragmas: II = R, the multipliers limited to `mults` (0: no limit)."""
    op = "mul" if kind == "fixed" else "fmul"
    return [f"#pragma HLS PIPELINE II={reuse}"] + (
        [f"#pragma HLS ALLOCATION operation instances={op} limit={mults}"] if mults else [])


def layer_region(body: list[str], reuse: int, mults: int, kind: str, inline: bool, wrap: bool = True) -> list[str]:
    """A layer kernel's body lines: inlined into the top (not under DATAFLOW) and, for the
    whole-kernel choice (`wrap`), one pipelined region: a one-trip loop at II = `reuse`."""
    head = ["#pragma HLS INLINE"] if inline else []
    if not wrap:
        return ["  " + x for x in head] + body
    head += ["layer: for (int hetc_r = 0; hetc_r < 1; hetc_r++) {", *layer_pragmas(reuse, mults, kind)]
    return ["  " + x for x in head] + ["  " + x for x in body] + ["  }"]
