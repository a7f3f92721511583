"""The CUDA target: kernels from the C-family printer's CUDA spelling, and a host program
that uploads the weights once, keeps intermediates in one device arena (hetc-plan-memory's
offsets), and replays the whole forward pass as a captured CUDA graph.

Output folder: `model.cu` (kernels + host API), `model.h`, `weights.bin` (the C target's
format), `Makefile`, `report.json` and, where nvcc exists, the built `libmodel.so`
(`-arch` for the GPU present, sm_90 when none can be asked).
"""

from __future__ import annotations

import json

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from hetc.backends.c.target import WEIGHTS_MAGIC
from hetc.backends.cfamily.host import BufferCopy, KernelCall, interleave, nbytes, plan_host, weights_reader_c
from hetc.backends.cuda.gemm_wgmma import wgmma_helpers, wgmma_instruction
from hetc.backends.cuda.printer import GEMM_PRECISIONS, CudaPrinter, Launch, device_prelude
from hetc.diagnostics import HetcError


def _launch_call(launch: Launch, args: list[str]) -> str:
    """`kernel<<<grid, block, smem, stream>>>(args);` for one launch."""
    grid = ", ".join(str(max(1, g)) for g in (*launch.grid, 1, 1)[:3])
    return f"{launch.function}<<<dim3({grid}), {launch.block}, {launch.smem}, m->stream>>>({', '.join(args)});"


def _cstr(text: str) -> str:
    return '"' + text.replace("\\", "/").replace('"', "'") + '"'


