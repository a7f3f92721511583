"""Per-layer fixed point for the HLS target (`--precision auto`): one `ap_fixed<W,I>` per
kernel (its output array, its weights, its products; accumulators 8+8 bits wider), chosen
to minimize multiplier/adder cost under a stated output-error bound measured by C simulation.

How the search works, and why so:

* I (integer bits, sign included) per layer comes from the observed value range on
  calibration inputs, so nothing saturates: ``I = ceil(log2(max|v| * HEADROOM)) + 1`` over
  the arrays the layer reads and writes and its weights, measured by the float C simulation
  (the `hetc_tap_read` intermediates of libhls.so). Values that live only inside a kernel are
  not observed: where even the widest setting misses the bound, every kernel gets 2, then 4,
  then 8 more integer bits (reported as `extra_integer_bits`).
* W = I + F: the fraction bits F come from the error budget. Building an ap_fixed design
  with g++ takes seconds, so the search runs an *emulation build* of the same printed C++
  (`-DHETC_QEMU`): every per-layer type is `hetc_qfix<slot>`, a double rounded to nearest
  even and saturated to the (W, I) that Python sets per slot at run time (`hetc_qset`),
  which is what `ap_fixed<W,I,AP_RND_CONV,AP_SAT>` does on every assignment (products and
  sums are exact in double up to 53 bits, as in ap_fixed). One build, thousands of runs.
* Descent: start every layer at ``F_MAX`` fraction bits; walk the layers in order of
  decreasing multiplier count and bisect each one's F down to the fewest bits that keep the
  output error on the calibration inputs within half the bound (max|fixed - float| <=
  SAFETY * bound * max|float| per output: margin for inputs it did not see), the others held; two passes, a wall-clock limit (it stops early,
  still within the bound). A heuristic for "fewest DSP/LUT": in the cost model a narrower
  layer never costs more, and the busiest layers get the first pick of the error budget. The result is then built with the real
  ap_fixed headers and its error measured again by that C simulation (report.json).
"""

from __future__ import annotations

import ctypes
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from xdsl.dialects import func, memref
from xdsl.dialects.builtin import ModuleOp

from hetc.backends.hls.estimate import Precision, host_roots

#: integer bits get this much headroom over the largest observed |value|
HEADROOM = 1.25
#: the search's range of fraction bits per layer
F_MAX, F_MIN = 14, 2
#: default stated bound of `--precision auto`: max|fixed - float| <= bound * max|float| per output
AUTO_BOUND = 0.01
#: calibration inputs (seeded standard normal) the search measures on
CALIBRATION_SAMPLES = 8
MAX_CALIBRATION_SAMPLES = 64
EVAL_SECONDS = 0.25
#: the search aims at SAFETY * bound on the calibration inputs, so that unseen inputs stay within the bound
SAFETY = 0.5
#: integer bits added to every kernel, in turn, while the widest setting misses the bound
EXTRA_INTEGER_BITS = (2, 4, 8)
#: passes over the layers, and the search's wall-clock limit (it stops early, still within the bound)
PASSES = 2
TIME_LIMIT_S = 60.0


@dataclass(frozen=True)
class LayerPrecision:
    """ap_fixed per kernel; `input` is the type of the top's on-chip input copies (data_t)."""

    input: Precision
    kernels: tuple[tuple[str, Precision], ...]
    owners: tuple[tuple[str, str], ...] = ()  # on-chip array -> the kernel whose type it has
    kind: str = "fixed"

    @property
    def width(self) -> int:
        return self.input.width

    @property
    def integer(self) -> int:
        return self.input.integer

    def of(self, kernel: str) -> Precision:
        return dict(self.kernels).get(kernel, self.input)

    def array_width(self, array: str) -> int:
        if "/" in array:  # a kernel's local (accumulator) array
            return self.of(array.split("/")[0]).width
        owner = dict(self.owners).get(array)
        return self.of(owner).width if owner else self.input.width

    def op_cost(self, kind: str) -> tuple[int, int, int, int]:
        return max((p.op_cost(kind) for _, p in self.kernels), default=self.input.op_cost(kind))

    def __str__(self) -> str:
        return "auto (per-layer ap_fixed)"


def array_owners(module: ModuleOp) -> dict[str, str]:
    """On-chip array -> kernel: the kernel that writes it, else the first that reads it (weights)."""
    return _array_users(module)[0]


def kernel_reads(module: ModuleOp) -> dict[str, set[str]]:
    """Kernel -> the top-level arrays it reads (their values pass through its data_t too)."""
    return _array_users(module)[1]


