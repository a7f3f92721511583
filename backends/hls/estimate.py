"""Analytic HLS estimates and the pragma search for the HLS C++ target.

The model works on the loop-level IR the printer prints (scf.for / memref / arith /
math after convert-onnx-to-loops), one loop nest at a time:

* latency: a pipelined innermost loop takes ``(ceil(trip / U) - 1) * II + depth + 2``
  cycles, where ``depth`` is the critical path of its body (operator latencies below)
  and ``II = max(1, recurrence, memory-port bound)``: a reduction into one address
  (``acc = acc + x``) is a recurrence of the adder's latency, and an unrolled one
  chains ``U`` adders (HLS keeps float order); an array gives 2 ports per bank, so
  ``a * U`` accesses per iteration need ``ceil(a * U / (2 * P))`` cycles with ``P``
  cyclic banks. Other loops run their body ``trip`` times plus one cycle of loop
  control, except perfect nests over a pipelined innermost loop, which HLS flattens
  into one pipeline; kernels run one after another (no dataflow), plus the m_axi copies of the
  inputs and outputs (one word a cycle and a burst set-up).
* resources: every operator of a pipelined loop body is instantiated ``U`` times
  (no sharing between loops, which over-counts a little); arrays are BRAM_18K blocks
  per bank (512 x 36 bits) unless a bank holds under 1 Kib (then LUTRAM), weights are
  ROMs of the same shape; each m_axi port and the s_axilite control add a fixed cost.

Operator costs are those Vitis HLS reports for float32 (full-DSP cores) and for
``ap_fixed<W,I>`` on UltraScale+ at about 300 MHz; they are estimates, good for
comparing pragma choices, not sign-off numbers (run `run_hls.tcl` for those).

Calibration, plainly: no synthesis has run for this table. Its sources are (a) the
float32 core latencies/DSP counts as Vitis HLS's operator/core characterization lists
them for UltraScale+ (fadd 2 DSP, fmul 3 DSP with full-DSP cores; latencies at ~300 MHz),
written from the authors' knowledge of those reports, not re-measured; (b) for ap_fixed,
one DSP48E2 per 27x18 multiplier tile, ``ceil(W/27) * ceil(W/18)`` DSPs, LUT-only adders
of W LUTs; (c) BRAM_18K as 512 x 36 bits per bank, LUTRAM under 1 Kib. No published
hls4ml or Vitis number has been compared against it here (vendor tools do not run on
this machine, and no cited synthesis report was checked in time); until someone runs
`run_hls.tcl` and fills predicted-vs-synthesized in benchmarks/RESULTS.md, treat every
estimate as relative (pragma A vs pragma B), not absolute.

Arrays partitioned completely are registers (``n * W`` FF), and weight ROMs partitioned
completely are constants folded into the operators (nothing; allowed only where every reader
is an unrolled nest or layer); a one-element array is a register; the inputs of a "core"
design (no m_axi, `Design.wires`) are ports. hls4ml_model.py counts hls4ml's arrays the same way.

The pragma search picks, per innermost loop, an unroll factor, or a full unroll with
the PIPELINE moved to its parent ("hoist"; array partitioning of the arrays the loop
walks follows: cyclic, factor = U or the trip count), or per outer loop a whole pipelined
nest (nest.py), or per kernel a layer (layer.py: the kernel inlined and pipelined at a reuse
factor R over its first d loops, multipliers = MACs per iteration / R; every kernel a layer
makes the top one pipeline), minimizing the model's latency under the part's resources
(CP-SAT: one choice per loop and kernel, one partition per array, time limit and seed; the
default, pipeline II=1 and no unroll, is its fallback).
"""

from __future__ import annotations

import math as pymath
from collections import Counter
from dataclasses import dataclass, field

from xdsl.dialects import arith, func, math, memref, scf
from xdsl.dialects.builtin import IndexType, ModuleOp
from xdsl.ir import Block, SSAValue

from hetc.backends.cfamily.printer import _trip_count

#: resource totals from the vendors' data sheets (BRAM in 18 Kb blocks, as HLS counts them)
PARTS: dict[str, dict] = {
    "u280": {
        "name": "Alveo U280",
        "device": "xcu280-fsvh2892-2L-e",
        "clock_mhz": 300,
        "dsp": 9024, "bram": 4032, "lut": 1303680, "ff": 2607360, "uram": 960,
    },
    "zcu104": {
        "name": "Zynq UltraScale+ ZCU104 (XCZU7EV)",
        "device": "xczu7ev-ffvc1156-2-e",
        "clock_mhz": 200,
        "dsp": 1728, "bram": 624, "lut": 230400, "ff": 460800, "uram": 96,
    },
}
PART_ALIASES = {"alveo-u280": "u280", "xcu280": "u280", "xczu7ev": "zcu104", "zcu104": "zcu104", "u280": "u280"}

#: share of the part the search may fill (routing and the shell need the rest)
UTILIZATION = 0.8
#: the unroll factors the search considers (those dividing the trip count, or the whole loop)
UNROLLS = (1, 2, 4, 8, 16, 32, 64)

#: (latency cycles, DSP, LUT, FF) per float32 operator
FLOAT_OPS = {
    "fadd": (5, 2, 227, 214), "fmul": (4, 3, 128, 143), "fdiv": (12, 0, 780, 1300),
    "sqrt": (12, 0, 500, 800), "exp": (10, 7, 900, 950), "log": (12, 10, 1300, 1200),
    "tanh": (20, 9, 1800, 1900), "erf": (20, 10, 2000, 2000), "pow": (20, 15, 2500, 2500),
    "fcmp": (1, 0, 66, 10), "select": (0, 0, 32, 0), "cast": (3, 0, 150, 150),
    "trig": (20, 8, 2000, 2000), "int": (1, 0, 40, 20), "load": (2, 0, 0, 0), "store": (1, 0, 0, 0),
}
LOOP_CONTROL = (0, 0, 60, 70)
KERNEL_CONTROL = (0, 0, 150, 120)
#: (BRAM, LUT, FF) of one m_axi adapter, and of the s_axilite control port
MAXI = (2, 1500, 2200)
AXILITE = (0, 300, 400)
MAXI_BURST_SETUP = 64
#: operand width up to which a multiplier is built from LUTs rather than a DSP (the rule hls4ml's docs give)
LUT_MULT_MAX_BITS = 10


