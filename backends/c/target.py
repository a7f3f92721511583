"""The C99 target: the C-family printer's C spelling, the host program, and the build.

Output folder: `model.c` (kernels + host program), `model.h` (the init/run/free API),
`weights.bin` (all weights, 64-byte aligned, loaded once at init), `Makefile`, and the
built `libmodel.so`. Builds are cached by the hash of the source and flags.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from xdsl.dialects import func, memref
from xdsl.dialects.builtin import Float32Type, IntegerAttr, ModuleOp

from hetc.backends.cfamily.narrow import NarrowFloatHelpers, is_narrow_float
from hetc.backends.cfamily.printer import CFamilyPrinter
from hetc.backends.cfamily.vecmath import HELPERS as VECMATH
from hetc.backends.cfamily.vecmath import definitions as vecmath_definitions
from hetc.diagnostics import HetcError

WEIGHTS_MAGIC = b"HETCWTS1"
CFLAGS = [
    # fused multiply-add where the hardware has it (-std=c99 would turn contraction off):
    # one rounding instead of two, and 20% faster GEMMs here
    "-O3", "-march=native", "-std=c99", "-fPIC", "-shared", "-ffp-contract=fast",
    # GCC keeps to 256-bit vectors on AVX-512 parts unless asked; the GEMM tiles are sized
    # for 512-bit registers (27% faster on ResNet-50 here). A no-op without AVX-512.
    "-mprefer-vector-width=512",
    "-Wall", "-Werror=implicit-function-declaration",
]


class C99Printer(CFamilyPrinter):
    """C99 for CPUs: `restrict` pointers, libm float functions, OpenMP when threads > 1."""

    #: kernels stay functions: inlined into the run function (gcc inlines a static
    #: function called once) their `restrict` parameters turn into arena offsets the
    #: compiler must assume alias, and a fused depthwise kernel ran 5x slower
    kernel_qualifiers = "static HETC_KERNEL void"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.narrow = NarrowFloatHelpers("static inline")
        self.vecmath_used: set[str] = set()

    def parallel_pragma(self) -> str | None:
        return f"#pragma omp parallel for schedule(static) num_threads({self.threads})" if self.threads > 1 else None

    def convert_float(self, x: str, src, dst, round_mode: str | None = None) -> str:
        """Narrow floats (bit patterns in uint16_t/uint8_t) convert through float with
        the helpers of hetc.backends.cfamily.narrow (exact to float, nearest even back)."""
        if is_narrow_float(src):
            x = self.narrow.to_f32(x, src)
            if not is_narrow_float(dst):
                return x if dst.bitwidth == 32 else f"({self.scalar_type(dst)}){x}"
        if is_narrow_float(dst):
            return self.narrow.from_float(x, dst, double=src.bitwidth == 64, round_mode=round_mode)
        return super().convert_float(x, src, dst, round_mode)

    def math_function(self, name: str, t) -> str:
        """float32 exp/tanh/erf as inline arithmetic (backends/cfamily/vecmath.py), so
        loops that call them vectorize; the rest is libm."""
        if isinstance(t, Float32Type) and name in VECMATH:
            self.vecmath_used.add(name)
            return VECMATH[name][0]
        return super().math_function(name, t)

    def helper_definitions(self) -> str:
        return "\n\n".join(d for d in (vecmath_definitions(self.vecmath_used), self.narrow.definitions()) if d)


def _arena_plan(main: func.FuncOp) -> tuple[dict, int]:
    """Arena offsets from hetc-plan-memory, or one slot per buffer when it did not run."""
    offsets, end = {}, 0
    for op in main.walk():
        if isinstance(op, memref.AllocOp):
            size = int(np.prod(op.memref.type.get_shape(), dtype=np.int64)) * _elem_bytes(op.memref.type)
            attr = op.attributes.get("hetc.arena_offset")
            if isinstance(attr, IntegerAttr):
                offsets[op.memref] = attr.value.data
                end = max(end, attr.value.data + size)
            else:
                offsets[op.memref] = end
                end += (size + 63) // 64 * 64
    planned = main.attributes.get("hetc.arena_bytes")
    return offsets, max(end, planned.value.data if isinstance(planned, IntegerAttr) else 0)


def _elem_bytes(t) -> int:
    return max(1, t.get_element_type().bitwidth // 8)  # bool is one byte


def print_c(module: ModuleOp, *, threads: int = 1, source_name: str = "model.onnx", version: str = "") -> tuple[str, str, bytes]:
    """(model.c, model.h, weights.bin) for a module lowered by convert-onnx-to-loops."""
    p = C99Printer(threads)
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    kernels = [op for op in module.ops if isinstance(op, func.FuncOp) and op is not main]
    weights, wbytes = p.host_layout(module)
    blob = bytearray(wbytes)
    goffset = {}
    for g, off in weights:
        data = g.initial_value.data.data
        blob[off : off + len(data)] = data
        goffset[g.sym_name.data] = off
    arena, arena_bytes = _arena_plan(main)
    # Kernels of identical code (the same GEMM for every batch or head, say) are printed
    # once; calls go to the first of each. The comment line (its ONNX nodes) is not code.
    same_as: dict[str, str] = {}
    by_body: dict[str, str] = {}
    kernel_texts = []
    for k in kernels:
        name = k.sym_name.data
        text = p.print_kernel(k)
        comment, code = text.split("\n", 1)
        key = code.replace(f" {name}(", " KERNEL(", 1)
        if key in by_body:
            same_as[name] = by_body[key]
            continue
        by_body[key] = name
        kernel_texts.append(text)
    in_names = [a.data for a in main.attributes["hetc.input_names"].data]
    out_names = [a.data for a in main.attributes["hetc.output_names"].data]
    n_in = len(in_names)
    args = list(main.body.block.args)
    names: dict = {}
    params = []
    for i, a in enumerate(args):
        names[a] = f"in{i}" if i < n_in else f"out{i - n_in}"
        ctype = p.scalar_type(a.type.get_element_type())
        params.append(f"{'const ' if i < n_in else ''}{ctype}* {names[a]}")
    body = []
    counter = 0
    kernel_by_name = {k.sym_name.data: k for k in kernels}
    call_labels: list[str] = []
    for op in main.body.block.ops:
        if isinstance(op, memref.AllocOp):
            counter += 1
            names[op.memref] = f"t{counter}"
            ctype = p.scalar_type(op.memref.type.get_element_type())
            body.append(f"{ctype}* const t{counter} = ({ctype}*)(m->arena + {arena[op.memref]});  /* {op.memref.type} */")
        elif isinstance(op, memref.GetGlobalOp):
            counter += 1
            names[op.memref] = f"w{counter}"
            ctype = p.scalar_type(op.memref.type.get_element_type())
            body.append(f"const {ctype}* const w{counter} = (const {ctype}*)(m->weights + {goffset[op.name_.root_reference.data]});")
        elif isinstance(op, memref.ReinterpretCastOp):
            counter += 1
            off = op.static_offsets.get_values()[0]
            src = names[op.source]
            names[op.result] = f"{src} + {off}" if off else src
        elif isinstance(op, func.CallOp):
            called = op.callee.root_reference.data
            callee = same_as.get(called, called)
            cargs = ", ".join(f"({names[a]})" if "+" in names[a] else names[a] for a in op.arguments)
            # every call is timed when built with -DHETC_PROFILE (hetc run --profile)
            body.append(f"HETC_PROF_CALL({len(call_labels)}, {callee}({cargs}));")
            call_labels.append(_call_label(kernel_by_name[called]))
        elif isinstance(op, memref.CopyOp):
            n = int(np.prod(op.source.type.get_shape(), dtype=np.int64)) * _elem_bytes(op.source.type)
            body.append(f"memcpy({names[op.destination]}, {names[op.source]}, {n});")
        elif isinstance(op, func.ReturnOp):
            continue
        else:
            raise HetcError(f"the C printer cannot print host op {op.name}")
    ptr_args = ", ".join(
        f"({'const ' if i < n_in else ''}{p.scalar_type(a.type.get_element_type())}*)" + (f"inputs[{i}]" if i < n_in else f"outputs[{i - n_in}]")
        for i, a in enumerate(args)
    )
    io_doc = "\n".join(
        f" *   {'in ' if i < n_in else 'out'} {(in_names + out_names)[i]}: {a.type.get_element_type()} {list(a.type.get_shape())}"
        for i, a in enumerate(args)
    )
    header = f"""/* Generated by hetc {version} from {source_name}: the model as a C library.
 *
 *   hetc_model* m = hetc_model_init("weights.bin");   (NULL on error: see hetc_model_error())
 *   hetc_model_run(m, inputs..., outputs...);            (returns 0 on success)
 *   hetc_model_free(m);
 *
 * Arguments of hetc_model_run, in order (contiguous row-major buffers):
{io_doc}
 * The caller owns all input and output buffers; the model owns its weights and a
 * {arena_bytes}-byte arena for intermediates. Not thread-safe per model instance.
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
/* the same, with arrays of pointers (for FFI callers) */
int hetc_model_run_ptrs(hetc_model* m, void* const* inputs, void* const* outputs);
void hetc_model_free(hetc_model* m);
const char* hetc_model_error(void);
#ifdef HETC_PROFILE
/* built with -DHETC_PROFILE: per-kernel-call nanoseconds, summed since the last reset */
int hetc_model_profile(const char** labels, double* ns, int capacity);
void hetc_model_profile_reset(void);
#endif

