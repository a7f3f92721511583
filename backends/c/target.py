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
from xdsl.dialects.builtin import BFloat16Type, Float16Type, Float32Type, ModuleOp

from hetc.backends.cfamily.host import BufferCopy, interleave, plan_host, host_model_init_c
from hetc.backends.cfamily.narrow import NarrowFloatHelpers
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


#: f16/bf16 <-> f32 for the conversions hetc-narrow-storage adds (`hetc.storage` on the
#: extf/truncf): bit for bit what the generic helpers (backends/cfamily/narrow.py, ml_dtypes)
#: give, but integer and float ops without frexp/ldexp calls, so the loops around them
#: vectorize (with the generic f16 helpers an fp16 ResNet-18 ran ~350x slower than fp32 here).
STORAGE_HELPERS = {
    # every float op runs on every element and selects pick integers after it: with GCC's
    # default -ftrapping-math a float op or conversion inside a ?: arm is not if-converted
    # and the loop does not vectorize
    "hetc_sf16_to_f32": """static inline float hetc_sf16_to_f32(uint16_t h) {
  const uint32_t em = h & 0x7fffu, m = (em & 0x3ffu) << 13;
  float sub = 0.0f, f;  /* subnormals: (1 + m) * 2^-14 - 2^-14 = m * 2^-24, exact */
  uint32_t b = 0x38800000u | m;
  memcpy(&sub, &b, 4);
  sub -= 0x1p-14f;
  memcpy(&b, &sub, 4);
  /* normal: rebias the exponent by 112; infinity and NaN (payload kept): by 224 */
  b = em >= 0x400u ? (em << 13) + (em >= 0x7c00u ? 0x70000000u : 0x38000000u) : b;
  b |= (uint32_t)(h & 0x8000u) << 16;
  memcpy(&f, &b, 4);
  return f;
}""",
    "hetc_sf16_from_f32": """static inline uint16_t hetc_sf16_from_f32(float x) {
  uint32_t b, s;
  memcpy(&b, &x, 4);
  const uint32_t a = b & 0x7fffffffu, p = (a >> 13) & 0x3ffu;
  const uint32_t normal = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;  /* nearest even */
  /* below 2^-14: + 0.5 rounds to a multiple of 2^-24 (nearest even), whose count is the
   * subnormal's pattern (1024: the smallest normal) */
  float t;
  memcpy(&t, &a, 4);
  t += 0.5f;  /* on every value (no select before it: see above); used below 2^-14 only */
  memcpy(&s, &t, 4);
  uint32_t m = a >= 0x38800000u ? normal : s - 0x3f000000u;  /* (one select a line: GCC vectorizes it) */
  m = a >= 0x477ff000u ? 0x7c00u : m;                          /* from 65520 up: infinity */
  m = a > 0x7f800000u ? 0x7c00u | p | (p == 0u) : m;           /* NaN: the payload's top bits, never 0 */
  return (uint16_t)((b >> 16 & 0x8000u) | m);
}""",
    "hetc_sbf16_to_f32": """static inline float hetc_sbf16_to_f32(uint16_t h) {
  const uint32_t b = (uint32_t)h << 16;
  float f;
  memcpy(&f, &b, 4);
  return f;
}""",
    "hetc_sbf16_from_f32": """static inline uint16_t hetc_sbf16_from_f32(float x) {
  uint32_t b;
  memcpy(&b, &x, 4);
  return (b & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((b >> 16 & 0x8000u) | 0x7fc0u)
                                         : (uint16_t)((b + 0x7fffu + (b >> 16 & 1u)) >> 16);  /* nearest even */
}""",
}


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
        self.storage_used: list[str] = []

    def parallel_pragma(self) -> str | None:
        return f"#pragma omp parallel for schedule(static) num_threads({self.threads})" if self.threads > 1 else None

    def math_function(self, name: str, t) -> str:
        """float32 exp/tanh/erf as inline arithmetic (backends/cfamily/vecmath.py), so
        loops that call them vectorize; the rest is libm."""
        if isinstance(t, Float32Type) and name in VECMATH:
            self.vecmath_used.add(name)
            return VECMATH[name][0]
        return super().math_function(name, t)

    def _cast_expr(self, op, x: str) -> str:
        """hetc-narrow-storage's f32 <-> f16/bf16 conversions through STORAGE_HELPERS."""
        src, dst = op.operands[0].type, op.results[0].type
        narrow = dst if isinstance(src, Float32Type) else src if isinstance(dst, Float32Type) else None
        if "hetc.storage" in op.attributes and isinstance(narrow, (Float16Type, BFloat16Type)):
            kind = "f16" if isinstance(narrow, Float16Type) else "bf16"
            name = f"hetc_s{kind}_{'from_f32' if narrow is dst else 'to_f32'}"
            if name not in self.storage_used:
                self.storage_used.append(name)
            return f"{name}({x})"
        return super()._cast_expr(op, x)

    def helper_definitions(self) -> str:
        storage = "\n\n".join(STORAGE_HELPERS[n] for n in self.storage_used)
        return "\n\n".join(d for d in (vecmath_definitions(self.vecmath_used), self.narrow.definitions(), storage) if d)


def print_c(module: ModuleOp, *, threads: int = 1, source_name: str = "model.onnx", version: str = "") -> tuple[str, str, bytes]:
    """(model.c, model.h, weights.bin) for a module lowered by convert-onnx-to-loops."""
    p = C99Printer(threads)
    prog = plan_host(module, p)
    kernel_texts, wbytes, arena_bytes = prog.kernel_texts, len(prog.weights), prog.arena_bytes
    params, io_doc, n_in = prog.params, prog.io_doc, len(prog.in_names)
    call_labels = [c.label for c in prog.calls]
    ncalls = 0

    def step(_index: int, s) -> list[str]:
        nonlocal ncalls
        if isinstance(s, BufferCopy):
            return [f"memcpy({s.dst}, {s.src}, {s.nbytes});"]
        ncalls += 1
        # every call is timed when built with -DHETC_PROFILE (hetc run --profile)
        return [f"HETC_PROF_CALL({ncalls - 1}, {s.callee}({', '.join(s.args)}));"]

    body = interleave(prog, step)
    ptr_args = ", ".join(
        f"({'const ' if i < n_in else ''}{ctype}*)" + (f"inputs[{i}]" if i < n_in else f"outputs[{i - n_in}]")
        for i, ctype in enumerate(prog.arg_ctypes)
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

{host_model_init_c("arena", "HETC_ARENA_BYTES")}

int hetc_model_run({', '.join(['hetc_model* m', *params])}) {{
  if (!m) return 1;
{chr(10).join('  ' + line for line in body)}
  return 0;
}}

int hetc_model_run_ptrs(hetc_model* m, void* const* inputs, void* const* outputs) {{
  return hetc_model_run(m{', ' + ptr_args if ptr_args else ''});
}}
"""
    weights_file = WEIGHTS_MAGIC + np.uint64(wbytes).tobytes() + prog.weights
    return source, header, weights_file


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