def _array_users(module: ModuleOp) -> tuple[dict[str, str], dict[str, set[str]]]:
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    fns = {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp)}
    roots, _, _ = host_roots(main)
    owners: dict[str, str] = {}
    readers: dict[str, str] = {}
    reads: dict[str, set[str]] = {}
    for call in (op for op in main.body.block.ops if isinstance(op, func.CallOp)):
        callee = fns[call.callee.root_reference.data]
        stored = {o.memref for o in callee.walk() if isinstance(o, memref.StoreOp)}
        for arg, a in zip(callee.body.block.args, call.arguments):
            root = roots[a][0]
            if arg in stored:
                owners.setdefault(root, callee.sym_name.data)
            else:
                readers.setdefault(root, callee.sym_name.data)
                reads.setdefault(callee.sym_name.data, set()).add(root)
    for root, k in readers.items():
        if not root.startswith("in"):
            owners.setdefault(root, k)
    return owners, reads


def kernel_names(module: ModuleOp) -> list[str]:
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    seen: list[str] = []
    for call in (op for op in main.body.block.ops if isinstance(op, func.CallOp)):
        if call.callee.root_reference.data not in seen:
            seen.append(call.callee.root_reference.data)
    return seen


def integer_bits(max_abs: float) -> int:
    """Integer bits (sign included) so that max_abs * HEADROOM does not saturate."""
    return max(1, math.ceil(math.log2(max(max_abs * HEADROOM, 1e-6))) + 1) if max_abs > 0 else 1


def weight_ranges(module: ModuleOp) -> dict[str, float]:
    """max|w| per top-level weight array name."""
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    roots, _, _ = host_roots(main)
    names = {op.name_.root_reference.data: roots[op.memref][0] for op in main.walk() if isinstance(op, memref.GetGlobalOp)}
    out = {}
    for g in (op for op in module.ops if isinstance(op, memref.GlobalOp)):
        if g.sym_name.data in names and g.type.get_element_type().name == "f32":
            v = np.frombuffer(g.initial_value.data.data, dtype=np.float32)
            out[names[g.sym_name.data]] = float(np.max(np.abs(v))) if v.size else 0.0
    return out


class _Lib:
    """libhls.so (taps enabled) through ctypes: run on inputs, read intermediates."""

    def __init__(self, path: Path, io) -> None:
        self.lib = ctypes.CDLL(str(path))
        self.io = io  # (inputs, outputs) templates

    def run(self, ins: list[np.ndarray]) -> list[np.ndarray]:
        outs = [np.zeros_like(o) for o in self.io[1]]
        in_p = (ctypes.c_void_p * max(1, len(ins)))(*[x.ctypes.data for x in ins])
        out_p = (ctypes.c_void_p * max(1, len(outs)))(*[y.ctypes.data for y in outs])
        self.lib.hetc_model_run_ptrs(in_p, out_p)
        return outs

    def tap(self, k: int, n: int) -> np.ndarray:
        buf = np.zeros(n, np.float32)
        self.lib.hetc_tap_read(ctypes.c_int(k), buf.ctypes.data_as(ctypes.c_void_p))
        return buf


def calibration_inputs(io, samples: int = CALIBRATION_SAMPLES) -> list[list[np.ndarray]]:
    """The report's seeded input (io[0]) and samples - 1 more seeded standard-normal inputs."""
    rng = np.random.default_rng(1)
    return [list(io[0])] + [[rng.standard_normal(x.shape).astype(x.dtype) if x.dtype.kind == "f" else x
                             for x in io[0]] for _ in range(samples - 1)]


def output_error(got: list[list[np.ndarray]], want: list[list[np.ndarray]]) -> float:
    """max over outputs of max|got - want| / max|want| across the calibration samples."""
    worst = 0.0
    for k in range(len(want[0])):
        if want[0][k].dtype.kind != "f":
            continue
        g = np.stack([s[k] for s in got]).astype(np.float64)
        w = np.stack([s[k] for s in want]).astype(np.float64)
        m = float(np.max(np.abs(w)))
        worst = max(worst, float(np.max(np.abs(g - w))) / m if m else float(np.max(np.abs(g - w))))
    return worst