#ifdef __cplusplus
}}
#endif
#endif
"""
    helpers = p.helper_definitions()  # (after the kernels: only those they call)
    kernel_text = "\n\n".join(([helpers] if helpers else []) + kernel_texts)
    source = f"""/* Generated by hetc {version} from {source_name}; see model.h for the API. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime, for -DHETC_PROFILE */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#if defined(__GNUC__)
#define HETC_KERNEL __attribute__((noinline))
#else
#define HETC_KERNEL
#endif

#define HETC_WEIGHTS_BYTES {wbytes}
#define HETC_ARENA_BYTES {arena_bytes}

struct hetc_model {{
  unsigned char* weights;  /* 64-byte aligned views into the raw blocks below */
  unsigned char* arena;
  void* weights_block;
  void* arena_block;
}};

/* C99 has no aligned_alloc: over-allocate and align by hand */
static unsigned char* hetc_align64(void* block) {{
  return (unsigned char*)(((uintptr_t)block + 63) & ~(uintptr_t)63);
}}

static char hetc_error[256];
const char* hetc_model_error(void) {{ return hetc_error; }}

{_profile_block(call_labels)}

{kernel_text}

hetc_model* hetc_model_init(const char* weights_path) {{
  hetc_model* m = (hetc_model*)calloc(1, sizeof(hetc_model));
  FILE* f = NULL;
  if (!m) goto fail;
  m->weights_block = malloc((size_t)HETC_WEIGHTS_BYTES + 64);
  m->arena_block = malloc((size_t)HETC_ARENA_BYTES + 64);
  if (!m->weights_block || !m->arena_block) {{ snprintf(hetc_error, sizeof hetc_error, "out of memory"); goto fail; }}
  m->weights = hetc_align64(m->weights_block);
  m->arena = hetc_align64(m->arena_block);
  f = fopen(weights_path, "rb");
  if (!f) {{ snprintf(hetc_error, sizeof hetc_error, "cannot open weights file %s", weights_path); goto fail; }}
  char magic[8];
  uint64_t size = 0;
  if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "HETCWTS1", 8) != 0 || fread(&size, 8, 1, f) != 1 || size != HETC_WEIGHTS_BYTES) {{
    snprintf(hetc_error, sizeof hetc_error, "%s is not the weights file of this model", weights_path);
    goto fail;
  }}
  if (size && fread(m->weights, 1, size, f) != size) {{
    snprintf(hetc_error, sizeof hetc_error, "%s is truncated", weights_path);
    goto fail;
  }}
  fclose(f);
  return m;
