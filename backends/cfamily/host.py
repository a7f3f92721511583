"""The host program every C-family target prints: the walk over @main after the loop lowering.

@main holds buffers (`memref.alloc` with arena offsets from hetc-plan-memory), weights
(`memref.get_global`), views (`memref.reinterpret_cast`), copies and one `func.call` per
kernel. `plan_host` turns that into target-neutral steps with C expressions for every
buffer (pointers into `m->arena` / `m->weights`, which are host memory for C and device
memory for CUDA), prints the kernels once each (identical bodies share one function),
and lays out the weights blob. Targets format only the calls and copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects import func, memref
from xdsl.dialects.builtin import IntegerAttr, ModuleOp
from xdsl.ir import SSAValue

from hetc.diagnostics import HetcError


@dataclass
class KernelCall:
    callee: str  # the printed kernel it runs (the first of identical ones)
    args: list[str]  # C expressions of its buffers
    label: str  # `k12_conv_gemm <- /layer1/conv1`
    kernel: func.FuncOp  # the kernel as lowered (its own name)
    operands: list[SSAValue]


@dataclass
class BufferCopy:
    dst: str
    src: str
    nbytes: int


@dataclass
class HostProgram:
    main: func.FuncOp
    kernel_texts: list[str]
    #: lines declaring the buffers (`float* const t3 = (float*)(m->arena + 128);`)
    declarations: list[str]
    #: in program order, each after the declarations it needs
    steps: list[tuple[int, KernelCall | BufferCopy]]
    weights: bytes
    arena_bytes: int
    in_names: list[str]
    out_names: list[str]
    #: `const float* in0`, `float* out0`, ...
    params: list[str]
    #: element C type of each @main argument
    arg_ctypes: list[str]
    io_doc: str
    calls: list[KernelCall] = field(default_factory=list)


def elem_bytes(t) -> int:
    return max(1, t.get_element_type().bitwidth // 8)  # bool is one byte


def nbytes(t) -> int:
    return int(np.prod(t.get_shape(), dtype=np.int64)) * elem_bytes(t)


def arena_plan(main: func.FuncOp) -> tuple[dict, int]:
    """Arena offsets from hetc-plan-memory, or one slot per buffer when it did not run."""
    offsets, end = {}, 0
    for op in main.walk():
        if isinstance(op, memref.AllocOp):
            size = nbytes(op.memref.type)
            attr = op.attributes.get("hetc.arena_offset")
            if isinstance(attr, IntegerAttr):
                offsets[op.memref] = attr.value.data
                end = max(end, attr.value.data + size)
            else:
                offsets[op.memref] = end
                end += (size + 63) // 64 * 64
    planned = main.attributes.get("hetc.arena_bytes")
    return offsets, max(end, planned.value.data if isinstance(planned, IntegerAttr) else 0)


def call_label(kernel: func.FuncOp) -> str:
    """`k12_conv_gemm <- /layer1/conv1`: the kernel and the ONNX nodes it came from."""
    nodes = [a.data for a in kernel.attributes["hetc.onnx_nodes"].data] if "hetc.onnx_nodes" in kernel.attributes else []
    return kernel.sym_name.data + (" <- " + ", ".join(nodes) if nodes else "")


def plan_host(module: ModuleOp, printer) -> HostProgram:
    """Print the kernels with `printer` and walk @main into declarations and steps."""
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    kernels = [op for op in module.ops if isinstance(op, func.FuncOp) and op is not main]
    blob, goffset = weights_blob(module, printer)
    arena, arena_bytes = arena_plan(main)
    kernel_texts, same_as = print_kernels_once(printer, kernels)
    in_names = [a.data for a in main.attributes["hetc.input_names"].data]
    out_names = [a.data for a in main.attributes["hetc.output_names"].data]
    n_in = len(in_names)
    args = list(main.body.block.args)
    names: dict = {}
    params, ctypes = [], []
    for i, a in enumerate(args):
        names[a] = f"in{i}" if i < n_in else f"out{i - n_in}"
        ctype = printer.scalar_type(a.type.get_element_type())
        ctypes.append(ctype)
        params.append(f"{'const ' if i < n_in else ''}{ctype}* {names[a]}")
    declarations: list[str] = []
    steps: list[tuple[int, KernelCall | BufferCopy]] = []
    calls: list[KernelCall] = []
    counter = 0
    kernel_by_name = {k.sym_name.data: k for k in kernels}
    for op in main.body.block.ops:
        if isinstance(op, memref.AllocOp):
            counter += 1
            names[op.memref] = f"t{counter}"
            ctype = printer.scalar_type(op.memref.type.get_element_type())
            declarations.append(f"{ctype}* const t{counter} = ({ctype}*)(m->arena + {arena[op.memref]});  /* {op.memref.type} */")
        elif isinstance(op, memref.GetGlobalOp):
            counter += 1
            names[op.memref] = f"w{counter}"
            ctype = printer.scalar_type(op.memref.type.get_element_type())
            declarations.append(
                f"const {ctype}* const w{counter} = (const {ctype}*)(m->weights + {goffset[op.name_.root_reference.data]});"
            )
        elif isinstance(op, memref.ReinterpretCastOp):
            off = op.static_offsets.get_values()[0]
            src = names[op.source]
            names[op.result] = f"{src} + {off}" if off else src
        elif isinstance(op, func.CallOp):
            called = op.callee.root_reference.data
            call = KernelCall(
                same_as.get(called, called),
                [f"({names[a]})" if "+" in names[a] else names[a] for a in op.arguments],
                call_label(kernel_by_name[called]),
                kernel_by_name[called],
                list(op.arguments),
            )
            calls.append(call)
            steps.append((len(declarations), call))
        elif isinstance(op, memref.CopyOp):
            steps.append((len(declarations), BufferCopy(names[op.destination], names[op.source], nbytes(op.source.type))))
        elif isinstance(op, func.ReturnOp):
            continue
        else:
            raise HetcError(f"the C-family printer cannot print host op {op.name}")
    io_doc = "\n".join(
        f" *   {'in ' if i < n_in else 'out'} {(in_names + out_names)[i]}: {a.type.get_element_type()} {list(a.type.get_shape())}"
        for i, a in enumerate(args)
    )
    return HostProgram(
        main, kernel_texts, declarations, steps, bytes(blob), arena_bytes, in_names, out_names, params, ctypes, io_doc, calls
    )


def interleave(program: HostProgram, format_step) -> list[str]:
    """The body of the run function: declarations and formatted steps in program order."""
    body: list[str] = []
    done = 0
    for index, (ndecl, step) in enumerate(program.steps):
        body.extend(program.declarations[done:ndecl])
        done = ndecl
        body.extend(format_step(index, step))
    body.extend(program.declarations[done:])
    return body


def weights_reader_c(static: str = "static") -> str:
    """C of `hetc_read_weights(path, dst, bytes)`, which every generated library (C, CUDA,
    NPU) uses at init: checks the weights file's magic and size, reads its blob into host
    memory `dst`, and on failure sets `hetc_error` (declared before it) and returns 1."""
    return f"""{static} int hetc_read_weights(const char* path, void* dst, uint64_t bytes) {{
  FILE* f = fopen(path, "rb");
  if (!f) {{ snprintf(hetc_error, sizeof hetc_error, "cannot open weights file %s", path); return 1; }}
  char magic[8];
  uint64_t size = 0;
  const int ok = fread(magic, 1, 8, f) == 8 && memcmp(magic, "HETCWTS1", 8) == 0 && fread(&size, 8, 1, f) == 1 && size == bytes;
  const int short_read = ok && size && fread(dst, 1, size, f) != size;
  fclose(f);
  if (!ok) {{ snprintf(hetc_error, sizeof hetc_error, "%s is not the weights file of this model", path); return 1; }}
  if (short_read) {{ snprintf(hetc_error, sizeof hetc_error, "%s is truncated", path); return 1; }}
  return 0;
}}"""


def host_model_init_c(block: str, size_macro: str) -> str:
    """C of `hetc_model_init` / `hetc_model_free` for a host-memory model (C and NPU targets):
    two 64-byte aligned blocks, `weights` (read by `hetc_read_weights`) and `block` of
    `size_macro` bytes (the C arena, the NPU's DRAM homes), each kept with its `_block`
    allocation for free()."""
    return f"""{weights_reader_c()}

hetc_model* hetc_model_init(const char* weights_path) {{
  hetc_model* m = (hetc_model*)calloc(1, sizeof(hetc_model));
  if (!m) return NULL;
  m->weights_block = malloc((size_t)HETC_WEIGHTS_BYTES + 64);
  m->{block}_block = malloc((size_t){size_macro} + 64);
  if (!m->weights_block || !m->{block}_block) {{ snprintf(hetc_error, sizeof hetc_error, "out of memory"); goto fail; }}
  m->weights = hetc_align64(m->weights_block);
  m->{block} = hetc_align64(m->{block}_block);
  if (hetc_read_weights(weights_path, m->weights, HETC_WEIGHTS_BYTES)) goto fail;
  return m;
fail:
  hetc_model_free(m);
  return NULL;
}}

void hetc_model_free(hetc_model* m) {{
  if (!m) return;
  free(m->weights_block);
  free(m->{block}_block);
  free(m);
}}"""


def print_kernels_once(printer, kernels: list[func.FuncOp]) -> tuple[list[str], dict[str, str]]:
    """Kernels of identical code (the same GEMM for every batch, head or tile, say) are
    printed once; calls go to the first of each. The comment line (its ONNX nodes) is not
    code. Returns (the printed kernels, kernel name -> the name it is the same as)."""
    same_as: dict[str, str] = {}
    by_body: dict[str, str] = {}
    texts = []
    for k in kernels:
        name = k.sym_name.data
        text = printer.print_kernel(k)
        key = text.split("\n", 1)[1].replace(name, "KERNEL")
        if key in by_body:
            same_as[name] = by_body[key]
            continue
        by_body[key] = name
        texts.append(text)
    return texts, same_as


def weights_blob(module: ModuleOp, printer) -> tuple[bytearray, dict[str, int]]:
    """The weights file's blob laid out by `printer.host_layout` and each global's offset in it."""
    placed, wbytes = printer.host_layout(module)
    blob = bytearray(wbytes)
    offsets = {}
    for g, off in placed:
        data = g.initial_value.data.data
        blob[off : off + len(data)] = data
        offsets[g.sym_name.data] = off
    return blob, offsets