def search_precision(module: ModuleOp, float_lib: Path, emu_lib: Path, taps: list[dict], io, costs: dict[str, int],
                     bound: float = AUTO_BOUND, progress=None, time_limit: float = TIME_LIMIT_S
                     ) -> tuple[LayerPrecision, dict]:
    """The per-layer search (see the module docstring). `emu_lib`: the -DHETC_QEMU build of the
    design printed with a LayerPrecision over `kernel_names(module)` (slot 2k+1 / 2k+2: kernel k's
    data_t / acc_t, slot 0: the input copies); `costs`: kernel -> multiplications (search order).
    Returns the chosen precision and the search's record."""
    kernels = kernel_names(module)
    owners = array_owners(module)
    ref = _Lib(float_lib, io)
    emu = _Lib(emu_lib, io)
    emu.run(list(io[0]))  # the first call fills the weights
    t0 = time.perf_counter()
    emu.run(list(io[0]))
    # as many calibration inputs as fit EVAL_SECONDS of emulation per evaluation (8 to 64): the bound
    # must hold on inputs the search did not see, and small models are cheap
    cal = calibration_inputs(io, max(CALIBRATION_SAMPLES, min(MAX_CALIBRATION_SAMPLES,
                                                              int(EVAL_SECONDS / max(time.perf_counter() - t0, 1e-6)))))
    in_range = max((float(np.max(np.abs(x))) for s in cal for x in s if x.dtype.kind == "f"), default=1.0)
    # max|value| per top-level array: inputs, intermediates and outputs (float C-sim), weights
    seen: dict[str, float] = {f"in{i}": in_range for i in range(len(io[0]))}
    seen.update(weight_ranges(module))
    want = []
    for ins in cal:
        want.append(ref.run(ins))
        for k, t in enumerate(taps):
            arr = t["array"].removesuffix("_l")
            seen[arr] = max(seen.get(arr, 0.0), float(np.max(np.abs(ref.tap(k, t["elements"])))))
    # a kernel's data_t holds what it reads, its weights and what it writes: I covers all three
    reads = kernel_reads(module)
    ranges = {k: max([seen.get(a, 0.0) for a, o in owners.items() if o == k] +
                     [seen.get(a, 0.0) for a in reads.get(k, ())] + [0.0]) for k in kernels}
    ints = {k: integer_bits(ranges[k]) for k in kernels}
    in_int = integer_bits(in_range)
    evals = 0

    def error(frac: dict[str, int], in_frac: int) -> float:
        nonlocal evals
        evals += 1
        emu.lib.hetc_qset(0, in_int + in_frac, in_int)
        for s, k in enumerate(kernels):
            w, i = ints[k] + frac[k], ints[k]
            emu.lib.hetc_qset(2 * s + 1, w, i)
            emu.lib.hetc_qset(2 * s + 2, w + 16, i + 8)
        return output_error([emu.run(ins) for ins in cal], want)

    frac = {k: F_MAX for k in kernels}
    in_frac = F_MAX
    start = error(frac, in_frac)
    # values that live only inside a kernel (exp before a softmax's division, say) are not observed:
    # where the widest setting misses, give every kernel more integer bits, then more
    headroom = 0
    base_ints = dict(ints)
    for extra in EXTRA_INTEGER_BITS:
        if start <= SAFETY * bound:
            break
        headroom = extra
        ints = {k: base_ints[k] + extra for k in kernels}
        start = error(frac, in_frac)
    deadline = time.monotonic() + time_limit
    target = SAFETY * bound
    if start > target:  # the widest setting misses the bound: report it, keep the widest
        status = "bound not met at the widest setting"
    else:
        status = "ok"
        order = sorted(kernels, key=lambda k: -costs.get(k, 0))
        for _ in range(PASSES):  # per layer, the fewest fraction bits within the bound, others held (bisection)
            changed = False
            for k in ["<input>"] + order:
                cur = in_frac if k == "<input>" else frac[k]
                lo, hi = F_MIN, cur
                while lo < hi:
                    if time.monotonic() > deadline:
                        status = f"time limit ({time_limit:g} s): stopped early, within the bound"
                        break
                    mid = (lo + hi) // 2
                    trial = {**frac, k: mid} if k != "<input>" else frac
                    if error(trial, mid if k == "<input>" else in_frac) <= target:
                        hi = mid
                    else:
                        lo = mid + 1
                if hi < cur:
                    changed = True
                    if k == "<input>":
                        in_frac = hi
                    else:
                        frac = {**frac, k: hi}
            if not changed or status != "ok":
                break
        if progress:
            progress(f"precision search: {evals} C-simulation runs of the emulation build")
    final = error(frac, in_frac)
    prec = LayerPrecision(
        Precision("fixed", in_int + in_frac, in_int),
        tuple((k, Precision("fixed", ints[k] + frac[k], ints[k])) for k in kernels),
        tuple(sorted(owners.items())),
    )
    record = {
        "method": "per-layer bisection of the fraction bits on the emulation C-sim (-DHETC_QEMU), "
        "I from calibration ranges", "time_limit_s": time_limit,
        "status": status, "bound": bound, "search_target": target, "calibration_samples": len(cal),
        "evaluations": evals,
        "emulated_output_error": final, "widest_output_error": start,
        "ranges": {k: ranges[k] for k in kernels}, "input_range": in_range, "extra_integer_bits": headroom,
    }
    return prec, record