def print_cuda(module: ModuleOp, *, precision: str = "fp32", arch: str = "sm_90", source_name: str = "model.onnx",
               version: str = "") -> tuple[str, str, bytes]:
    """(model.cu, model.h, weights.bin) for a module lowered by convert-onnx-to-loops{target=gpu}."""
    p = CudaPrinter(precision, arch)
    prog = plan_host(module, p)
    n_in, n_io = len(prog.in_names), len(prog.params)
    launch_labels: list[str] = []
    launch_bytes: list[int] = []
    launch_flops: list[int] = []
    launched: list[Launch] = []  # (identical kernels are printed once: only these names exist)
    n_tmap = 0  # wgmma launches: each has two TMA descriptors in m->tmap

    def step(_index: int, s: KernelCall | BufferCopy) -> list[str]:
        if isinstance(s, BufferCopy):
            return [f"HETC_CHECK(cudaMemcpyAsync({s.dst}, {s.src}, {s.nbytes}, cudaMemcpyDeviceToDevice, m->stream));"]
        lines = []
        moved = sum(nbytes(v.type) for v in s.operands)
        launches: list[Launch] = p.launches[s.callee]
        for launch in launches:
            if launch.tmaps:
                nonlocal n_tmap
                t, n_tmap = n_tmap, n_tmap + 1
                maps = " && ".join(
                    f"hetc_tmap(&m->tmap[{2 * t + i}], {s.args[tm.arg]}, {int(tm.bf16)}, {tm.cols}, {tm.rows}, {tm.row_elems}, "
                    f"{tm.box[0]}, {tm.box[1]}) == 0" for i, tm in enumerate(launch.tmaps))
                lines.append(f"if (!m->tmap_state[{t}]) m->tmap_state[{t}] = ({maps}) ? 1 : 2;  /* 2: misaligned, the mma.sync form */")
                lines.append(f"if (m->tmap_state[{t}] == 1) {_launch_call(launch, [*s.args, f'm->tmap[{2 * t}]', f'm->tmap[{2 * t + 1}]'])}")
                lines.append(f"else {_launch_call(launch.fallback, s.args)}")
                launched.append(launch.fallback)
            else:
                lines.append(_launch_call(launch, [*s.args, "m->work", "m->sems"] if launch.work else s.args))
            lines.append(f"HETC_LAUNCHED({len(launch_labels)});")
            suffix = launch.function[len(s.callee):] if launch.function.startswith(s.callee) else ""
            launch_labels.append(s.label.replace(" <- ", f"{suffix} <- ", 1) if suffix else s.label)
            launch_bytes.append(moved // len(launches))
            launch_flops.append(launch.flops)
            launched.append(launch)
        return lines

    body = interleave(prog, step)
    # one workspace and one semaphore array for all launches that take them: they run one
    # after another on m->stream
    work_floats = max((la.work for la in launched), default=0)
    n_sems = max((la.sems for la in launched), default=0)
    io_ptrs = [
        f"{'const ' if i < n_in else ''}{ctype}* const {'in' if i < n_in else 'out'}{i if i < n_in else i - n_in} = "
        f"({'const ' if i < n_in else ''}{ctype}*)m->io[{i}];"
        for i, ctype in enumerate(prog.arg_ctypes)
    ]
    io_bytes = [nbytes(a.type) for a in prog.main.body.block.args]
    n_launch = max(len(launch_labels), 1)
    helpers = p.helper_definitions()
    tmap_fields = tmap_alloc = driver_includes = ""
    if p.wgmma_forms:  # the driver API's CUtensorMap and the entry point of its encoder
        driver_includes = "\n#include <cuda.h>\n#include <cudaTypedefs.h>"
    if n_tmap:
        tmap_fields = (f"  CUtensorMap* tmap;       /* the wgmma launches' TMA descriptors (64-byte aligned) */\n"
                       f"  int tmap_state[{n_tmap}];  /* per wgmma launch: 0 not encoded yet, 1 ready, 2 the mma.sync form */\n")
        tmap_alloc = (f"  if (posix_memalign((void**)&m->tmap, 64, {2 * n_tmap} * sizeof(CUtensorMap))) "
                      '{ snprintf(hetc_error, sizeof hetc_error, "out of memory"); return 1; }\n')
    if p.wgmma_forms:  # Hopper tiles: the driver API's tensor-map type, the PTX wrappers
        helpers = "\n".join([helpers, wgmma_helpers(), *(wgmma_instruction(k, bn) for k, bn in sorted(p.wgmma_forms))])
    # kernels whose shared-memory stages exceed the 48 KiB a launch gets by default
    big = sorted({(la.function, la.smem) for la in launched if la.smem > 48 * 1024})
    smem_attrs = "".join(f"  HETC_CHECK(cudaFuncSetAttribute({f}, cudaFuncAttributeMaxDynamicSharedMemorySize, {b}));\n" for f, b in big)
    header = f"""/* Generated by hetc {version} from {source_name}: the model as a CUDA library.
 *
 *   hetc_model* m = hetc_model_init("weights.bin");   (NULL on error: see hetc_model_error())
 *   hetc_model_run(m, inputs..., outputs...);            (host buffers; returns 0 on success)
 *   hetc_model_free(m);
 *
 * Arguments of hetc_model_run, in order (contiguous row-major host buffers):
{prog.io_doc}
 * Init uploads the weights once and allocates a {prog.arena_bytes}-byte device arena for the
 * intermediates{f", a {4 * (work_floats + n_sems)}-byte workspace (GEMMs whose K is split across blocks)" if work_floats else ""} and device buffers for the inputs and outputs. The first run captures the
 * forward pass as a CUDA graph (HETC_CUDA_GRAPH=0 in the environment: plain launches);
 * later runs replay it. GEMMs: {precision}. Not thread-safe per model instance.
 */
#ifndef HETC_MODEL_H
#define HETC_MODEL_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {{
#endif

typedef struct hetc_model hetc_model;

hetc_model* hetc_model_init(const char* weights_path);
int hetc_model_run({', '.join(['hetc_model* m', *prog.params])});
/* the same, with arrays of host pointers (for FFI callers) */
int hetc_model_run_ptrs(hetc_model* m, void* const* inputs, void* const* outputs);
/* device side only: the forward pass on the device input/output buffers, no copies, no sync */
int hetc_model_run_device(hetc_model* m);
/* device buffer of input i (0..{n_in - 1}) or output j (index {n_in} + j) */
void* hetc_model_device_buffer(hetc_model* m, int i);
/* `runs` forward passes (graph replays), each timed with CUDA events: ms[i] */
int hetc_model_time(hetc_model* m, int runs, float* ms);
/* per kernel launch, in program order: mean ms over `runs` plain (uncaptured) passes */
int hetc_model_profile(hetc_model* m, int runs, double* ms, int capacity);
/* label, bytes of its buffers and flops of launch i (for achieved bandwidth / FLOP rate) */
const char* hetc_model_launch_label(int i);
double hetc_model_launch_bytes(int i);
double hetc_model_launch_flops(int i);
int hetc_model_launch_count(void);
void hetc_model_free(hetc_model* m);
const char* hetc_model_error(void);

#ifdef __cplusplus
}}
#endif
#endif
"""
    kernels = "\n\n".join(([helpers] if helpers else []) + prog.kernel_texts)
    source = f"""/* Generated by hetc {version} from {source_name}; see model.h for the API. */
#include <cuda_runtime.h>{driver_includes}
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

#define HETC_WEIGHTS_BYTES {len(prog.weights)}ULL
#define HETC_ARENA_BYTES {prog.arena_bytes}ULL
#define HETC_WORK_FLOATS {work_floats}ULL
#define HETC_N_SEMS {n_sems}ULL
#define HETC_N_IO {max(n_io, 1)}
#define HETC_N_LAUNCH {n_launch}

{device_prelude()}

{kernels}

/* ---- host side ---- */

static char hetc_error[1024];
extern "C" const char* hetc_model_error(void) {{ return hetc_error; }}

#define HETC_CHECK(call) do {{ const cudaError_t e_ = (call); if (e_ != cudaSuccess) {{ \\
  snprintf(hetc_error, sizeof hetc_error, "%s: %s (model.cu:%d)", #call, cudaGetErrorString(e_), __LINE__); return 1; }} }} while (0)

static const char* const hetc_launch_labels[HETC_N_LAUNCH] = {{
  {(','+chr(10)+'  ').join(_cstr(x) for x in launch_labels) or '""'}
}};
static const double hetc_launch_bytes_[HETC_N_LAUNCH] = {{ {', '.join(str(b) for b in launch_bytes) or '0'} }};
static const double hetc_launch_flops_[HETC_N_LAUNCH] = {{ {', '.join(str(f) for f in launch_flops) or '0'} }};
static const size_t hetc_io_bytes[HETC_N_IO] = {{ {', '.join(str(b) for b in io_bytes) or '0'} }};

struct hetc_model {{
  unsigned char* weights;  /* device */
  unsigned char* arena;    /* device */
  float* work;             /* device: split GEMMs' partial tiles */
  unsigned* sems;          /* device: their tiles' semaphores (zeroed at init, left zeroed by each launch) */
  void* io[HETC_N_IO];     /* device buffers of the inputs, then the outputs */
  cudaStream_t stream;
  cudaGraphExec_t graph;
  int use_graph;
  cudaEvent_t* prof;       /* set while profiling: an event after every launch */
{tmap_fields}}};
{TMAP_HOST if n_tmap else ""}

/* a launch's configuration error, or (profiling) the event that ends its time */
#define HETC_LAUNCHED(i) do {{ const cudaError_t e_ = cudaGetLastError(); if (e_ != cudaSuccess) {{ \\
  snprintf(hetc_error, sizeof hetc_error, "launch of %s failed: %s", hetc_launch_labels[i], cudaGetErrorString(e_)); return 1; }} \\
  if (m->prof) HETC_CHECK(cudaEventRecord(m->prof[(i) + 1], m->stream)); }} while (0)

static int hetc_forward(hetc_model* m) {{
{chr(10).join('  ' + line for line in io_ptrs)}
{chr(10).join('  ' + line for line in body)}
  return 0;
}}

extern "C" const char* hetc_model_launch_label(int i) {{ return i >= 0 && i < {len(launch_labels)} ? hetc_launch_labels[i] : ""; }}
extern "C" double hetc_model_launch_bytes(int i) {{ return i >= 0 && i < {len(launch_labels)} ? hetc_launch_bytes_[i] : 0.0; }}
extern "C" double hetc_model_launch_flops(int i) {{ return i >= 0 && i < {len(launch_labels)} ? hetc_launch_flops_[i] : 0.0; }}
extern "C" int hetc_model_launch_count(void) {{ return {len(launch_labels)}; }}

extern "C" void hetc_model_free(hetc_model* m) {{
  if (!m) return;
  if (m->graph) cudaGraphExecDestroy(m->graph);
  for (int i = 0; i < HETC_N_IO; i++) if (m->io[i]) cudaFree(m->io[i]);
  if (m->arena) cudaFree(m->arena);
  if (m->work) cudaFree(m->work);
  if (m->sems) cudaFree(m->sems);
  if (m->weights) cudaFree(m->weights);
  if (m->stream) cudaStreamDestroy(m->stream);
{"  free(m->tmap);" + chr(10) if n_tmap else ""}  free(m);
}}

{weights_reader_c()}

static int hetc_init(hetc_model* m, const char* weights_path) {{
  int devices = 0;
  const cudaError_t e = cudaGetDeviceCount(&devices);
  if (e != cudaSuccess || devices == 0) {{
    snprintf(hetc_error, sizeof hetc_error, "no CUDA GPU (%s); targets that work without one: c, numpy, hls",
             e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports 0 devices");
    return 1;
  }}
  HETC_CHECK(cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking));
{tmap_alloc}{smem_attrs}  const char* g = getenv("HETC_CUDA_GRAPH");
  m->use_graph = !(g && g[0] == '0');
  const uint64_t size = HETC_WEIGHTS_BYTES;
  void* host = malloc(size ? size : 1);
  if (!host) {{ snprintf(hetc_error, sizeof hetc_error, "out of memory"); return 1; }}
  if (hetc_read_weights(weights_path, host, size)) {{ free(host); return 1; }}
  const cudaError_t w = cudaMalloc((void**)&m->weights, size ? size : 1);
  if (w == cudaSuccess && size) cudaMemcpy(m->weights, host, size, cudaMemcpyHostToDevice);  /* once, at init */
  free(host);
  HETC_CHECK(w);
  HETC_CHECK(cudaMalloc((void**)&m->arena, HETC_ARENA_BYTES ? HETC_ARENA_BYTES : 1));
  if (HETC_WORK_FLOATS) {{
    HETC_CHECK(cudaMalloc((void**)&m->work, HETC_WORK_FLOATS * sizeof(float)));
    HETC_CHECK(cudaMalloc((void**)&m->sems, HETC_N_SEMS * sizeof(unsigned)));
    HETC_CHECK(cudaMemset(m->sems, 0, HETC_N_SEMS * sizeof(unsigned)));
  }}
  for (int i = 0; i < HETC_N_IO; i++) HETC_CHECK(cudaMalloc(&m->io[i], hetc_io_bytes[i] ? hetc_io_bytes[i] : 1));
  HETC_CHECK(cudaDeviceSynchronize());
  return 0;
}}

extern "C" hetc_model* hetc_model_init(const char* weights_path) {{
  hetc_model* m = (hetc_model*)calloc(1, sizeof(hetc_model));
  if (!m) {{ snprintf(hetc_error, sizeof hetc_error, "out of memory"); return NULL; }}
  if (hetc_init(m, weights_path) != 0) {{ hetc_model_free(m); return NULL; }}
  return m;
}}

extern "C" void* hetc_model_device_buffer(hetc_model* m, int i) {{ return m && i >= 0 && i < HETC_N_IO ? m->io[i] : NULL; }}

extern "C" int hetc_model_run_device(hetc_model* m) {{
  if (!m) return 1;
  if (!m->use_graph) return hetc_forward(m);
  if (!m->graph) {{
    cudaGraph_t g;
    HETC_CHECK(cudaStreamBeginCapture(m->stream, cudaStreamCaptureModeThreadLocal));
    const int rc = hetc_forward(m);
    const cudaError_t e = cudaStreamEndCapture(m->stream, &g);
    if (rc != 0) return rc;
    HETC_CHECK(e);
    const cudaError_t i = cudaGraphInstantiate(&m->graph, g, 0);
    cudaGraphDestroy(g);
    HETC_CHECK(i);
  }}
  HETC_CHECK(cudaGraphLaunch(m->graph, m->stream));
  return 0;
}}

extern "C" int hetc_model_run_ptrs(hetc_model* m, void* const* inputs, void* const* outputs) {{
  if (!m) return 1;
  for (int i = 0; i < {n_in}; i++) HETC_CHECK(cudaMemcpyAsync(m->io[i], inputs[i], hetc_io_bytes[i], cudaMemcpyHostToDevice, m->stream));
  if (hetc_model_run_device(m) != 0) return 1;
  for (int i = {n_in}; i < {n_io}; i++)
    HETC_CHECK(cudaMemcpyAsync(outputs[i - {n_in}], m->io[i], hetc_io_bytes[i], cudaMemcpyDeviceToHost, m->stream));
  HETC_CHECK(cudaStreamSynchronize(m->stream));
  return 0;
}}

extern "C" int hetc_model_run({', '.join(['hetc_model* m', *prog.params])}) {{
  void* ins[{max(n_in, 1)}] = {{ {', '.join(f'(void*){x}' for x in [f'in{i}' for i in range(n_in)]) or 'NULL'} }};
  void* outs[{max(n_io - n_in, 1)}] = {{ {', '.join(f'(void*)out{j}' for j in range(n_io - n_in)) or 'NULL'} }};
  return hetc_model_run_ptrs(m, ins, outs);
}}

extern "C" int hetc_model_time(hetc_model* m, int runs, float* ms) {{
  if (!m) return 1;
  cudaEvent_t a, b;
  HETC_CHECK(cudaEventCreate(&a));
  HETC_CHECK(cudaEventCreate(&b));
  if (hetc_model_run_device(m) != 0) return 1;  /* captures the graph outside the timing */
  for (int r = 0; r < runs; r++) {{
    HETC_CHECK(cudaEventRecord(a, m->stream));
    if (hetc_model_run_device(m) != 0) return 1;
    HETC_CHECK(cudaEventRecord(b, m->stream));
    HETC_CHECK(cudaEventSynchronize(b));
    HETC_CHECK(cudaEventElapsedTime(&ms[r], a, b));
  }}
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return 0;
}}

extern "C" int hetc_model_profile(hetc_model* m, int runs, double* ms, int capacity) {{
  if (!m) return -1;
  cudaEvent_t ev[HETC_N_LAUNCH + 1];
  for (int i = 0; i <= HETC_N_LAUNCH; i++) HETC_CHECK(cudaEventCreate(&ev[i]));
  for (int i = 0; i < capacity && i < {len(launch_labels)}; i++) ms[i] = 0.0;
  for (int r = 0; r < runs; r++) {{
    m->prof = ev;
    HETC_CHECK(cudaEventRecord(ev[0], m->stream));
    const int rc = hetc_forward(m);
    m->prof = NULL;
    if (rc != 0) return -1;
    HETC_CHECK(cudaStreamSynchronize(m->stream));
    for (int i = 0; i < capacity && i < {len(launch_labels)}; i++) {{
      float t = 0.0f;
      HETC_CHECK(cudaEventElapsedTime(&t, ev[i], ev[i + 1]));
      ms[i] += t / runs;
    }}
  }}
  for (int i = 0; i <= HETC_N_LAUNCH; i++) cudaEventDestroy(ev[i]);
  return {len(launch_labels)};
}}
"""
    weights_file = WEIGHTS_MAGIC + np.uint64(len(prog.weights)).tobytes() + prog.weights
    return source, header, weights_file


TMAP_HOST = r"""
/* a TMA descriptor of a row-major [rows, cols] half matrix, rows row_elems apart, copied in
   box0 x box1 boxes with the 128-byte swizzle; nonzero where one cannot be made */
static PFN_cuTensorMapEncodeTiled_v12000 hetc_encode_tiled = NULL;
static int hetc_tmap(CUtensorMap* map, const void* p, int bf16, uint64_t cols, uint64_t rows, uint64_t row_elems,
                     uint32_t box0, uint32_t box1) {
  const char* off = getenv("HETC_CUDA_TMA");  /* 0: the mma.sync form everywhere (measurements, tests) */
  if ((off && off[0] == '0') || ((uintptr_t)p & 15) || (row_elems * 2) % 16) return 1;
  if (!hetc_encode_tiled) {
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", (void**)&hetc_encode_tiled, 12000, cudaEnableDefault, &q) != cudaSuccess
        || q != cudaDriverEntryPointSuccess) { hetc_encode_tiled = NULL; return 1; }
  }
  cuuint64_t dims[2] = {cols, rows}, strides[1] = {row_elems * 2};
  cuuint32_t box[2] = {box0, box1}, one[2] = {1, 1};
  return hetc_encode_tiled(map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 2, (void*)p, dims, strides,
                           box, one, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                           CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS;
}
"""


def makefile(arch: str) -> str:
    from hetc.backends.cuda.toolchain import NVCC_FLAGS

    return f"""# Rebuild the library: make (needs nvcc; ARCH=sm_80 etc. for another GPU)
NVCC ?= nvcc
ARCH ?= {arch}
libmodel.so: model.cu model.h
\t$(NVCC) {' '.join(NVCC_FLAGS)} -gencode arch=compute_$(subst sm_,,$(ARCH)),code=$(ARCH) -o $@ model.cu
"""


def emit_cuda(module: ModuleOp, source_name: str, version: str, threads: int = 1, *, precision: str = "fp32",
              arch: str | None = None, build: bool = True) -> dict[str, bytes | str]:
    """The output folder's files; `libmodel.so` is built where nvcc exists (`build`)."""
    from hetc.backends.cuda.toolchain import build_library, gpu_arch
    from hetc.backends.targets import compile_report

    if precision not in GEMM_PRECISIONS:
        raise HetcError(f"unknown CUDA precision '{precision}' (fp32: exact float32 GEMMs on the CUDA cores; "
                        "tf32: GEMMs on the tensor cores, 10-bit mantissa inputs; fp16 / bf16: float16 / bfloat16 "
                        "storage by hetc-narrow-storage, GEMMs on the tensor cores)")
    arch = arch or gpu_arch()
    source, header, weights = print_cuda(module, precision=precision, arch=arch, source_name=source_name, version=version)
    if arch == "sm_90" and "hetc_wgmma_" in source:
        arch = "sm_90a"  # wgmma and TMA are Hopper-specific features
    report = compile_report(module)
    report["cuda"] = {"precision": precision, "arch": arch}
    files: dict[str, bytes | str] = {
        "report.json": json.dumps(report, indent=2) + "\n",
        "model.cu": source,
        "model.h": header,
        "weights.bin": weights,
        "Makefile": makefile(arch),
    }
    if build:
        lib = build_library({"model.cu": source, "model.h": header}, "model.cu", arch)
        files["libmodel.so"] = lib.read_bytes()
    return files