fail:
  if (f) fclose(f);
  hetc_model_free(m);
  return NULL;
}}

void hetc_model_free(hetc_model* m) {{
  if (!m) return;
  free(m->weights_block);
  free(m->arena_block);
  free(m);
}}

int hetc_model_run({', '.join(['hetc_model* m', *params])}) {{
  if (!m) return 1;
{chr(10).join('  ' + line for line in body)}
  return 0;
}}

int hetc_model_run_ptrs(hetc_model* m, void* const* inputs, void* const* outputs) {{
  return hetc_model_run(m{', ' + ptr_args if ptr_args else ''});
}}
"""
    weights_file = WEIGHTS_MAGIC + np.uint64(wbytes).tobytes() + bytes(blob)
    return source, header, weights_file


def _call_label(kernel: func.FuncOp) -> str:
    """`k12_conv_gemm <- /layer1/conv1`: the kernel and the ONNX nodes it came from."""
    nodes = [a.data for a in kernel.attributes["hetc.onnx_nodes"].data] if "hetc.onnx_nodes" in kernel.attributes else []
    return kernel.sym_name.data + (" <- " + ", ".join(nodes) if nodes else "")


def _profile_block(labels: list[str]) -> str:
    """Per-call timers, compiled in only with -DHETC_PROFILE (no cost otherwise)."""
    quoted = ",\n  ".join('"' + label.replace("\\", "/").replace('"', "'") + '"' for label in labels) or '""'
    n = max(len(labels), 1)
    return f"""#ifdef HETC_PROFILE
