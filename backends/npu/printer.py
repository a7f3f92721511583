"""NPU C: the C-family printer's spelling for the scratchpad NPU, and its host program.

Kernels print exactly as the C target's (C99Printer: flat `restrict` pointers, the same
loop nests); on the NPU their operands are pointers into the scratchpad (`npu_spm`). The
host program is @main after hetc-npu-lower: a straight line of npu.h calls, one per
npu op (dma_in / dma_in_region / dma_out / move / matmul_tile / vector), and kernel
calls on SPM pointers at the offsets the plan gave, each after its operand table
(offset, bytes, written) went to the timing model (`npu_compute`, through the small
`hetc_operands` helper that also makes the pointers). alloc / free print as comments:
the SPM has no allocator at run time, the offsets are the plan. The line is cut into
functions of STEPS_PER_PART steps, called in order: one function of tens of thousands of
steps took gcc several times longer.
"""

from __future__ import annotations

import numpy as np
from hetc.backends.c.target import WEIGHTS_MAGIC, C99Printer
from hetc.backends.cfamily.host import elem_bytes, host_model_init_c, nbytes, print_kernels_once, weights_blob
from hetc.backends.npu.config import NpuConfig
from hetc.diagnostics import HetcError
from hetc.dialects import npu
from hetc.passes.npu_lower import ARG_TENSORS_ATTR, COPY, DRAM_BYTES_ATTR, base_of, written_args
from xdsl.dialects import func, memref
from xdsl.dialects.builtin import IntegerAttr, ModuleOp


#: host-program steps per C function (see print_npu)
STEPS_PER_PART = 256


class NpuPrinter(C99Printer):
    """C99 kernels; single-threaded (the NPU's cores are the simulator's one thread)."""

    kernel_qualifiers = "static void"

    def __init__(self) -> None:
        super().__init__(threads=1)