@dataclass(frozen=True)
class Precision:
    """float32, or ap_fixed<width, integer bits> for every layer."""

    kind: str = "float"
    width: int = 32
    integer: int = 0

    @staticmethod
    def parse(text: str) -> "Precision":
        text = text.strip().replace(" ", "")
        if text in ("float", "float32", "f32"):
            return Precision()
        if text.startswith("ap_fixed<") and text.endswith(">"):
            w, i = (int(x) for x in text[len("ap_fixed<") : -1].split(","))
            if not (1 <= i <= w <= 64):
                raise ValueError(f"bad fixed-point precision {text}: need 1 <= I <= W <= 64")
            return Precision("fixed", w, i)
        raise ValueError(f"unknown precision '{text}' (float or ap_fixed<W,I>)")

    def __str__(self) -> str:
        return "float" if self.kind == "float" else f"ap_fixed<{self.width},{self.integer}>"

    def of(self, kernel: str) -> "Precision":
        """The precision of a kernel (one for all here; per layer in precision.LayerPrecision)."""
        return self

    def array_width(self, array: str) -> int:
        return self.width

    def op_cost(self, kind: str) -> tuple[int, int, int, int]:
        if self.kind == "float":
            return FLOAT_OPS[kind]
        w = self.width
        if kind == "fadd":
            return (1, 0, w, w)
        if kind == "fmul":  # DSP48E2 tiles of 27x18; narrow products in LUTs (Vitis' default binding)
            dsp = 0 if w <= LUT_MULT_MAX_BITS else pymath.ceil(w / 27) * pymath.ceil(w / 18)
            return (2 if w <= 18 else 3, dsp, 20 if dsp else w * w // 2, 2 * w)
        if kind == "fdiv":
            return (w + 4, 0, w * w // 2, w * w)
        if kind in ("fcmp", "select"):
            return (0 if kind == "select" else 1, 0, w, 0)
        return FLOAT_OPS[kind]  # math functions: float cores behind a conversion


def resolve_part(name: str) -> tuple[str, dict]:
    key = PART_ALIASES.get(name.lower(), name.lower())
    if key not in PARTS:
        raise KeyError(f"unknown FPGA part '{name}' (known: {', '.join(sorted(PARTS))})")
    return key, PARTS[key]


# -- analysis of the loop-level IR ---------------------------------------------------------------


@dataclass
class Loop:
    key: str  # "<kernel>/L<ordinal>", the same numbering the printer uses
    trip: int
    children: list["Loop"] = field(default_factory=list)
    ops: Counter = field(default_factory=Counter)
    depth: int = 0  # critical path of the body's own ops, cycles
    rec: int = 0  # recurrence through memory (a carried dependence), cycles; 0: none
    walks: Counter = field(default_factory=Counter)  # array -> accesses per iteration varying with the index
    mult: int = 1  # iterations of the enclosing loops
    flat: int = 1  # innermost loops: iterations of the perfect nest above it that HLS flattens into it
    parent: "Loop | None" = field(default=None, repr=False)
    accesses: Counter = field(default_factory=Counter)  # array -> loads/stores in the body (children excluded)
    carried: bool = False  # an iteration reads what an earlier one stored (a reduction), locals of the body aside
    depth_fx: int = 0  # `depth` and `rec` with the fixed-point operator latencies
    rec_fx: int = 0
    depth_reg: int = 0  # `depth_fx` with arrays as registers (complete partitioning): loads/stores take no cycle
    depth_reg_f: int = 0  # `depth_reg` with the float32 operator latencies
    zero_init: bool = False  # a reduction whose accumulator the parent sets to the constant 0 just before it
    reads: list = field(default_factory=list)  # (array, keys of the loops its address depends on) per load

    @property
    def innermost(self) -> bool:
        return not self.children


@dataclass
class Kernel:
    name: str
    loops: list[Loop]  # top-level loop nests
    ops: Counter  # ops outside any loop
    arrays: dict[str, int]  # local (alloca) arrays: name -> elements


@dataclass
class Design:
    kernels: list[Kernel]
    arrays: dict[str, int]  # every on-chip array (intermediates, weights, locals): name -> elements
    weights: set[str]
    io_words: int  # words moved over m_axi per run (inputs + outputs)
    io_ports: int
    axi: set[str] = field(default_factory=set)  # weights read from DDR through m_axi (not on chip)
    sizes: dict[str, int] = field(default_factory=dict)  # array sizes where `arrays` leaves some out (the search's parts)
    wires: set[str] = field(default_factory=set)  # inputs that are ports, not copies (a core design, as hls4ml's top)


def op_kind(op) -> str | None:
    if isinstance(op, (arith.ConstantOp, scf.YieldOp, func.ReturnOp, memref.AllocaOp)):
        return None
    if isinstance(op, memref.LoadOp):
        return "load"
    if isinstance(op, memref.StoreOp):
        return "store"
    if op.results and isinstance(op.results[0].type, IndexType) or isinstance(op, arith.IndexCastOp):
        return None  # address arithmetic: folded into the access
    if isinstance(op, (arith.AddfOp, arith.SubfOp, arith.NegfOp)):
        return "fadd"
    if isinstance(op, arith.MulfOp):
        return "fmul"
    if isinstance(op, arith.DivfOp):
        return "fdiv"
    if isinstance(op, (arith.CmpfOp, arith.MaximumfOp, arith.MinimumfOp)):
        return "fcmp"
    if isinstance(op, arith.SelectOp):
        return "select"
    if isinstance(op, (math.ExpOp,)):
        return "exp"
    if isinstance(op, (math.LogOp,)):
        return "log"
    if isinstance(op, math.SqrtOp):
        return "sqrt"
    if isinstance(op, math.TanhOp):
        return "tanh"
    if isinstance(op, math.ErfOp):
        return "erf"
    if isinstance(op, math.PowFOp):
        return "pow"
    if isinstance(op, (math.SinOp, math.CosOp)):
        return "trig"
    if isinstance(op, (arith.SIToFPOp, arith.FPToSIOp, arith.UIToFPOp, arith.FPToUIOp, arith.ExtFOp, arith.TruncFOp)):
        return "cast"
    return "int"


def loop_keys(fn: func.FuncOp) -> dict[scf.ForOp, str]:
    """Every loop of a kernel, numbered in walk order (the printer and the model agree)."""
    name = fn.sym_name.data
    return {op: f"{name}/L{i}" for i, op in enumerate(o for o in fn.walk() if isinstance(o, scf.ForOp))}


class _KernelAnalysis:
    def __init__(self, fn: func.FuncOp, array_of) -> None:
        self.fn = fn
        self.keys = loop_keys(fn)
        self.array_of = array_of  # memref SSA value -> array name
        self.iv_key: dict[SSAValue, str] = {}
        self._deps: dict[SSAValue, frozenset] = {}

    def deps(self, v: SSAValue) -> frozenset:
        """Keys of the loops whose induction variables `v` is computed from."""
        if v not in self._deps:
            if v in self.iv_key:
                self._deps[v] = frozenset([self.iv_key[v]])
            elif isinstance(v.owner, Block):
                self._deps[v] = frozenset()
            else:
                self._deps[v] = frozenset().union(*(self.deps(x) for x in v.owner.operands))
        return self._deps[v]

    def loop(self, op: scf.ForOp, mult: int) -> Loop:
        trip = _trip_count(op)
        lp = Loop(self.keys[op], trip, mult=mult)
        self.iv_key[op.body.block.args[0]] = lp.key
        lp.carried = _carried(op, self.array_of)
        iv = op.body.block.args[0]
        varying = {iv}
        ready: dict[SSAValue, int] = {}
        ready_fx: dict[SSAValue, int] = {}
        ready_reg: dict[SSAValue, int] = {}
        ready_rf: dict[SSAValue, int] = {}
        prec, fx = Precision(), Precision("fixed", 16, 6)
        zeroed: set = set()  # allocas set to the constant 0 in this body (a reduction's accumulator)
        for inner in op.body.block.ops:
            if isinstance(inner, scf.ForOp):
                child = self.loop(inner, mult * trip)
                child.parent = lp
                child.zero_init = child.carried and any(
                    isinstance(o, memref.LoadOp) and o.memref in zeroed for o in inner.walk())
                lp.children.append(child)
                continue
            if isinstance(inner, memref.StoreOp) and isinstance(inner.memref.owner, memref.AllocaOp) and isinstance(
                    inner.value.owner, arith.ConstantOp) and getattr(inner.value.owner.value, "value", None) is not None \
                    and inner.value.owner.value.value.data == 0.0:
                zeroed.add(inner.memref)
            if any(x in varying for x in inner.operands):
                varying.update(inner.results)
            kind = op_kind(inner)
            if kind is None:
                continue
            lp.ops[kind] += 1
            start = max((ready.get(x, 0) for x in inner.operands), default=0)
            lat = prec.op_cost(kind)[0]
            for r in inner.results:
                ready[r] = start + lat
            lp.depth = max(lp.depth, start + lat)
            start_fx = max((ready_fx.get(x, 0) for x in inner.operands), default=0)
            for r in inner.results:
                ready_fx[r] = start_fx + fx.op_cost(kind)[0]
            lp.depth_fx = max(lp.depth_fx, start_fx + fx.op_cost(kind)[0])
            lat_reg = 0 if kind in ("load", "store") else fx.op_cost(kind)[0]
            start_reg = max((ready_reg.get(x, 0) for x in inner.operands), default=0)
            for r in inner.results:
                ready_reg[r] = start_reg + lat_reg
            lp.depth_reg = max(lp.depth_reg, start_reg + lat_reg)
            lat_rf = 0 if kind in ("load", "store") else lat
            start_rf = max((ready_rf.get(x, 0) for x in inner.operands), default=0)
            for r in inner.results:
                ready_rf[r] = start_rf + lat_rf
            lp.depth_reg_f = max(lp.depth_reg_f, start_rf + lat_rf)
            if isinstance(inner, memref.LoadOp):
                lp.reads.append((self.array_of(inner.memref), frozenset().union(*(self.deps(x) for x in inner.indices))))
            if isinstance(inner, (memref.LoadOp, memref.StoreOp)):
                lp.accesses[self.array_of(inner.memref)] += 1
                if any(x in varying for x in inner.indices):
                    lp.walks[self.array_of(inner.memref)] += 1
        # a store to an address fixed in this loop that the loop also reads: a carried dependence
        if not lp.children:
            loads = {self.array_of(o.memref) for o in op.body.block.ops if isinstance(o, memref.LoadOp)}
            for o in op.body.block.ops:
                if isinstance(o, memref.StoreOp) and not any(x in varying for x in o.indices):
                    if self.array_of(o.memref) in loads:
                        lp.rec = max(lp.rec, ready.get(o.value, 0) + 1)
                        lp.rec_fx = max(lp.rec_fx, ready_fx.get(o.value, 0) + 1)
        return lp


def _carried(op: scf.ForOp, array_of) -> bool:
    """Does an iteration of `op` read what an earlier one stored? A store anywhere in its body
    whose address does not depend on its index, to an array the body also reads and that is not
    allocated inside the body (a fresh copy per iteration)."""
    iv = op.body.block.args[0]
    memo: dict[SSAValue, bool] = {}

    def depends(v: SSAValue) -> bool:
        if v not in memo:
            memo[v] = False
            owner = v.owner
            memo[v] = v is iv or (not isinstance(owner, Block) and any(depends(x) for x in owner.operands))
        return memo[v]

    inside = {o.results[0] for o in op.walk() if isinstance(o, memref.AllocaOp)}
    loaded = {array_of(o.memref) for o in op.walk() if isinstance(o, memref.LoadOp) and o.memref not in inside}
    return any(isinstance(o, memref.StoreOp) and o.memref not in inside and array_of(o.memref) in loaded
               and not any(depends(x) for x in o.indices) for o in op.walk())


def host_roots(main: func.FuncOp) -> tuple[dict[SSAValue, tuple[str, int]], dict[str, int], set[str]]:
    """memref value of @main -> (top-level array name, element offset); array sizes; weights."""
    import numpy as np

    n_in = len(main.attributes["hetc.input_names"].data)
    roots: dict[SSAValue, tuple[str, int]] = {}
    sizes: dict[str, int] = {}
    weights: set[str] = set()
    for i, a in enumerate(main.body.block.args):
        name = f"in{i}" if i < n_in else f"out{i - n_in}"
        roots[a] = (name, 0)
        sizes[name] = int(np.prod(a.type.get_shape(), dtype=np.int64))
    counter = 0
    for op in main.body.block.ops:
        if isinstance(op, memref.AllocOp):
            counter += 1
            roots[op.memref] = (f"t{counter}", 0)
            sizes[f"t{counter}"] = int(np.prod(op.memref.type.get_shape(), dtype=np.int64))
        elif isinstance(op, memref.GetGlobalOp):
            gname = "w_" + "".join(c if c.isalnum() else "_" for c in op.name_.root_reference.data)
            roots[op.memref] = (gname, 0)
            sizes[gname] = int(np.prod(op.memref.type.get_shape(), dtype=np.int64))
            weights.add(gname)
        elif isinstance(op, memref.ReinterpretCastOp):
            src, off = roots[op.source]
            roots[op.result] = (src, off + op.static_offsets.get_values()[0])
    return roots, sizes, weights


def analyze(module: ModuleOp, axi_weights: bool = False) -> Design:
    """The loop nests, arrays and I/O of a module lowered by convert-onnx-to-loops.
    `axi_weights`: float weights are read through an m_axi port (one word a cycle, no
    partitioning, no BRAM); loops see them as arrays named "axi:<name>"."""
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    fns = {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp) and op is not main}
    roots, sizes, weights = host_roots(main)
    float_weights = {
        roots[op.memref][0] for op in main.walk()
        if isinstance(op, memref.GetGlobalOp) and op.memref.type.get_element_type().name == "f32"
    }

    def _array_name(root: str, value) -> str:
        return f"axi:{root}" if axi_weights and root in float_weights else root

    n_in = len(main.attributes["hetc.input_names"].data)
    io_words = sum(sizes[f"in{i}"] for i in range(n_in)) + sum(
        sizes[f"out{i}"] for i in range(len(main.body.block.args) - n_in)
    )
    arrays = dict(sizes)
    kernels = []
    seen = set()
    for call in (op for op in main.body.block.ops if isinstance(op, func.CallOp)):
        name = call.callee.root_reference.data
        if name in seen:
            continue
        seen.add(name)
        fn = fns[name]
        params = {arg: _array_name(roots[a][0], a) for arg, a in zip(fn.body.block.args, call.arguments)}
        local: dict[SSAValue, str] = {}
        for i, op in enumerate(o for o in fn.walk() if isinstance(o, memref.AllocaOp)):
            local[op.results[0]] = f"{name}/a{i}"
            arrays[f"{name}/a{i}"] = max(1, int(pymath.prod(op.results[0].type.get_shape())))
        ka = _KernelAnalysis(fn, lambda v: params.get(v) or local.get(v, "?"))
        loops, ops = [], Counter()
        for op in fn.body.block.ops:
            if isinstance(op, scf.ForOp):
                loops.append(ka.loop(op, 1))
            else:
                k = op_kind(op)
                if k:
                    ops[k] += 1
        kernels.append(Kernel(name, loops, ops, {v: arrays[v] for v in local.values()}))
    for k in kernels:
        for lp in k.loops:
            _mark_flattened(lp, 1)
    axi = {w for w in weights if axi_weights and w in float_weights}
    for w in axi:
        arrays.pop(w)
    return Design(kernels, arrays, weights, io_words + 0, n_in + len(main.body.block.args) - n_in + (1 if axi else 0), axi)


def _perfect(lp: Loop) -> bool:
    return len(lp.children) == 1 and not lp.ops


def flattened_inner(lp: Loop) -> Loop | None:
    """The innermost loop a perfect nest starting at `lp` ends in (Vitis flattens such a nest
    into one pipeline when its innermost loop is pipelined), or None."""
    while _perfect(lp):
        lp = lp.children[0]
    return lp if lp.innermost else None


def _mark_flattened(lp: Loop, outer: int) -> None:
    """Record on innermost loops how many iterations of perfect ancestors flatten into them."""
    if lp.innermost:
        lp.flat = outer
        return
    for c in lp.children:
        _mark_flattened(c, outer * lp.trip if _perfect(lp) else 1)


def all_loops(design: Design):
    def rec(lp):
        yield lp
        for c in lp.children:
            yield from rec(c)

    for k in design.kernels:
        for lp in k.loops:
            yield from rec(lp)


# -- the model ---------------------------------------------------------------------------------------


def unroll_choices(lp: Loop) -> list[int]:
    return [u for u in UNROLLS if u <= lp.trip and lp.trip % u == 0] or [1]


def ports(arr: str, partition: dict[str, int]) -> int:
    """Accesses per cycle: 2 per BRAM bank; one word a cycle from an m_axi port."""
    return 1 if arr.startswith("axi:") else 2 * partition.get(arr, 1)


def pipelined_latency(lp: Loop, u: int, partition: dict[str, int], prec: Precision) -> tuple[int, int]:
    """(cycles of one execution of an innermost pipelined loop, its II) at unroll `u`."""
    rec = op_rec(lp, prec)
    if rec:
        rec = rec + (u - 1) * prec.op_cost("fadd")[0]  # U chained adds per iteration
    port = max((pymath.ceil(a * u / ports(arr, partition)) for arr, a in lp.walks.items()), default=1)
    ii = max(1, rec, port)
    iters = pymath.ceil(lp.trip / u) * lp.flat
    depth = op_depth(lp, prec) + (pymath.ceil(pymath.log2(u)) if u > 1 else 0)
    return (iters - 1) * ii + depth + 2, ii


def op_depth(lp: Loop, prec: Precision) -> int:
    """Critical path of the loop body's own ops at `prec`'s operator latencies."""
    return lp.depth_fx if prec.kind == "fixed" else lp.depth


def op_rec(lp: Loop, prec: Precision) -> int:
    return lp.rec_fx if prec.kind == "fixed" else lp.rec


#: innermost loops up to this trip count may be unrolled fully under a pipelined parent
MAX_HOIST_TRIP = 64


def can_hoist(lp: Loop) -> bool:
    """Innermost `lp` can be fully unrolled with the PIPELINE moved to its parent: the parent
    has no other loop, and is not a perfect nest (that one HLS flattens anyway)."""
    p = lp.parent
    return lp.innermost and p is not None and p.children == [lp] and bool(p.ops) and 1 < lp.trip <= MAX_HOIST_TRIP


def hoisted_latency(parent: Loop, partition: dict[str, int], prec: Precision, flat: int = 1) -> int:
    """Cycles of one execution of `parent` pipelined at II=1 with its innermost child unrolled
    fully; `flat` iterations of the perfect nest above it flatten into that pipeline."""
    lp = parent.children[0]
    port = max((pymath.ceil(a * lp.trip / ports(arr, partition)) for arr, a in lp.walks.items()), default=1)
    rec = op_rec(lp, prec)
    inner_depth = rec * lp.trip if rec else op_depth(lp, prec) + pymath.ceil(pymath.log2(lp.trip))
    return (parent.trip * flat - 1) * max(1, port) + op_depth(parent, prec) + inner_depth + 2


def perfect_above(lp: Loop) -> int:
    """Iterations of the perfect nest directly above `lp` (Vitis flattens it into a pipelined `lp`)."""
    n, p = 1, lp.parent
    while p is not None and _perfect(p):
        n, p = n * p.trip, p.parent
    return n


def serial_latency(parent: Loop, child_cycles: int, prec: Precision | None = None) -> int:
    return parent.trip * (op_depth(parent, prec or Precision()) + child_cycles + 1) + 1


def loop_resources(lp: Loop, u: int, prec: Precision) -> tuple[int, int, int]:
    dsp = lut = ff = 0
    for kind, n in lp.ops.items():
        _, d, l, f = prec.op_cost(kind)
        dsp += d * n * u
        lut += l * n * u
        ff += f * n * u
    return dsp, lut + LOOP_CONTROL[2], ff + LOOP_CONTROL[3]


def mux_lut(sources: int, width: int) -> int:
    """LUTs of a `sources`:1 multiplexer of `width` bits: a tree of 4:1 muxes, one 6-input LUT each
    per bit (what an operator shared over `sources` operands needs in front of one input)."""
    return width * pymath.ceil((sources - 1) / 3) if sources > 1 else 0


def array_bram(elements: int, banks: int, width: int) -> tuple[int, int]:
    """(BRAM_18K, LUT) of an array in `banks` cyclic banks of `width`-bit words."""
    depth = pymath.ceil(elements / banks)
    if depth * width <= 1024:  # LUTRAM
        return 0, banks * pymath.ceil(depth * width / 64)
    return banks * pymath.ceil(width / 36) * pymath.ceil(depth / 512), (banks * width // 2 if banks > 1 else 0)


def array_cost(design: Design, arr: str, banks: int, width: int) -> tuple[int, int, int]:
    """(BRAM_18K, LUT, FF) of an on-chip array in `banks` cyclic banks. Partitioned completely it
    is registers (FF), or, for a weight ROM, constants that synthesis folds into the operators
    (nothing: hls4ml_model.py counts hls4ml's completely partitioned weights the same way)."""
    n = (design.sizes or design.arrays).get(arr, design.arrays.get(arr, 1))
    if arr in design.wires:  # the top's input port itself: no storage
        return 0, 0, 0
    if n == 1 and arr not in design.weights:  # a scalar (an accumulator) is a register
        return 0, 0, width
    if n > 1 and banks >= n:
        return (0, 0, 0) if arr in design.weights else (0, 0, n * width)
    b, lut = array_bram(n, banks, width)
    return b, lut, 0


def is_top_pipeline(design: Design, layers: dict, dataflow: bool) -> bool:
    """Every kernel is a whole-kernel layer (layer.py, d = 0: a pipelined loop inside a pipelined
    top would be unrolled) and there is no DATAFLOW: the top is one pipeline."""
    from hetc.backends.hls.layer import choice

    return not dataflow and bool(design.kernels) and not design.sizes and all(
        k.name in layers and choice(layers[k.name])[1] == 0 for k in design.kernels)


def is_intermediate(design: Design, arr: str) -> bool:
    """An array passed between kernels of the top (t<k>): a ping-pong buffer under DATAFLOW."""
    return arr.startswith("t") and arr[1:].isdigit()


def default_pragmas(design: Design) -> dict:
    return {"unroll": {lp.key: 1 for lp in all_loops(design) if lp.innermost}, "hoist": [], "partition": {}}


def _chain(lp: Loop) -> list[Loop]:
    out = [lp]
    while _perfect(lp):
        lp = lp.children[0]
        out.append(lp)
    return out


def estimate(design: Design, pragmas: dict, part: dict, prec: Precision, dataflow: bool = False) -> dict:
    """The model's latency and resources for `pragmas` ({"unroll": {loop: U}, "partition": {array: P}}).

    Stages are the kernels and the m_axi copies of the I/O (one stage). Without DATAFLOW they run
    one after another: interval = latency = their sum. With `#pragma HLS DATAFLOW` over them,
    intermediates become ping-pong buffers (twice the memory) and a new input can enter every
    max-stage cycles: interval = the largest stage, latency still the sum (one input's path)."""
    unroll, partition, hoist = pragmas["unroll"], pragmas.get("partition", {}), set(pragmas.get("hoist", ()))
    nests = set(pragmas.get("pipeline", ()))  # loops pipelined with everything below unrolled
    layers = pragmas.get("layers", {})  # kernel -> R or {"reuse": R, "outer": d}: the kernel as a layer (layer.py)
    dsp, lut, ff, bram = 0, 0, 0, 0
    cycles = 0
    kp = prec

    def run(lp: Loop) -> int:
        nonlocal dsp, lut, ff
        chain = _chain(lp)
        for i, c in enumerate(chain):  # a whole nest pipelined (nest.py); the perfect levels above flatten into it
            if c.key in nests:
                from hetc.backends.hls.nest import nest_latency, nest_resources

                d, l, f = nest_resources(c, kp)
                dsp, lut, ff = dsp + d, lut + l, ff + f
                return nest_latency(c, partition, kp, pymath.prod(x.trip for x in chain[:i]) if i else perfect_above(c),
                                    design.sizes or design.arrays)
        last = chain[-1]
        hoisted = len(last.children) == 1 and last.children[0].key in hoist
        if len(chain) > 1 and (last.innermost or hoisted):
            for c in chain[:-1]:  # loop control of the levels flattened into the pipeline below
                lut, ff = lut + LOOP_CONTROL[2], ff + LOOP_CONTROL[3]
            if last.innermost:
                return run(last)
            d, l, f = loop_resources(last, 1, kp)
            child = last.children[0]
            d2, l2, f2 = loop_resources(child, child.trip, kp)
            dsp, lut, ff = dsp + d + d2, lut + l + l2, ff + f + f2
            return hoisted_latency(last, partition, kp, perfect_above(last))
        if lp.innermost:
            u = unroll.get(lp.key, 1)
            d, l, f = loop_resources(lp, u, kp)
            dsp, lut, ff = dsp + d, lut + l, ff + f
            return pipelined_latency(lp, u, partition, kp)[0]
        d, l, f = loop_resources(lp, 1, kp)
        dsp, lut, ff = dsp + d, lut + l, ff + f
        if len(lp.children) == 1 and lp.children[0].key in hoist:
            child = lp.children[0]
            d, l, f = loop_resources(child, child.trip, kp)
            dsp, lut, ff = dsp + d, lut + l, ff + f
            return hoisted_latency(lp, partition, kp)
        return serial_latency(lp, sum(run(c) for c in lp.children), kp)

    stages: list[int] = []
    # every kernel a layer (no DATAFLOW): the top is one pipeline, with one control
    top_pipe = is_top_pipeline(design, layers, dataflow)
    if top_pipe:
        lut, ff = lut + LOOP_CONTROL[2], ff + LOOP_CONTROL[3]
    for k in design.kernels:
        kp = prec.of(k.name)  # run() reads it: the kernel's precision (per-layer fixed point)
        if k.name in layers:  # inlined into the top (a function call under DATAFLOW: its processes)
            from hetc.backends.hls.layer import choice, layer_latency, layer_resources

            r, outer = choice(layers[k.name])
            d, l, f = layer_resources(k, r, kp, control=not top_pipe, outer=outer, weights=design.weights)
            dsp, lut, ff = dsp + d, lut + l, ff + f
            stages.append(layer_latency(k, r, kp, outer) + (2 if dataflow else 0))
            cycles += stages[-1]
            if dataflow:
                lut, ff = lut + KERNEL_CONTROL[2], ff + KERNEL_CONTROL[3]
            continue
        stages.append(sum(run(lp) for lp in k.loops) + 2)
        cycles += stages[-1]
        lut += KERNEL_CONTROL[2]
        ff += KERNEL_CONTROL[3]
    for arr, n in design.arrays.items():  # all on chip: intermediates, ROMs, locals, the copies of the I/O
        if "/" in arr and arr.split("/")[0] in layers:
            continue  # a layer's accumulators are its adder trees (the adds' registers are counted)
        b, l, f = array_cost(design, arr, partition.get(arr, 1), prec.array_width(arr))
        pingpong = 2 if dataflow and is_intermediate(design, arr) else 1
        bram, lut, ff = bram + pingpong * b, lut + pingpong * l, ff + pingpong * f
    io = design.io_words + design.io_ports * MAXI_BURST_SETUP
    cycles += io
    if io:
        stages.append(io)
    if design.io_ports:  # the m_axi interface and its s_axilite control (none in a core design)
        bram += design.io_ports * MAXI[0] + AXILITE[0]
        lut += design.io_ports * MAXI[1] + AXILITE[1]
        ff += design.io_ports * MAXI[2] + AXILITE[2]
    interval = max(stages, default=cycles) if dataflow else cycles
    if top_pipe:  # a new input every max R cycles (and no faster than the m_axi copies)
        from hetc.backends.hls.layer import choice

        interval = max([choice(v)[0] for v in layers.values()] + ([io] if io else []))
    return {"latency_cycles": int(cycles), "dsp": int(dsp), "bram": int(bram), "lut": int(lut), "ff": int(ff),
            "latency_us": round(cycles / part["clock_mhz"], 3), "interval_cycles": int(interval),
            "dataflow": dataflow,
            "fits": bool(dsp <= part["dsp"] and bram <= part["bram"] and lut <= part["lut"] and ff <= part["ff"])}


# -- the search ----------------------------------------------------------------------------------------


def search_pragmas(design: Design, part: dict, prec: Precision, *, time_limit: float = 5.0, seed: int = 0,
                   caps: dict[str, int] | None = None, dataflow: bool = False,
                   allow_layers: bool = True) -> tuple[dict, dict]:
    """Unroll factor per innermost loop (and the cyclic partitions they need) minimizing the
    model's latency within UTILIZATION of the part, and within `caps` ({"dsp": n, "lut": n,
    "ff": n, "bram": n}, totals; e.g. another design's resources) where given. With `dataflow`
    the objective is the interval (the largest stage: kernel or m_axi copies) first, then the latency.
    Returns (pragmas, solver info)."""
    inner = [lp for lp in all_loops(design) if lp.innermost]
    base = default_pragmas(design)
    try:
        from ortools.sat.python import cp_model
    except ImportError:  # the default pragmas, said so in the report
        return base, {"solver": "none", "status": "no solver: ortools is not installed (default pragmas)",
                      "time_limit_s": time_limit, "seed": seed, "loops": len(inner),
                      "fallback": "default pragmas (ortools is not installed)"}  # fmt: skip
    m = cp_model.CpModel()
    x = {(lp.key, u): m.NewBoolVar(f"x_{lp.key}_{u}") for lp in inner for u in unroll_choices(lp)}
    h = {lp.key: m.NewBoolVar(f"h_{lp.key}") for lp in inner if can_hoist(lp)}
    for lp in inner:
        m.AddExactlyOne([x[lp.key, u] for u in unroll_choices(lp)] + ([h[lp.key]] if lp.key in h else []))
    # whole nests pipelined (nest.py): everything below unrolled, so no other choice below, one per path
    from hetc.backends.hls.nest import can_pipeline_nest, complete_partition, subtree

    nests = [lp for lp in all_loops(design) if can_pipeline_nest(lp)]
    z = {p.key: m.NewBoolVar(f"z_{p.key}") for p in nests}
    for p in nests:
        for d, _ in subtree(p)[1:]:
            if d.innermost:
                m.AddImplication(z[p.key], x[d.key, 1])
            if d.key in z:
                m.AddBoolOr([z[p.key].Not(), z[d.key].Not()])
    # candidate partitions of each array: the unroll factors of the loops walking it
    cand: dict[str, set[int]] = {}
    for lp in inner:
        for arr in lp.walks:
            if arr != "?" and not arr.startswith("axi:"):
                cand.setdefault(arr, {1}).update(unroll_choices(lp))
                if lp.key in h:
                    cand[arr].add(lp.trip)
    nest_parts = {p.key: complete_partition(p, design.arrays) for p in nests}
    for parts in nest_parts.values():
        for a, n in parts.items():
            cand.setdefault(a, {1}).add(n)
    # whole kernels as layers at a reuse factor (layer.py): nothing else chosen inside them
    from hetc.backends.hls.layer import can_layer, layer_partition, outer_choices, reuse_choices

    sizes = design.sizes or design.arrays
    layer_kernels = [k for k in design.kernels if not design.sizes and can_layer(k)] if allow_layers else []
    # one choice per (kernel, R, pipelined outer levels d): d = 0 is the whole kernel one iteration
    lv = {(k.name, r, d): m.NewBoolVar(f"l_{k.name}_{r}_{d}") for k in layer_kernels for d in outer_choices(k)
          for r in reuse_choices(k, prec.of(k.name), d)}
    layer_parts = {key: layer_partition(next(k for k in layer_kernels if k.name == key[0]), key[1], prec.of(key[0]),
                                        sizes, design.weights, key[2]) for key in lv}
    for parts in layer_parts.values():
        for a, n in parts.items():
            if a in design.arrays:
                cand.setdefault(a, {1}).add(n)
    for k in layer_kernels:
        mine = [v for (kn, _, _), v in lv.items() if kn == k.name]
        m.AddAtMostOne(mine)
        prefix = k.name + "/"
        for lp in inner:
            if lp.key.startswith(prefix):
                for v in mine:
                    m.AddImplication(v, x[lp.key, 1])
                    if lp.key in h:
                        m.AddImplication(v, h[lp.key].Not())
        for key, zv in z.items():
            if key.startswith(prefix):
                for v in mine:
                    m.AddBoolOr([v.Not(), zv.Not()])
    y = {(a, p): m.NewBoolVar(f"y_{a}_{p}") for a, ps in cand.items() for p in ps}
    for a, ps in cand.items():
        m.AddExactlyOne(y[a, p] for p in ps)
    for lp in inner:
        for u in unroll_choices(lp):
            if u > 1:
                for arr in lp.walks:
                    if arr in cand:
                        m.AddBoolOr([y[arr, p] for p in cand[arr] if p >= u]).OnlyEnforceIf(x[lp.key, u])
        if lp.key in h:
            for arr in lp.walks:
                if arr in cand:
                    m.AddBoolOr([y[arr, p] for p in cand[arr] if p >= lp.trip]).OnlyEnforceIf(h[lp.key])
    # costs: everything with the default pragmas, then the changes per choice
    ref = estimate(design, base, part, prec)
    lat_terms, res_terms = [], {"dsp": [], "lut": [], "ff": [], "bram": []}
    lat_kernel: list[str] = []  # the kernel (dataflow stage) of each latency term
    fixed = dict(ref)
    for lp in inner:
        lpp = prec.of(lp.key.split("/")[0])  # the loop's kernel's precision (per-layer fixed point)
        part_u = {arr: u for arr in lp.walks}
        l1, _ = pipelined_latency(lp, 1, {}, lpp)
        r1 = loop_resources(lp, 1, lpp)
        for u in unroll_choices(lp):
            lu, _ = pipelined_latency(lp, u, part_u, lpp)
            lat_terms.append((lp.mult // lp.flat * (lu - l1), x[lp.key, u]))
            lat_kernel.append(lp.key.split("/")[0])
            ru = loop_resources(lp, u, lpp)
            for i, r in enumerate(("dsp", "lut", "ff")):
                res_terms[r].append((ru[i] - r1[i], x[lp.key, u]))
        if lp.key in h:
            par = lp.parent
            base_cycles = serial_latency(par, l1, lpp)
            flat = perfect_above(par)  # the perfect nest above flattens into the hoisted pipeline
            hl = hoisted_latency(par, {arr: lp.trip for arr in lp.walks}, lpp, flat)
            lat_terms.append((par.mult // flat * hl - par.mult * base_cycles, h[lp.key]))
            lat_kernel.append(lp.key.split("/")[0])
            ru = loop_resources(lp, lp.trip, lpp)
            for i, r in enumerate(("dsp", "lut", "ff")):
                res_terms[r].append((ru[i] - r1[i], h[lp.key]))
    for p in nests:
        for a, n in nest_parts[p.key].items():
            m.AddImplication(z[p.key], y[a, n])
        top, kernel = p, p.key.split("/")[0]
        while top.parent is not None:
            top = top.parent
        mini = Design([Kernel(kernel, [top], Counter(), {})], {}, set(), 0, 0, sizes=design.arrays)  # the nest alone
        kp = prec.of(kernel)
        e0 = estimate(mini, base, part, kp)
        e1 = estimate(mini, {**base, "pipeline": [p.key], "partition": nest_parts[p.key]}, part, kp)
        lat_terms.append((e1["latency_cycles"] - e0["latency_cycles"], z[p.key]))
        lat_kernel.append(kernel)
        for r in ("dsp", "lut", "ff"):
            res_terms[r].append((e1[r] - e0[r], z[p.key]))
    for (kname, r, d), v in lv.items():
        kern = next(k for k in layer_kernels if k.name == kname)
        for a, n in layer_parts[kname, r, d].items():
            if a in design.arrays:
                m.AddImplication(v, y[a, n])
        mini = Design([kern], {}, set(), 0, 0)
        kp = prec.of(kname)
        e0 = estimate(mini, base, part, kp, dataflow)
        e1 = estimate(Design([kern], {}, design.weights, 0, 0), {**base, "layers": {kname: {"reuse": r, "outer": d}}},
                      part, kp, dataflow)
        lat_terms.append((e1["latency_cycles"] - e0["latency_cycles"], v))
        lat_kernel.append(kname)
        for res in ("dsp", "lut", "ff"):
            res_terms[res].append((e1[res] - e0[res], v))
        for a in kern.arrays:  # its accumulators become adder trees (estimate skips them)
            for i, res in enumerate(("bram", "lut", "ff")):
                res_terms[res].append((-array_cost(design, a, 1, prec.array_width(a))[i], v))
    # a weight ROM partitioned completely is constants only where every reader indexes it with
    # constants (an unrolled nest or layer); read by a loop index it would be a mux of constants
    for a, ps in cand.items():
        n = design.arrays[a]
        if a in design.weights and n > 1 and n in ps:
            users = [z[p.key] for p in nests if nest_parts[p.key].get(a) == n]
            users += [v for key, v in lv.items() if layer_parts[key].get(a) == n]
            m.AddBoolOr(users or [m.NewConstant(0)]).OnlyEnforceIf(y[a, n])
    if layer_kernels and len(layer_kernels) == len(design.kernels) and not dataflow:
        # the top pipeline: one control instead of one per layer (estimate's is_top_pipeline)
        top = m.NewBoolVar("top_pipeline")
        whole = {key: v for key, v in lv.items() if key[2] == 0}  # whole-kernel layers only (d = 0)
        for k in layer_kernels:
            m.AddBoolOr([v for (kn, _, _), v in whole.items() if kn == k.name]).OnlyEnforceIf(top)
        n = len(layer_kernels)
        m.Add(top >= sum(whole.values()) - (n - 1))  # every kernel a whole layer: the top is a pipeline
        res_terms["lut"].append((LOOP_CONTROL[2] - n * LOOP_CONTROL[2], top))
        res_terms["ff"].append((LOOP_CONTROL[3] - n * LOOP_CONTROL[3], top))
    for a, ps in cand.items():
        c1 = array_cost(design, a, 1, prec.array_width(a))
        for p in ps:
            cp = array_cost(design, a, p, prec.array_width(a))
            for i, res in enumerate(("bram", "lut", "ff")):
                res_terms[res].append((cp[i] - c1[i], y[a, p]))
    for r in res_terms:
        limit = min(int(part[r] * UTILIZATION), int((caps or {}).get(r, part[r]))) - fixed[r]
        m.Add(sum(c * v for c, v in res_terms[r]) <= max(limit, 0))
    total = sum(c * v for c, v in lat_terms)
    if dataflow:  # stage = a kernel's cycles with the default pragmas plus its choices' changes
        stages = {k.name: estimate(Design([k], {}, set(), 0, 0), base, part, prec.of(k.name))["latency_cycles"]
                  for k in design.kernels}
        io = design.io_words + design.io_ports * MAXI_BURST_SETUP
        interval = m.NewIntVar(io, io + sum(stages.values()) + sum(abs(c) for c, _ in lat_terms), "interval")
        for name, cycles in stages.items():
            m.Add(interval >= cycles + sum(c * v for (c, v), k in zip(lat_terms, lat_kernel) if k == name))
        m.Minimize(interval * (abs(int(ref["latency_cycles"])) + 1) + total)
    else:
        m.Minimize(total)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit
    solver.parameters.random_seed = seed
    solver.parameters.num_workers = 1
    status = solver.Solve(m)
    info = {"solver": "cp-sat", "status": solver.StatusName(status), "time_limit_s": time_limit, "seed": seed,
            "loops": len(inner), "nests": len(nests), "utilization_cap": UTILIZATION, **({"caps": dict(caps)} if caps else {})}
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        info["fallback"] = "default pragmas (the default already exceeds the part, or no solution in time)"
        return base, info
    info["optimal"] = status == cp_model.OPTIMAL
    info["predicted_latency_cycles"] = int(ref["latency_cycles"] + (solver.Value(total) if lat_terms else 0))
    if dataflow:
        info["objective"] = "interval (largest stage), then latency"
        info["predicted_interval_cycles"] = int(solver.Value(interval))
    hoist = sorted(k for k, v in h.items() if solver.Value(v))
    unroll = {lp.key: next((u for u in unroll_choices(lp) if solver.Value(x[lp.key, u])), lp.trip) for lp in inner}
    partition = {a: next(p for p in ps if solver.Value(y[a, p])) for a, ps in cand.items()}
    partition = {a: p for a, p in partition.items() if p > 1}
    pipeline = sorted(k for k, v in z.items() if solver.Value(v))
    from hetc.backends.hls.layer import multipliers, pipeline_levels

    layers = {}
    for (kn, r, d), v in lv.items():
        if solver.Value(v):
            kern = next(k for k in layer_kernels if k.name == kn)
            layers[kn] = {"reuse": r, "outer": d, "pipeline": pipeline_levels(kern)[d - 1].key if d else None}
    info["layers"] = len(layer_kernels)
    mults = {k.name: multipliers(k, layers[k.name]["reuse"], prec.of(k.name), layers[k.name]["outer"])
             for k in layer_kernels if k.name in layers}
    return {"unroll": unroll, "hoist": hoist, "partition": partition, "pipeline": pipeline, "layers": layers,
            "layer_multipliers": mults}, info