# -- the fixed-point error report and the target's entry point -------------------------------------

#: the stated bound of a fixed-point design: max|fixed - float| <= FIXED_BOUND * max|float| per output
FIXED_BOUND = 0.05


def fixed_point_errors(module: ModuleOp, fixed_lib: Path, float_lib: Path, taps: list[dict],
                       bound: float = FIXED_BOUND) -> dict:
    """Runs the fixed-point and the float C simulations on the seeded inputs and compares every
    intermediate (per layer: the kernel that writes it) and every output."""
    from hetc.backends.hls.target import _io_arrays

    results = []
    for lib_path in (fixed_lib, float_lib):
        lib = _Lib(lib_path, _io_arrays(module))
        outs = lib.run(_io_arrays(module)[0])
        results.append(([lib.tap(k, t["elements"]) for k, t in enumerate(taps)], outs))
    (fx, fx_out), (fl, fl_out) = results

    def err(a, b) -> dict:
        d, m = float(np.max(np.abs(a.astype(np.float64) - b))), float(np.max(np.abs(b)))
        return {"max_abs_err": d, "max_abs_float": m, "rel_err": d / m if m else d}

    layers = [{"array": t["array"], "kernel": t["kernel"], **err(a, b)} for t, a, b in zip(taps, fx, fl)]
    outputs = [err(a, b) for a, b in zip(fx_out, fl_out) if a.dtype.kind == "f"]
    return {
        "bound": f"max|fixed - float| <= {bound} * max|float| per output, on seeded standard-normal inputs",
        "within_bound": all(o["rel_err"] <= bound for o in outputs),
        "outputs": outputs,
        "layers": layers,
    }


def choose_precision(module: ModuleOp, design, bound: float | None, progress=None) -> tuple[LayerPrecision, dict]:
    """`--precision auto`: builds the float and the emulation C simulations of `module` (default
    pragmas: numerics do not depend on them) and runs the search."""
    import json

    from hetc.backends.hls.estimate import all_loops, default_pragmas
    from hetc.backends.hls.target import (
        _io_arrays,
        build_emulation,
        build_library,
        print_hls,
    )

    base = default_pragmas(design)
    float_files = print_hls(module, Precision(), base)
    taps = json.loads(float_files.pop("taps.json"))
    float_lib = build_library(float_files, Precision())
    kernels = kernel_names(module)
    widest = Precision("fixed", 32, 16)
    emu_prec = LayerPrecision(widest, tuple((k, widest) for k in kernels), tuple(sorted(array_owners(module).items())))
    emu_files = print_hls(module, emu_prec, base)
    emu_files.pop("taps.json")
    emu_lib = build_emulation(emu_files)
    costs: dict[str, int] = {}
    for lp in all_loops(design):  # multiplications per run, per kernel: the search lowers the busiest first
        k = lp.key.split("/")[0]
        costs[k] = costs.get(k, 0) + lp.ops.get("fmul", 0) * lp.mult * lp.trip
    if progress:
        progress("precision search (emulation C-sim built)")
    return search_precision(module, float_lib, emu_lib, taps, _io_arrays(module), costs,
                            bound=AUTO_BOUND if bound is None else float(bound), progress=progress)


def calibration_error(module: ModuleOp, fixed_lib: Path, float_lib: Path, samples: int) -> float:
    """The real ap_fixed C-sim against the float one on the search's calibration inputs."""
    from hetc.backends.hls.target import _io_arrays

    io = _io_arrays(module)
    cal = calibration_inputs(io, samples)
    fx, fl = _Lib(fixed_lib, io), _Lib(float_lib, io)
    return output_error([fx.run(ins) for ins in cal], [fl.run(ins) for ins in cal])


def per_layer_report(prec: LayerPrecision, layers: list[dict]) -> list[dict]:
    """report.json's per-layer table: kernel, ap_fixed<W,I>, and the error of what it writes."""
    out = []
    for k, p in prec.kernels:
        errs = [lay["rel_err"] for lay in layers if lay["kernel"].split(" <- ")[0] == k]
        out.append({"kernel": k, "precision": str(p), "W": p.width, "I": p.integer,
                    "rel_err": max(errs) if errs else None})
    return out