def print_npu(module: ModuleOp, config: NpuConfig, *, source_name: str = "model.onnx", version: str = "") -> tuple[str, str, bytes]:
    """(model.c, model.h, weights.bin) of a module lowered by hetc-npu-lower."""
    p = NpuPrinter()
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    kernels = [op for op in module.ops if isinstance(op, func.FuncOp) and op is not main]
    texts, same_as = print_kernels_once(p, kernels)  # one per tile, often
    writes_of = {k.sym_name.data: set(written_args(k)) for k in kernels}
    writes_of[COPY] = {1}
    blob, goff = weights_blob(module, p)
    wbytes = len(blob)
    in_names = [a.data for a in main.attributes["hetc.input_names"].data]
    out_names = [a.data for a in main.attributes["hetc.output_names"].data]
    n_in = len(in_names)
    args = list(main.body.block.args)
    dram_attr = main.attributes.get(DRAM_BYTES_ATTR)
    dram_bytes = dram_attr.value.data if isinstance(dram_attr, IntegerAttr) else 0
    arg_tensors = [a.data for a in main.attributes[ARG_TENSORS_ATTR].data] if ARG_TENSORS_ATTR in main.attributes else []
    names: dict = {}
    params, ctypes = [], []
    for i, a in enumerate(args):
        names[a] = f"in{i}" if i < n_in else f"out{i - n_in}"
        ct = p.scalar_type(a.type.get_element_type())
        ctypes.append(ct)
        params.append(f"{'const ' if i < n_in else ''}{ct}* {names[a]}")
    tensor_of: dict = {a: t for a, t in zip(args, arg_tensors) if t}
    where: dict[str, int] = {}
    body: list[str] = []
    starts: list[int] = []  # where each step's lines begin in `body`
    nsteps = 0
    for op in main.body.block.ops:
        if isinstance(op, memref.GetGlobalOp):
            names[op.memref] = f"(m->weights + {goff[op.name_.root_reference.data]})"
        elif isinstance(op, memref.AllocOp):
            off = op.attributes.get("hetc.dram_offset")
            names[op.memref] = f"(m->dram + {off.value.data})" if isinstance(off, IntegerAttr) else "NULL"
        if isinstance(op, (memref.GetGlobalOp, memref.AllocOp)) and "npu.tensor" in op.attributes:
            tensor_of[op.memref] = op.attributes["npu.tensor"].data
        if isinstance(op, (memref.GetGlobalOp, memref.AllocOp, memref.ReinterpretCastOp, func.ReturnOp)):
            continue
        nsteps += 1
        starts.append(len(body))
        if isinstance(op, npu.DmaInOp):
            off, size, t = op.offset.value.data, op.bytes.value.data, op.tensor.data
            where[t] = off
            src = names[op.dram]
            if op.starts is not None:
                shape = list(op.dram.type.get_shape())
                lists = [shape, [a.value.data for a in op.starts.data], [a.value.data for a in op.ends.data]]
                s, a, b = ("{" + ", ".join(str(x) for x in v) + "}" for v in lists)
                body.append(f"{{ static const int64_t sh[] = {s}, st[] = {a}, en[] = {b};")
                body.append(f"  npu_dma_in_region({off}, {src}, {elem_bytes(op.dram.type)}, {len(shape)}, sh, st, en); }}  /* {t} */")
            else:
                body.append(f"npu_dma_in({off}, {src}, {size});  /* {t} */")
        elif isinstance(op, npu.DmaOutOp) and op.starts is not None:
            shape = list(op.dram.type.get_shape())
            lists = [shape, [a.value.data for a in op.starts.data], [a.value.data for a in op.ends.data]]
            sh, a, b = ("{" + ", ".join(str(x) for x in v) + "}" for v in lists)
            body.append(f"{{ static const int64_t sh[] = {sh}, st[] = {a}, en[] = {b};")
            body.append(f"  npu_dma_out_region({names[op.dram]}, {op.offset.value.data}, {elem_bytes(op.dram.type)}, "
                        f"{len(shape)}, sh, st, en); }}  /* {op.tensor.data} */")
        elif isinstance(op, npu.DmaOutOp):
            body.append(f"npu_dma_out({names[op.dram]}, {op.offset.value.data}, {op.bytes.value.data});  /* {op.tensor.data} */")
        elif isinstance(op, npu.AllocOp):
            where[op.tensor.data] = op.offset.value.data
            body.append(f"/* alloc {op.tensor.data} at {op.offset.value.data} (+{op.bytes.value.data} B) */")
        elif isinstance(op, npu.FreeOp):
            body.append(f"/* free {op.tensor.data} */")
        elif isinstance(op, npu.MoveOp):
            where[op.tensor.data] = op.dst.value.data
            body.append(f"npu_move({op.dst.value.data}, {op.src.value.data}, {op.bytes.value.data});  /* {op.tensor.data} */")
        elif isinstance(op, npu.MatmulTileOp):
            body.append(f"npu_matmul_tile({op.m.value.data}, {op.n.value.data}, {op.k.value.data});")
        elif isinstance(op, npu.DmaGatherOp):
            body.append(f"npu_dma_gather({op.bytes.value.data});")
        elif isinstance(op, npu.VectorOp):
            body.append(f"npu_vector_op({op.elements.value.data});")
        elif isinstance(op, npu.ComputeOp):
            ptrs, operands = [], []
            written = writes_of.get(op.callee.root_reference.data, set())
            for i, v in enumerate(op.args):
                b, eoff = base_of(v)
                t = tensor_of.get(b)
                if isinstance(b.owner, memref.GetGlobalOp) and (t is None or t not in where):
                    # a table read in DRAM by indexed DMA (npu.dma_gather before this compute)
                    ct = p.scalar_type(v.type.get_element_type())
                    ptrs.append(f"(void*)({ct}*)({names[b]} + {eoff * elem_bytes(v.type)})")
                    continue
                if t is None or t not in where:
                    raise HetcError(f"NPU printer: operand of {op.callee.root_reference.data} is not resident ({t})")
                ct = p.scalar_type(v.type.get_element_type())
                ptrs.append(f"({ct}*)npu_spm({where[t] + eoff * elem_bytes(v.type)}, {nbytes(v.type)})")
                operands.append(f"{{{where[t] + eoff * elem_bytes(v.type)}, {nbytes(v.type)}, {int(i in written)}}}")
            callee = op.callee.root_reference.data
            table = f"static const npu_operand_t o[] = {{{', '.join(operands) or '{0, 0, 0}'}}};"
            if len(operands) == len(op.args):
                # every operand in the SPM: one helper call (timing + pointers), little C per step
                n = len(operands)
                body.append(f"{{ {table} void* a[{n}];  /* {op.op.data} */")
                body.append(f"  if (hetc_operands(o, {n}, a)) return 2;")
                if callee == COPY:
                    body.append(f"  memcpy(a[1], a[0], {nbytes(op.args[0].type)}); }}")
                else:
                    body.append(f"  {same_as.get(callee, callee)}({', '.join(f'a[{i}]' for i in range(n))}); }}")
                continue
            # the timing model's view of the kernel: what it reads and writes in the SPM
            body.append(f"{{ {table} npu_compute(o, {len(operands)}); }}")
            if callee == COPY:
                body.append(f"{{ void* const a[] = {{{', '.join(ptrs)}}};  /* {op.op.data} */")
                body.append(f"  if (npu_stats()->error) return 2;\n    memcpy(a[1], a[0], {nbytes(op.args[0].type)}); }}")
                continue
            body.append(f"{{ void* const a[] = {{{', '.join(ptrs)}}};  /* {op.op.data} */")
            body.append("  if (npu_stats()->error) return 2;")
            casts = ", ".join(f"({p.scalar_type(v.type.get_element_type())}*)a[{i}]" for i, v in enumerate(op.args))
            body.append(f"  {same_as.get(callee, callee)}({casts}); }}")
        else:
            raise HetcError(f"the NPU printer cannot print host op {op.name}")
    registers = [f"npu_register(m->weights, {wbytes}, NPU_DRAM_WEIGHT);"]
    registers += [
        f"npu_register({names[a]}, {nbytes(a.type)}, {'NPU_DRAM_INPUT' if i < n_in else 'NPU_DRAM_OUTPUT'});"
        for i, a in enumerate(args)
    ]
    io_doc = "\n".join(
        f" *   {'in ' if i < n_in else 'out'} {(in_names + out_names)[i]}: {a.type.get_element_type()} {list(a.type.get_shape())}"
        for i, a in enumerate(args)
    )
    ptr_args = ", ".join(
        f"({'const ' if i < n_in else ''}{ct}*)" + (f"inputs[{i}]" if i < n_in else f"outputs[{i - n_in}]")
        for i, ct in enumerate(ctypes)
    )
    c = config
    header = f"""/* Generated by hetc {version} from {source_name}: the model as a program for the hetc NPU
 * ({c.name}: {c.spm_bytes}-byte scratchpad, {c.matrix_n}x{c.matrix_n} matrix unit), against npu.h.
 *
 *   hetc_model* m = hetc_model_init("weights.bin");   (NULL on error: see hetc_model_error())
 *   hetc_model_run(m, inputs..., outputs...);          (0 on success; 2: an illegal SPM access)
 *   hetc_model_free(m);
 *
 * Arguments of hetc_model_run, in order (contiguous row-major buffers in DRAM):
{io_doc}
 * Build with an npu.h implementation, e.g. the simulator:
 *   gcc -O2 -shared -fPIC -o libmodel.so model.c npu_sim.c -lm
 */
#ifndef HETC_MODEL_H
#define HETC_MODEL_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {{
#endif
typedef struct hetc_model hetc_model;
hetc_model* hetc_model_init(const char* weights_path);
int hetc_model_run({', '.join(['hetc_model* m', *params])});
int hetc_model_run_ptrs(hetc_model* m, void* const* inputs, void* const* outputs);
void hetc_model_free(hetc_model* m);
const char* hetc_model_error(void);
#ifdef __cplusplus
}}
#endif
#endif
"""
    # the program in functions of STEPS_PER_PART steps: gcc's time on one function of
    # thousands of steps grows faster than linearly (UNet at 64 KiB: 48 s at -O1)
    cuts = starts[::STEPS_PER_PART][1:] + [len(body)]
    parts, at = [], 0
    for end in cuts:
        parts.append(body[at:end])
        at = end
    part_params = ", ".join(["hetc_model* m", *params])
    part_args = ", ".join(["m", *(names[a] for a in args)])
    part_defs = "\n\n".join(
        f"static int hetc_run_part{i}({part_params}) {{\n" + "\n".join("  " + line for line in lines) + "\n  return 0;\n}"
        for i, lines in enumerate(parts)
    )
    calls = [f"if (hetc_run_part{i}({part_args})) return 2;" for i in range(len(parts))]
    helpers = p.helper_definitions()
    kernel_text = "\n\n".join(([helpers] if helpers else []) + texts)
    source = f"""/* Generated by hetc {version} from {source_name} for the hetc NPU ({c.name}); API in model.h. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "npu.h"

static const npu_config_t hetc_npu_config = {{
  .spm_bytes = {c.spm_bytes}, .matrix_n = {c.matrix_n}, .matrix_cycles_per_tile = {c.matrix_cycles_per_tile},
  .vector_lanes = {c.vector_lanes}, .dma_bytes_per_cycle = {c.dma_bytes_per_cycle},
  .dma_latency_cycles = {c.dma_latency_cycles}, .spm_bytes_per_cycle = {c.spm_bytes_per_cycle},
}};

#define HETC_WEIGHTS_BYTES {wbytes}
#define HETC_DRAM_BYTES {dram_bytes}

struct hetc_model {{
  unsigned char* weights;  /* DRAM: the weights blob */
  unsigned char* dram;     /* DRAM: homes of spilled intermediates */
  void* weights_block;
  void* dram_block;
}};

static unsigned char* hetc_align64(void* block) {{ return (unsigned char*)(((uintptr_t)block + 63) & ~(uintptr_t)63); }}
static char hetc_error[256];
const char* hetc_model_error(void) {{ return hetc_error; }}

/* a kernel's SPM operands: issue it to the timing model, then their pointers; nonzero
   after an illegal access */
static int hetc_operands(const npu_operand_t* o, int n, void** a) {{
  npu_compute(o, n);
  for (int i = 0; i < n; i++) a[i] = npu_spm(o[i].offset, o[i].bytes);
  return npu_stats()->error;
}}

{kernel_text}

{host_model_init_c("dram", "HETC_DRAM_BYTES")}

{part_defs}

int hetc_model_run({', '.join(['hetc_model* m', *params])}) {{
  if (!m || npu_begin(&hetc_npu_config)) return 1;
{chr(10).join('  ' + line for line in registers)}
  npu_register(m->dram, HETC_DRAM_BYTES, NPU_DRAM_SCRATCH);
{chr(10).join('  ' + line for line in calls)}
  return npu_stats()->error ? 2 : 0;
}}

int hetc_model_run_ptrs(hetc_model* m, void* const* inputs, void* const* outputs) {{
  return hetc_model_run(m{', ' + ptr_args if ptr_args else ''});
}}
"""
    weights_file = WEIGHTS_MAGIC + np.uint64(wbytes).tobytes() + bytes(blob)
    return source, header, weights_file
