"""The HLS C++ target: the C-family printer's Vitis HLS spelling, the top function, the
testbench, the Vitis HLS Tcl script, and the g++ C-simulation builds.

Output folder:

* `hetc_top.cpp` / `hetc_top.h`: the kernels (one function per kernel, sized array
  parameters, `#pragma HLS PIPELINE` / `UNROLL` / `ARRAY_PARTITION` as the pragma search
  chose) and the top function `hetc_top`: an `m_axi` port per input and output (its
  own bundle), `s_axilite` control, local on-chip copies of the I/O, intermediates as
  on-chip arrays, kernels called in order;
* `weights.h`: every weight as a `static const` on-chip ROM;
* `tb.cpp`: the C-simulation testbench (reads `tb_data/in<i>.bin`, runs `hetc_top`,
  writes `tb_data/csim_out<i>.bin` and, where `tb_data/ref_out<i>.bin` exists, checks
  max|out - ref| <= tol * max|ref|; exit status 1 on a mismatch);
* `hetc_glue.cpp`: a C ABI (`hetc_model_run_ptrs`) over `hetc_top` for the Python runner;
* `run_hls.tcl`: `vitis_hls -f run_hls.tcl` (csim, then synthesis for the part);
* `libhls.so`: hetc_top + glue built with g++ (csim semantics), what `Session.run` calls.

Float designs need no headers beyond the C++ library. `ap_fixed<W,I>` designs need the
Apache-2.0 `ap_int.h`/`ap_fixed.h`: they are looked up at build time (HETC_AP_TYPES, or
the installed hls4ml package, `pip install hetc[hls]`) and never copied into the output.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from xdsl.dialects import arith, func, math, memref, scf
from xdsl.dialects.builtin import Float32Type, ModuleOp
from xdsl.ir import Attribute, SSAValue

from hetc.backends.cfamily.host import call_label
from hetc.backends.cfamily.printer import MATH_F, CFamilyPrinter
from hetc.backends.hls.estimate import Precision, host_roots, loop_keys
from hetc.backends.hls.precision import (
    AUTO_BOUND,
    FIXED_BOUND,
    LayerPrecision,
    array_owners,
    calibration_error,
    choose_precision,
    fixed_point_errors,
    per_layer_report,
)
from hetc.backends.hls.qemu import QEMU_SOURCE, QEMU_TYPE
from hetc.diagnostics import HetcError

CXXFLAGS = ["-O2", "-std=c++14", "-fPIC", "-Wno-unknown-pragmas"]
#: fixed point: accumulator (acc_t) bits beyond data_t's
ACC_EXTRA_INT = 8
ACC_EXTRA_FRAC = 8
#: the Python runner's build also exposes the intermediates (hetc_tap_read)
LIB_FLAGS = ["-DHETC_TAPS"]


class HlsPrinter(CFamilyPrinter):
    """Vitis HLS C++: sized array parameters, no `restrict`, float32 as `data_t` (float or
    ap_fixed), PIPELINE/UNROLL inside innermost loops, ARRAY_PARTITION after local arrays."""

    restrict = ""

    def __init__(self, precision: Precision, pragmas: dict) -> None:
        self.precision = precision
        self.unroll: dict[str, int] = pragmas.get("unroll", {})
        self.partition: dict[str, int] = pragmas.get("partition", {})
        self.hoist: set[str] = set(pragmas.get("hoist", ()))
        self.nests: set[str] = set(pragmas.get("pipeline", ()))  # whole nests pipelined (nest.py)
        #: kernel -> its layer choice (layer.py): R, or {"reuse": R, "outer": d, "pipeline": loop key}
        self.layers: dict[str, int | dict] = dict(pragmas.get("layers", {}))
        self.inline_layers = True  # False under DATAFLOW (its processes are functions)
        self._in_layer: list[str] | None = None  # in a layer: its pragmas for the pipelined loop
        self._layer_loop: str | None = None  # ... that loop (None: the whole body is the region)
        self._layer_above: set[str] = set()  # ... the perfect loops above it (flattened into it)
        self.under: set[str] = set()  # loops below one of those: unrolled
        self.loop_key: dict[scf.ForOp, str] = {}
        self.local_key: dict[SSAValue, str] = {}
        self.wide: set[SSAValue] = set()
        #: per-layer precision: kernel -> the type names of its parameters (None: the scalar type)
        self.param_types: dict[str, list[str | None]] = {}
        self._layer_mults: dict[str, int] = dict(pragmas.get("layer_multipliers", {}))
        self._ptypes: list[str | None] = []

    def scalar_type(self, t: Attribute) -> str:
        return "data_t" if isinstance(t, Float32Type) else super().scalar_type(t)

    def float_literal(self, x: float, t: Attribute) -> str:
        if isinstance(t, Float32Type) and self.precision.kind == "fixed":
            x = float(np.clip(np.nan_to_num(x, nan=0.0), -1e30, 1e30))  # saturates (AP_SAT) to the type's range
            return f"data_t({x!r})"
        return super().float_literal(x, t)

    def _float_expr(self, op) -> str:
        t = op.results[0].type
        if self.precision.kind == "fixed" and isinstance(t, Float32Type) and (type(op) in MATH_F or isinstance(op, math.PowFOp)):
            # math functions of fixed-point values: through float (an HLS user swaps in hls::math)
            args = ", ".join(f"(float){self.names[x]}" for x in op.operands)
            name = "pow" if isinstance(op, math.PowFOp) else MATH_F[type(op)]
            return f"(data_t)std::{name}({args})"
        if self.precision.kind == "fixed" and isinstance(t, Float32Type) and isinstance(
            op, (arith.MaximumfOp, arith.MinimumfOp, arith.SelectOp)
        ):
            # both arms of ?: in one type (acc_t and data_t convert to each other: ambiguous)
            ty = "acc_t" if self._is_wide(op.results[0]) else "data_t"
            n = [self.names[x] for x in op.operands]
            if isinstance(op, arith.SelectOp):
                return f"({n[0]} ? ({ty}){n[1]} : ({ty}){n[2]})"
            cmp = ">" if isinstance(op, arith.MaximumfOp) else "<"
            return f"({n[0]} {cmp} {n[1]} ? ({ty}){n[0]} : ({ty}){n[1]})"
        return super()._float_expr(op)

    def value_type(self, value: SSAValue, t: Attribute) -> str:
        """Fixed point: local arrays (the lowering's accumulators), values loaded from them and
        float arithmetic on those are `acc_t`, a wider ap_fixed (more integer and fraction bits)."""
        if self.precision.kind != "fixed" or not isinstance(t, Float32Type):
            return super().value_type(value, t)
        if self._is_wide(value):
            self.wide.add(value)
            return "acc_t"
        return "data_t"

    def _is_wide(self, value: SSAValue) -> bool:
        owner = value.owner
        if isinstance(owner, memref.AllocaOp):
            return True
        if isinstance(owner, memref.LoadOp):
            return isinstance(owner.memref.owner, memref.AllocaOp)
        return type(owner) in (arith.AddfOp, arith.SubfOp, arith.MaximumfOp, arith.MinimumfOp, arith.SelectOp) and any(
            x in self.wide for x in owner.operands
        )

    def kernel_param(self, ctype: str, name: str, shape: list[int], const: str) -> str:
        t = self._ptypes.pop(0) if self._ptypes else None
        ctype = t if t and ctype == "data_t" else ctype
        return f"{const}{ctype} {name}[{int(np.prod(shape, dtype=np.int64)) if shape else 1}]"

    def loop_pragmas(self, loop: scf.ForOp) -> list[str]:
        key = self.loop_key.get(loop)
        if self._in_layer is not None:  # a layer: its pipelined loop, the loops above flattened, below unrolled
            if key == self._layer_loop:
                return self._in_layer
            return [] if key in self._layer_above else ["#pragma HLS UNROLL"]
        if key in self.nests:
            return ["#pragma HLS PIPELINE II=1"]
        if key in self.under:
            return ["#pragma HLS UNROLL"]
        inner = [op for op in loop.body.block.ops if isinstance(op, scf.ForOp)]
        if inner:  # a parent whose only loop is unrolled fully is the one pipelined
            hoisted = len(inner) == 1 and self.loop_key.get(inner[0]) in self.hoist
            return ["#pragma HLS PIPELINE II=1"] if hoisted else []
        if self.loop_key.get(loop) in self.hoist:
            return ["#pragma HLS UNROLL"]
        lines = ["#pragma HLS PIPELINE II=1"]
        u = self.unroll.get(self.loop_key.get(loop, ""), 1)
        if u > 1:
            lines.append(f"#pragma HLS UNROLL factor={u}")
        return lines

    def declaration_pragmas(self, value: SSAValue, name: str) -> list[str]:
        p = self.partition.get(self.local_key.get(value, ""), 1)
        return [f"#pragma HLS ARRAY_PARTITION variable={name} type=cyclic factor={p} dim=1"] if p > 1 else []

    def print_kernel(self, fn: func.FuncOp) -> str:
        self.loop_key = loop_keys(fn)
        self.under = {self.loop_key[o] for lp, k in self.loop_key.items() if k in self.nests
                      for o in lp.walk() if isinstance(o, scf.ForOp) and o is not lp}
        name = fn.sym_name.data
        allocas = [o for o in fn.walk() if isinstance(o, memref.AllocaOp)]
        self.local_key = {o.results[0]: f"{name}/a{i}" for i, o in enumerate(allocas)}
        self._ptypes = list(self.param_types.get(name, []))
        choice = self.layers.get(name)
        if choice is not None:
            from hetc.backends.hls.layer import choice as layer_choice
            from hetc.backends.hls.layer import layer_pragmas, layer_region

            reuse, outer = layer_choice(choice)
            self._in_layer = layer_pragmas(reuse, self._layer_mults.get(name, 0), self.precision.kind)
            self._layer_loop = choice.get("pipeline") if isinstance(choice, dict) and outer else None
            loops = {k: lp for lp, k in self.loop_key.items()}
            above = loops[self._layer_loop].parent_op() if self._layer_loop else None
            self._layer_above = set()
            while isinstance(above, scf.ForOp):
                self._layer_above.add(self.loop_key[above])
                above = above.parent_op()
        text = super().print_kernel(fn)
        self._in_layer = None
        lines = text.split("\n")
        if choice is not None:
            lines = lines[:2] + layer_region(lines[2:-1], reuse, self._layer_mults.get(name, 0), self.precision.kind,
                                             self.inline_layers, wrap=self._layer_loop is None) + lines[-1:]
        if name not in self.param_types:
            return "\n".join(lines)
        # per-layer precision: the kernel's own data_t / acc_t shadow the top's
        return "\n".join(lines[:2] + [f"  typedef {name}_t data_t;", f"  typedef {name}_acc_t acc_t;"] + lines[2:])


def _ctype_of(printer: HlsPrinter, t) -> str:
    return printer.scalar_type(t.get_element_type())


def _literal(x: float, prec: Precision) -> str:
    return CFamilyPrinter.float_literal(None, float(x), Float32Type())  # type: ignore[arg-type]


def _weights_header(module: ModuleOp, printer: HlsPrinter, main: func.FuncOp, skip: set[str] = frozenset(),
                    types: dict[str, str] | None = None) -> str:
    from hetc.dialects import onnx as onnx_d

    roots, _, _ = host_roots(main)
    names = {op.name_.root_reference.data: roots[op.memref][0] for op in main.walk() if isinstance(op, memref.GetGlobalOp)}
    out = ["/* Weights as on-chip ROMs (static const arrays). Generated by hetc. */", "#pragma once", '#include "hetc_top.h"', ""]
    fills: list[str] = []
    for g in (op for op in module.ops if isinstance(op, memref.GlobalOp)):
        sym = g.sym_name.data
        if sym not in names or names[sym] in skip:
            continue
        t = g.type
        dtype = onnx_d.numpy_dtype(t.get_element_type())
        values = np.frombuffer(g.initial_value.data.data, dtype=dtype).reshape(-1)
        ctype = _ctype_of(printer, t)
        if dtype == np.float32:
            body = ", ".join(_literal(v, printer.precision) for v in values)
        elif dtype == np.bool_:
            body = ", ".join("true" if v else "false" for v in values)
        else:
            body = ", ".join(str(int(v)) for v in values)
        n, name = max(1, values.size), names[sym]
        out.append(f"/* {sym}: {t} */")
        if ctype == "data_t" and printer.precision.kind == "fixed":
            # Synthesis: an ap_fixed ROM. C simulation: the same values quantized once at load time
            # from a float table (g++ takes minutes over thousands of ap_fixed constant initializers).
            wt = (types or {}).get(name, "data_t")
            out.append(f"#define {name.upper()}_VALUES {body or '0'}")
            out.append("#ifdef __SYNTHESIS__")
            out.append(f"static const {wt} {name}[{n}] = {{{name.upper()}_VALUES}};")
            out.append("#else")
            out.append(f"static const float {name}_float[{n}] = {{{name.upper()}_VALUES}};")
            out.append(f"static {wt} {name}[{n}];")
            out.append("#endif")
            fills.append(f"  for (int i = 0; i < {n}; i++) {name}[i] = ({wt}){name}_float[i];")
        else:
            out.append(f"static const {ctype} {name}[{n}] = {{{body or '0'}}};")
    if fills:  # C simulation: quantized at load time (again on every call of the emulation build)
        out += ["#ifndef __SYNTHESIS__", "static void hetc_fill_weights(void) {", *fills, "}",
                "static const struct hetc_weights_filled_t { hetc_weights_filled_t() { hetc_fill_weights(); } } "
                "hetc_weights_filled;", "#endif"]
    return "\n".join(out) + "\n"


def axi_weight_layout(module: ModuleOp) -> tuple[dict[str, int], np.ndarray]:
    """Float weights read through the `weights` m_axi port: element offset per array, and the blob."""
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    roots, _, _ = host_roots(main)
    names = {op.name_.root_reference.data: roots[op.memref][0] for op in main.walk() if isinstance(op, memref.GetGlobalOp)}
    offsets, parts, n = {}, [], 0
    for g in (op for op in module.ops if isinstance(op, memref.GlobalOp)):
        if g.sym_name.data in names and isinstance(g.type.get_element_type(), Float32Type):
            values = np.frombuffer(g.initial_value.data.data, dtype=np.float32)
            offsets[names[g.sym_name.data]] = n
            parts.append(values)
            n += values.size
    return offsets, (np.concatenate(parts) if parts else np.zeros(1, np.float32))


def print_hls(module: ModuleOp, precision: Precision, pragmas: dict, *, source_name: str = "model.onnx",
              version: str = "", weights: str = "rom", dataflow: bool = False) -> dict[str, str]:
    """hetc_top.cpp, hetc_top.h, weights.h, hetc_glue.cpp and tb.cpp for a module lowered by
    convert-onnx-to-loops, with `pragmas` ({"unroll": {loop: U}, "partition": {array: P}}).
    `weights`: "rom" (static const arrays in weights.h) or "axi" (float weights through an
    m_axi port `weights`, read from DDR where the kernels use them; the blob is tb_data/weights.bin).
    `dataflow`: `#pragma HLS DATAFLOW` over the top's copy loops and kernel calls; its on-chip
    arrays are then locals (ping-pong buffers between the processes) in synthesis, static in C simulation."""
    if weights == "axi" and precision.kind == "fixed":
        raise HetcError("weights through m_axi are float-only in this version", hint="use weights=rom with ap_fixed")
    axi_off, blob = axi_weight_layout(module) if weights == "axi" else ({}, np.zeros(1, np.float32))
    p = HlsPrinter(precision, pragmas)
    p.inline_layers = not dataflow
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    called = {op.callee.root_reference.data for op in main.walk() if isinstance(op, func.CallOp)}
    kernels = [op for op in module.ops if isinstance(op, func.FuncOp) and op is not main and op.sym_name.data in called]
    roots, sizes, weights = host_roots(main)
    types = _layer_types(p, module, main, kernels, roots) if isinstance(precision, LayerPrecision) else {}
    kernel_texts = [p.print_kernel(k) for k in kernels]
    n_in = len(main.attributes["hetc.input_names"].data)
    args = list(main.body.block.args)
    ports, io_doc, pragma_lines, locals_, copy_in, copy_out = [], [], [], [], [], []
    storage = "HETC_BUF" if dataflow else "static"
    for i, a in enumerate(args):
        name, n = roots[a][0], sizes[roots[a][0]]
        ctype = _ctype_of(p, a.type)
        port_type = "float" if ctype == "data_t" else ctype  # the bus carries float32; data_t inside
        is_in = i < n_in
        ports.append(f"{'const ' if is_in else ''}{port_type} {name}[{n}]")
        io_doc.append(f" *   {'in ' if is_in else 'out'} {name}: {a.type}")
        pragma_lines.append(f"#pragma HLS INTERFACE m_axi port={name} offset=slave bundle=gmem{i} depth={n}")
        pragma_lines.append(f"#pragma HLS INTERFACE s_axilite port={name}")
        locals_.append(f"{storage} {types.get(name, ctype) if ctype == 'data_t' else ctype} {name}_l[{n}];")
        loop = f"for (int i = 0; i < {n}; i++) {{\n#pragma HLS PIPELINE II=1\n    "
        if is_in:
            copy_in.append(f"  copy_{name}: {loop}{name}_l[i] = ({ctype}){name}[i];\n  }}")
        else:
            copy_out.append(f"  copy_{name}: {loop}{name}[i] = ({port_type}){name}_l[i];\n  }}")
    if axi_off:
        ports.append(f"const float weights[{blob.size}]")
        io_doc.append(f" *   in  weights: {blob.size} float32 (tb_data/weights.bin), read where the kernels use them")
        pragma_lines.append(f"#pragma HLS INTERFACE m_axi port=weights offset=slave bundle=gmem_w depth={blob.size}")
        pragma_lines.append("#pragma HLS INTERFACE s_axilite port=weights")
    pragma_lines.append("#pragma HLS INTERFACE s_axilite port=return")
    if dataflow:
        pragma_lines.append("#pragma HLS DATAFLOW")
    local_name = {roots[a][0]: roots[a][0] + "_l" for a in args}
    body = []
    taps: list[tuple[str, int, str]] = []  # (on-chip array, elements, the kernel that writes it)
    fns = {op.sym_name.data: op for op in module.ops if isinstance(op, func.FuncOp)}
    writer: dict[str, str] = {}
    for op in main.body.block.ops:
        if isinstance(op, func.CallOp):
            callee = fns[op.callee.root_reference.data]
            stored = {o.memref for o in callee.walk() if isinstance(o, memref.StoreOp)}
            for arg, a in zip(callee.body.block.args, op.arguments):
                if arg in stored:
                    writer.setdefault(roots[a][0], call_label(callee))
    for op in main.body.block.ops:
        if isinstance(op, memref.AllocOp):
            name = roots[op.memref][0]
            ctype = _ctype_of(p, op.memref.type)
            locals_.append(f"{storage} {types.get(name, ctype) if ctype == 'data_t' else ctype} {name}[{sizes[name]}];  "
                           f"/* {op.memref.type} */")
            if _ctype_of(p, op.memref.type) == "data_t":
                taps.append((name, sizes[name], ""))
        elif isinstance(op, func.CallOp):
            cargs = []
            for a in op.arguments:
                root, off = roots[a]
                root = local_name.get(root, root)
                if root in axi_off:
                    root, off = "weights", axi_off[root] + off
                cargs.append(f"{root} + {off}" if off else root)
            body.append(f"  {op.callee.root_reference.data}({', '.join(cargs)});")
        elif isinstance(op, memref.CopyOp):
            (s, so), (d, do) = roots[op.source], roots[op.destination]
            s, d = local_name.get(s, s), local_name.get(d, d)
            n = int(np.prod(op.source.type.get_shape(), dtype=np.int64))
            body.append(f"  for (int i = 0; i < {n}; i++) {{\n#pragma HLS PIPELINE II=1\n    {d}[{do} + i] = {s}[{so} + i];\n  }}")
        elif isinstance(op, (memref.GetGlobalOp, memref.ReinterpretCastOp, func.ReturnOp)):
            continue
        else:
            raise HetcError(f"the HLS printer cannot print host op {op.name}")
    taps += [(local_name[roots[a][0]], sizes[roots[a][0]], "") for a in args[n_in:] if _ctype_of(p, a.type) == "data_t"]
    taps = [(t, n, writer.get(t.removesuffix("_l"), "")) for t, n, _ in taps]
    partition_lines = [f"  HETC_TAP({k}, {t});" for k, (t, _, _) in enumerate(taps)]
    for arr, factor in sorted(pragmas.get("partition", {}).items()):
        if "/" not in arr and factor > 1:
            kind = "type=complete" if factor >= sizes.get(arr, 0) else f"type=cyclic factor={factor}"
            partition_lines.append(f"#pragma HLS ARRAY_PARTITION variable={local_name.get(arr, arr)} {kind} dim=1")
    layers = pragmas.get("layers", {})
    from hetc.backends.hls.layer import choice as layer_choice

    if layers and not dataflow and all(k.sym_name.data in layers and layer_choice(layers[k.sym_name.data])[1] == 0
                                       for k in kernels):
        # every kernel a whole-kernel layer: the top is one pipeline (hls4ml's io_parallel style), layers inlined
        pragma_lines.append(f"#pragma HLS PIPELINE II={max(layer_choice(v)[0] for v in layers.values())}")
    typedef = "typedef float data_t;" if precision.kind == "float" else _fixed_typedefs(precision, kernels)
    include = "" if precision.kind == "float" else (
        "#ifdef HETC_QEMU\n#include <cmath>\n#else\n#include <ap_fixed.h>\n#endif\n" if types else "#include <ap_fixed.h>\n")
    header = f"""/* Generated by hetc {version} from {source_name}: the model as a Vitis HLS top function.
 *
 *   void hetc_top(inputs..., outputs...);   m_axi ports (float32 on the bus), s_axilite control
 *
 * Ports, in order:
{chr(10).join(io_doc)}
 * Arithmetic inside the design: {precision}.
 */
#pragma once
#include <cmath>
#include <cstdint>
{include}
{typedef}

void hetc_top({', '.join(ports)});
"""
    source = f"""/* Generated by hetc {version} from {source_name}; see hetc_top.h. */
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "hetc_top.h"
#include "weights.h"

{chr(10).join(chr(10) * 0 + t + chr(10) for t in kernel_texts)}
#ifdef HETC_TAPS
/* C simulation only (never synthesized): read any on-chip intermediate after a run, as float */
template <class T> static void hetc_tap_copy(const void* a, int n, float* out) {{
  for (int i = 0; i < n; i++) out[i] = (float)((const T*)a)[i];
}}
static const void* hetc_taps[{max(1, len(taps))}];
static void (*hetc_tap_fns[{max(1, len(taps))}])(const void*, int, float*);
static const int hetc_tap_sizes[{max(1, len(taps))}] = {{{', '.join(str(n) for _, n, _ in taps) or '0'}}};
extern "C" int hetc_tap_count(void) {{ return {len(taps)}; }}
extern "C" int hetc_tap_read(int k, float* out) {{
  if (k < 0 || k >= {len(taps)} || !hetc_taps[k]) return -1;
  hetc_tap_fns[k](hetc_taps[k], hetc_tap_sizes[k], out);
  return hetc_tap_sizes[k];
}}
#define HETC_TAP(k, a) (hetc_taps[k] = (a), hetc_tap_fns[k] = hetc_tap_copy<std::remove_cv<std::remove_reference<decltype((a)[0])>::type>::type>)
#else
#define HETC_TAP(k, a)
#endif
{_DATAFLOW_BUF if dataflow else ""}
void hetc_top({', '.join(ports)}) {{
{chr(10).join(pragma_lines)}
{chr(10).join('  ' + x for x in locals_)}
{chr(10).join(partition_lines)}
{"#ifdef HETC_QEMU" + chr(10) + "  hetc_fill_weights();  /* the emulation's formats change between calls */" + chr(10) + "#endif" if types else ""}
{chr(10).join(copy_in)}
{chr(10).join(body)}
{chr(10).join(copy_out)}
}}
"""
    ptr_args = ", ".join(
        f"({'const ' if i < n_in else ''}{'float' if _ctype_of(p, a.type) == 'data_t' else _ctype_of(p, a.type)}*)"
        + (f"inputs[{i}]" if i < n_in else f"outputs[{i - n_in}]")
        for i, a in enumerate(args)
    )
    glue = f"""/* C ABI over hetc_top for the Python runner (g++ C-simulation build). Generated by hetc. */
#include "hetc_top.h"
extern "C" int hetc_model_run_ptrs{'_w' if axi_off else ''}(void* const* inputs, void* const* outputs{', const void* weights' if axi_off else ''}) {{
  hetc_top({ptr_args}{', (const float*)weights' if axi_off else ''});
  return 0;
}}
"""
    tb = _testbench(p, args, n_in, roots, sizes, precision, blob.size if axi_off else 0)
    return {
        "taps.json": __import__("json").dumps([{"array": t, "elements": n, "kernel": k} for t, n, k in taps]),
        **({"hetc_qemu.cpp": QEMU_SOURCE} if types else {}),
        "hetc_top.cpp": source,
        "hetc_top.h": header,
        "weights.h": _weights_header(module, p, main, skip=set(axi_off), types=types),
        "hetc_glue.cpp": glue,
        "tb.cpp": tb,
    }


#: DATAFLOW: the top's arrays are locals in synthesis (Vitis makes them ping-pong buffers between the
#: processes) and static in C simulation (off the stack, readable by the taps after a run)
_DATAFLOW_BUF = """#ifdef __SYNTHESIS__
#define HETC_BUF
#else
#define HETC_BUF static
#endif
"""


def _layer_types(p: HlsPrinter, module: ModuleOp, main: func.FuncOp, kernels: list[func.FuncOp], roots) -> dict[str, str]:
    """Per-layer precision: on-chip array -> its type name (`<kernel>_t` of the kernel that owns
    it, `data_t` for the input copies), and the printer's parameter types per kernel."""
    owners = array_owners(module)
    types = {a: f"{k}_t" for a, k in owners.items()}
    names = {k.sym_name.data for k in kernels}
    for call in (op for op in main.body.block.ops if isinstance(op, func.CallOp)):
        name = call.callee.root_reference.data
        if name not in names:
            continue
        ptypes = [types.get(roots[a][0], "data_t") if roots[a][0] in types or roots[a][0].startswith("in") else None
                  for a in call.arguments]
        if p.param_types.setdefault(name, ptypes) != ptypes:
            raise HetcError(f"per-layer precision: kernel {name} is called on arrays of different layers",
                            hint="use one precision for the whole design, e.g. --precision 'ap_fixed<16,6>'")
    return types


def _fixed_typedefs(precision, kernels: list[func.FuncOp]) -> str:
    """data_t / acc_t, and per layer `<kernel>_t` / `<kernel>_acc_t`; under -DHETC_QEMU the
    precision search's emulation type (slot 0: data_t, 2k+1 / 2k+2: kernel k's)."""
    def fx(pr: Precision, extra: bool) -> str:
        w, i = pr.width + (ACC_EXTRA_INT + ACC_EXTRA_FRAC if extra else 0), pr.integer + (ACC_EXTRA_INT if extra else 0)
        return f"ap_fixed<{w}, {i}, AP_RND_CONV, AP_SAT>"

    real = [f"typedef {fx(precision, False)} data_t;",
            f"/* accumulators: {ACC_EXTRA_INT} more integer and {ACC_EXTRA_FRAC} more fraction bits */",
            f"typedef {fx(precision, True)} acc_t;"]
    if not isinstance(precision, LayerPrecision):
        return "\n".join(real)
    emu = ["typedef hetc_qfix<0> data_t;", "typedef hetc_qfix<0> acc_t;"]
    slots = [n for n, _ in precision.kernels]  # the search's slot order
    for k in kernels:
        name, pr = k.sym_name.data, precision.of(k.sym_name.data)
        s = slots.index(name) if name in slots else len(slots)
        real += [f"typedef {fx(pr, False)} {name}_t;", f"typedef {fx(pr, True)} {name}_acc_t;"]
        emu += [f"typedef hetc_qfix<{2 * s + 1}> {name}_t;", f"typedef hetc_qfix<{2 * s + 2}> {name}_acc_t;"]
    return "\n".join(["#ifdef HETC_QEMU", QEMU_TYPE, *emu, "#else", *real, "#endif"])


def _testbench(p: HlsPrinter, args, n_in: int, roots, sizes, precision: Precision, axi_words: int = 0) -> str:
    decls, reads, writes, checks, call = [], [], [], [], []
    for i, a in enumerate(args):
        name, n = roots[a][0], sizes[roots[a][0]]
        ctype = _ctype_of(p, a.type)
        port_type = "float" if ctype == "data_t" else ctype
        decls.append(f"  static {port_type} {name}[{n}];")
        call.append(name)
        if i < n_in:
            reads.append(f'  if (!read_file(dir + "/in{i}.bin", {name}, sizeof {name})) return 2;')
        else:
            k = i - n_in
            writes.append(f'  write_file(dir + "/csim_out{k}.bin", {name}, sizeof {name});')
            if port_type == "float":
                checks.append(
                    f'  {{ static float ref[{n}];\n'
                    f'    if (read_file(dir + "/ref_out{k}.bin", ref, sizeof ref, true)) {{\n'
                    f'      double d = 0, m = 0;\n'
                    f'      for (int i = 0; i < {n}; i++) {{ d = std::fmax(d, std::fabs((double){name}[i] - ref[i])); m = std::fmax(m, std::fabs((double)ref[i])); }}\n'
                    f'      const bool ok = d <= tol * m;\n'
                    f'      std::printf("out{k} ({name}): max|csim - ref| = %.3g, max|ref| = %.3g, bound %.3g: %s\\n", d, m, tol * m, ok ? "PASS" : "FAIL");\n'
                    f'      failed |= !ok; checked++;\n    }}\n  }}'
                )
    default_tol = "1e-4" if precision.kind == "float" else "0.05"
    return f"""/* C-simulation testbench for hetc_top. Generated by hetc.
 *
 *   ./tb [DIR [TOL]]   DIR defaults to tb_data, TOL to {default_tol}
 *
 * Reads DIR/in<i>.bin (raw little-endian arrays in port order), runs hetc_top, writes
 * DIR/csim_out<k>.bin and checks against DIR/ref_out<k>.bin where present:
 * max|csim - ref| <= TOL * max|ref|. Exit status 0 on success, 1 on a mismatch.
 */
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "hetc_top.h"

static bool read_file(const std::string& path, void* buf, size_t bytes, bool optional = false) {{
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {{ if (!optional) std::fprintf(stderr, "cannot open %s\\n", path.c_str()); return false; }}
  const size_t got = std::fread(buf, 1, bytes, f);
  std::fclose(f);
  if (got != bytes) {{ std::fprintf(stderr, "%s: expected %zu bytes, read %zu\\n", path.c_str(), bytes, got); return false; }}
  return true;
}}

static void write_file(const std::string& path, const void* buf, size_t bytes) {{
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f) {{ std::fwrite(buf, 1, bytes, f); std::fclose(f); }}
}}

int main(int argc, char** argv) {{
  const std::string dir = argc > 1 ? argv[1] : "tb_data";
  const double tol = argc > 2 ? std::atof(argv[2]) : {default_tol};
{chr(10).join(decls)}
{chr(10).join(reads)}
{f'  static float weights[{axi_words}];{chr(10)}  if (!read_file(dir + "/weights.bin", weights, sizeof weights)) return 2;' if axi_words else ''}
  hetc_top({', '.join(call + (['weights'] if axi_words else []))});
{chr(10).join(writes)}
  bool failed = false;
  int checked = 0;
{chr(10).join(checks)}
  std::printf("csim: %d output(s) checked, %s\\n", checked, failed ? "FAILED" : "ok");
  return failed ? 1 : 0;
}}
"""


def tcl_script(part: dict, clock_mhz: float | None = None) -> str:
    period = 1000.0 / (clock_mhz or part["clock_mhz"])
    return f"""# Vitis HLS: vitis_hls -f run_hls.tcl   (C simulation, then synthesis for {part['name']})
open_project -reset hetc_hls
set_top hetc_top
add_files hetc_top.cpp -cflags "-std=c++14"
add_files -tb tb.cpp -cflags "-std=c++14"
add_files -tb tb_data
open_solution -reset solution1 -flow_target vivado
set_part {{{part['device']}}}
create_clock -period {period:.3f} -name default
csim_design -argv "tb_data"
csynth_design
exit
"""


# -- builds ------------------------------------------------------------------------------------------


#: the headers ap_fixed.h needs; each must carry the Apache-2.0 licence (hls4ml's copy of
#: hls_stream.h, hls_math.h and ap_shift_reg.h carry proprietary headers: never used)
AP_HEADERS = ("ap_common.h", "ap_decl.h", "ap_fixed.h", "ap_fixed_base.h", "ap_fixed_ref.h", "ap_fixed_special.h",
              "ap_int.h", "ap_int_base.h", "ap_int_ref.h", "ap_int_special.h", "etc/ap_private.h")


def ap_types_dir() -> Path:
    """An include folder with only the Apache-2.0 ap_int.h / ap_fixed.h family, staged in the
    build cache from $HETC_AP_TYPES or from the installed hls4ml package (`hetc[hls]`);
    every header's licence is checked, nothing else from that folder is reachable."""
    source = _ap_types_source()
    staged = cache_root() / "ap_types" / hashlib.sha256(str(source).encode()).hexdigest()[:16]
    if (staged / "ap_fixed.h").exists():
        return staged
    tmp = staged.with_name(staged.name + f".tmp{os.getpid()}")
    for name in AP_HEADERS:
        src = source / name
        if not src.exists():
            raise HetcError(f"{source} lacks {name} (needed by ap_fixed.h)")
        text = src.read_text(errors="replace")
        if "Apache License" not in text[:4000]:
            raise HetcError(f"{src} does not carry the Apache-2.0 licence; hetc will not build with it")
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    (tmp / "NOTICE").write_text(f"Apache-2.0 headers copied from {source} (Xilinx/AMD HLS arbitrary precision types).\n")
    try:
        tmp.rename(staged)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # another build staged it first
    return staged


def _ap_types_source() -> Path:
    env = os.environ.get("HETC_AP_TYPES")
    if env:
        if not (Path(env) / "ap_fixed.h").exists():
            raise HetcError(f"HETC_AP_TYPES={env} has no ap_fixed.h")
        return Path(env)
    import importlib.util

    spec = importlib.util.find_spec("hls4ml")
    if spec and spec.submodule_search_locations:
        d = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
        if (d / "ap_fixed.h").exists():
            return d
    raise HetcError(
        "fixed-point HLS designs need the open-source ap_fixed.h / ap_int.h headers (Apache-2.0)",
        hint="pip install 'hetc[hls]' (the hls4ml package ships them), or set HETC_AP_TYPES to a folder holding them; "
        "float designs (--precision float) need neither",
    )


def cache_root() -> Path:
    return Path(os.environ.get("HETC_CACHE", Path.home() / ".cache" / "hetc")) / "hls-builds"


def build(files: dict[str, str], sources: list[str], output: str, precision: Precision, shared: bool,
          extra_flags: tuple[str, ...] = ()) -> Path:
    """g++ build of `sources` (names in `files`), cached by content; returns the cached binary."""
    cxx = os.environ.get("CXX", "g++")
    flags = CXXFLAGS + (["-shared", *LIB_FLAGS] if shared else []) + list(extra_flags)
    include = [f"-I{ap_types_dir()}"] if precision.kind == "fixed" and "-DHETC_QEMU" not in extra_flags else []
    text = "\0".join(files[k] for k in sorted(files) if k.endswith((".cpp", ".h")))
    key = hashlib.sha256("\0".join([text, cxx, output, *flags, *include]).encode()).hexdigest()[:24]
    out = cache_root() / key / output
    if out.exists():
        return out
    if shutil.which(cxx) is None:
        raise HetcError(f"no C++ compiler: '{cxx}' is not on PATH", hint="install g++ or set CXX")
    with tempfile.TemporaryDirectory(prefix="hetc-hls-") as tmp:
        for name, content in files.items():
            if name.endswith((".cpp", ".h")):
                (Path(tmp) / name).write_text(content)
        built = Path(tmp) / output
        proc = subprocess.run([cxx, *flags, *include, "-o", str(built), *sources], cwd=tmp, capture_output=True, text=True)
        if proc.returncode != 0:
            kept = cache_root() / "failed" / key
            kept.mkdir(parents=True, exist_ok=True)
            for name in files:
                if name.endswith((".cpp", ".h")):
                    shutil.copy(Path(tmp) / name, kept / name)
            raise HetcError(f"{cxx} failed to build the HLS C++ (sources kept at {kept}):\n{proc.stderr.strip()[:2000]}")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_suffix(f".tmp{os.getpid()}")
        shutil.copy(built, tmp_out)
        tmp_out.replace(out)
    return out


def build_library(files: dict[str, str], precision: Precision) -> Path:
    return build(files, ["hetc_top.cpp", "hetc_glue.cpp"], "libhls.so", precision, shared=True)


def build_emulation(files: dict[str, str]) -> Path:
    """The precision search's build: per-layer types as hetc_qfix (no ap_fixed headers needed)."""
    return build(files, ["hetc_top.cpp", "hetc_glue.cpp", "hetc_qemu.cpp"], "libhls_qemu.so", Precision(), shared=True,
                 extra_flags=("-DHETC_QEMU",))


def build_testbench(files: dict[str, str], precision: Precision) -> Path:
    return build(files, ["hetc_top.cpp", "tb.cpp"], "tb", precision, shared=False)


# -- the target ----------------------------------------------------------------------------------------


#: the HLS target's options (`target_options=` / the CLI's --part, --precision, --pragmas) and defaults
OPTIONS = {"part": "u280", "precision": "float", "pragmas": "search", "search_time": 5.0, "seed": 0, "weights": "auto",
           "error_bound": None, "dataflow": False, "progress": None}


def emit_hls(module: ModuleOp, source_name: str, version: str, threads: int = 1, **options) -> dict[str, bytes | str]:
    """The output folder of the HLS target: the project, the csim library, report.json."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise HetcError(f"unknown HLS target option(s) {unknown}; known: {', '.join(OPTIONS)}")
    opts = {**OPTIONS, **options}
    part, precision, pragmas = str(opts["part"]), str(opts["precision"]), str(opts["pragmas"])
    search_time, seed = float(opts["search_time"]), int(opts["seed"])
    import json

    from hetc.backends.hls.estimate import (
        UTILIZATION,
        analyze,
        array_bram,
        default_pragmas,
        estimate,
        is_top_pipeline,
        resolve_part,
        search_pragmas,
    )
    from hetc.backends.targets import compile_report

    try:
        part_key, part_info = resolve_part(part)
    except KeyError as exc:
        raise HetcError(str(exc.args[0]), hint="pass --part u280 or --part zcu104") from None
    try:
        prec = Precision.parse("ap_fixed<32,16>" if precision == "auto" else precision)
    except ValueError as exc:
        raise HetcError(str(exc), hint="--precision float, auto, or e.g. --precision 'ap_fixed<16,6>'") from None
    if pragmas not in ("search", "default"):
        raise HetcError(f"unknown pragma mode '{pragmas}' (search or default)")
    weights = str(opts["weights"])
    if weights not in ("auto", "rom", "axi"):
        raise HetcError(f"unknown weights mode '{weights}' (auto, rom or axi)")
    design = analyze(module)
    precision_search = None
    if precision == "auto":
        prec, precision_search = choose_precision(module, design, opts["error_bound"], opts["progress"])
    if weights == "auto":  # ROMs while they fit in the part's BRAM, else float weights from DDR
        rom_bram = sum(array_bram(design.arrays[w], 1, prec.width)[0] for w in design.weights)
        weights = "axi" if rom_bram > UTILIZATION * part_info["bram"] and prec.kind == "float" else "rom"
    if weights == "axi":
        design = analyze(module, axi_weights=True)
    base = default_pragmas(design)
    dataflow = bool(opts["dataflow"])
    base_est = estimate(design, base, part_info, prec, dataflow)
    searched, info = search_pragmas(design, part_info, prec, time_limit=search_time, seed=seed, dataflow=dataflow)
    searched_est = estimate(design, searched, part_info, prec, dataflow)
    chosen = searched if pragmas == "search" else base
    files: dict[str, bytes | str] = dict(print_hls(module, prec, chosen, source_name=source_name, version=version,
                                                   weights=weights, dataflow=dataflow))
    if weights == "axi":
        files["tb_data/weights.bin"] = axi_weight_layout(module)[1].tobytes()
    taps = json.loads(files.pop("taps.json"))  # type: ignore[arg-type]
    lib = build_library(files, prec)  # type: ignore[arg-type]
    fixed_report = None
    if prec.kind == "fixed":
        float_files = print_hls(module, Precision(), chosen, source_name=source_name, version=version)
        float_files.pop("taps.json")
        bound = float(opts["error_bound"] or (AUTO_BOUND if precision_search else FIXED_BOUND))
        float_lib = build_library(float_files, Precision())
        fixed_report = fixed_point_errors(module, lib, float_lib, taps, bound)
        if precision_search is not None:
            fixed_report["search"] = precision_search
            # measured again with the real ap_fixed build, on every calibration input
            cal_err = calibration_error(module, lib, float_lib, precision_search["calibration_samples"])
            fixed_report["calibration_output_error"] = cal_err
            fixed_report["within_bound"] = fixed_report["within_bound"] and cal_err <= bound
            fixed_report["per_layer"] = per_layer_report(prec, fixed_report["layers"])
            fixed_report["input_precision"] = str(prec.input)  # data_t: the top's copies of the inputs
    files["libhls.so"] = lib.read_bytes()
    files["run_hls.tcl"] = tcl_script(part_info)
    files["tb_data/README.md"] = (
        "Testbench data: in<i>.bin (raw little-endian arrays, port order; here seeded standard-normal inputs) and,\n"
        "optionally, ref_out<k>.bin (expected float32 outputs, e.g. from onnxruntime), which tb checks.\n"
        "From Python: `hetc.runtime.hls_runner.HlsRunner(out).csim(inputs, reference)` writes and runs both.\n"
    )
    files.update(_sample_inputs(module))
    applied = {
        "mode": pragmas,
        "pipeline": "II=1 on every innermost loop, or on its parent where the loop is unrolled fully (hoist)",
        "unroll": {k: u for k, u in chosen["unroll"].items() if u > 1 and k not in chosen.get("hoist", ())},
        "hoist": list(chosen.get("hoist", [])),
        "pipeline_nests": list(chosen.get("pipeline", [])),
        "partition": {k: {"type": "cyclic", "factor": f} for k, f in chosen.get("partition", {}).items()},
        "layers": {k: {"reuse_factor": v["reuse"], "pipelined_loop": v.get("pipeline") or "the whole kernel (one iteration)",
                       "multipliers": chosen.get("layer_multipliers", {}).get(k)}
                   for k, v in chosen.get("layers", {}).items()},
        "top_pipeline": is_top_pipeline(design, chosen.get("layers", {}), dataflow),
    }
    report = compile_report(module)
    report["hls"] = {
        "part": part_key,
        "device": part_info["device"],
        "clock_mhz": part_info["clock_mhz"],
        "precision": str(prec),
        "weights": "on-chip ROMs (static const arrays in weights.h)" if weights == "rom" else
        "float weights read from DDR through the m_axi port `weights` (tb_data/weights.bin); other weights as ROMs",
        "estimate": searched_est if pragmas == "search" else base_est,
        "pragmas": applied,
        "default": {"pragmas": "PIPELINE II=1 on innermost loops, no unroll, no partitioning", "estimate": base_est},
        "searched": {"estimate": searched_est, "search": info},
        "part_resources": {k: part_info[k] for k in ("dsp", "bram", "lut", "ff")},
        "note": "analytic estimates (hetc.backends.hls.estimate); BRAM in 18 Kb blocks; run run_hls.tcl with "
        "Vitis HLS for synthesis numbers",
    }
    other = estimate(design, chosen, part_info, prec, not dataflow)
    on, off = (report["hls"]["estimate"], other) if dataflow else (other, report["hls"]["estimate"])
    report["hls"]["dataflow"] = {
        "enabled": dataflow,
        "note": "stages: the kernels and the m_axi copies; latency = their sum (one input), interval = the largest "
        "stage with DATAFLOW (ping-pong buffers: twice the intermediates' memory), the sum without",
        "with_dataflow": {k: on[k] for k in ("latency_cycles", "interval_cycles", "bram", "lut")},
        "without_dataflow": {k: off[k] for k in ("latency_cycles", "interval_cycles", "bram", "lut")},
    }
    if fixed_report is not None:
        report["hls"]["fixed_point"] = fixed_report
    files["report.json"] = json.dumps(report, indent=2) + "\n"
    return files


def _io_arrays(module: ModuleOp) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Seeded inputs (standard normal; zeros for integer inputs) and empty outputs of @main."""
    from hetc.dialects import onnx as onnx_d

    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    n_in = len(main.attributes["hetc.input_names"].data)
    rng = np.random.default_rng(0)
    ins, outs = [], []
    for i, a in enumerate(main.body.block.args):
        dtype = np.dtype(onnx_d.numpy_dtype(a.type.get_element_type()))
        shape = a.type.get_shape()
        if i >= n_in:
            outs.append(np.zeros(shape, dtype))
        else:
            ins.append(rng.standard_normal(shape).astype(dtype) if dtype.kind == "f" else np.zeros(shape, dtype))
    return ins, outs


def _sample_inputs(module: ModuleOp) -> dict[str, bytes]:
    """tb_data/in<i>.bin: seeded inputs so that csim_design runs out of the box."""
    return {f"tb_data/in{i}.bin": x.tobytes() for i, x in enumerate(_io_arrays(module)[0])}