#include <time.h>
#define HETC_PROF_N {n}
static const char* const hetc_prof_labels[HETC_PROF_N] = {{
  {quoted}
}};
static double hetc_prof_ns[HETC_PROF_N];
static double hetc_now_ns(void) {{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}}
#define HETC_PROF_CALL(i, ...) do {{ const double t0_ = hetc_now_ns(); __VA_ARGS__; hetc_prof_ns[i] += hetc_now_ns() - t0_; }} while (0)
/* Kernel calls in program order: their labels and the nanoseconds spent in each since
 * the last reset (summed over runs). Returns the number of calls. */
int hetc_model_profile(const char** labels, double* ns, int capacity) {{
  for (int i = 0; i < HETC_PROF_N && i < capacity; i++) {{ labels[i] = hetc_prof_labels[i]; ns[i] = hetc_prof_ns[i]; }}
  return {len(labels)};
}}
void hetc_model_profile_reset(void) {{ memset(hetc_prof_ns, 0, sizeof hetc_prof_ns); }}
#else
#define HETC_PROF_CALL(i, ...) __VA_ARGS__
#endif"""


def cache_root() -> Path:
    return Path(os.environ.get("HETC_CACHE", Path.home() / ".cache" / "hetc")) / "c-builds"


def build_shared_library(source: str, header: str, threads: int = 1, profile: bool = False) -> Path:
    """Compile to a shared library, cached by content; returns the cached .so path.
    `profile` builds the variant that times every kernel call (hetc_model_profile)."""
    cc = os.environ.get("CC", "gcc")
    flags = CFLAGS + (["-fopenmp"] if threads > 1 else []) + (["-DHETC_PROFILE"] if profile else [])
    key = hashlib.sha256("\0".join([source, header, cc, *flags]).encode()).hexdigest()[:24]
    lib = cache_root() / key / "libmodel.so"
    if lib.exists():
        return lib
    if shutil.which(cc) is None:
        raise HetcError(f"no C compiler: '{cc}' is not on PATH", hint="install gcc or set CC")
    with tempfile.TemporaryDirectory(prefix="hetc-cc-") as tmp:
        src = Path(tmp) / "model.c"
        src.write_text(source)
        (Path(tmp) / "model.h").write_text(header)
        out = Path(tmp) / "libmodel.so"
        proc = subprocess.run([cc, *flags, "-o", str(out), str(src), "-lm"], capture_output=True, text=True)
        if proc.returncode != 0:
            kept = cache_root() / "failed" / key
            kept.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, kept / "model.c")
            shutil.copy(Path(tmp) / "model.h", kept / "model.h")
            raise HetcError(
                f"{cc} failed to build the generated C (source kept at {kept}/model.c):\n{proc.stderr.strip()[:2000]}"
            )
        lib.parent.mkdir(parents=True, exist_ok=True)
        tmp_lib = lib.with_suffix(f".tmp{os.getpid()}")
        shutil.copy(out, tmp_lib)
        tmp_lib.replace(lib)
    return lib


def makefile(threads: int) -> str:
    flags = " ".join(CFLAGS + (["-fopenmp"] if threads > 1 else []))
    return f"""# Rebuild the library: make (needs gcc; the prebuilt libmodel.so is already here)
CC ?= gcc
libmodel.so: model.c model.h
\t$(CC) {flags} -o $@ model.c -lm
"""
