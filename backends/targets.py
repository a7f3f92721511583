"""The code generators hetc has, by `--target` name."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    #: passes after the graph pipeline, before emission (the target's lowering)
    passes: tuple[str, ...]
    #: (module, source_name, version, threads) -> files of the output folder
    emit: Callable[[ModuleOp, str, str, int], dict[str, bytes | str]]
    #: output folder -> object with run(list of arrays) -> list of arrays
    load: Callable[[Path], object]
    readme: str


def _emit_numpy(module: ModuleOp, source_name: str, version: str, threads: int = 1) -> dict[str, bytes | str]:
    from hetc.backends.numpy.emitter import emit_numpy

    art = emit_numpy(module, source_name=source_name, version=version)
    buf = io.BytesIO()
    np.savez(buf, **art.weights)
    return {"model.py": art.source, "weights.npz": buf.getvalue()}


def _load_numpy(out_dir: Path):
    from hetc.runtime.numpy_runner import NumpyRunner

    return NumpyRunner(out_dir)


def _emit_c(module: ModuleOp, source_name: str, version: str, threads: int = 1, **options) -> dict[str, bytes | str]:
    import json

    from hetc.backends.c.target import build_shared_library, makefile, print_c
    from hetc.diagnostics import HetcError
    from hetc.passes.narrow_storage import C_PRECISIONS

    unknown = sorted(set(options) - {"precision"})
    if unknown:
        raise HetcError(f"target 'c' has no option {', '.join(unknown)} (it takes precision)")
    # storage only (hetc-narrow-storage ran already, see compiler/api.py): checked here for direct callers
    precision = options.get("precision", "fp32")
    if precision not in C_PRECISIONS:
        raise HetcError(f"unknown C precision '{precision}' ({'; '.join(f'{k}: {v}' for k, v in C_PRECISIONS.items())})")
    source, header, weights = print_c(module, threads=threads, source_name=source_name, version=version)
    lib = build_shared_library(source, header, threads)
    report = compile_report(module)
    report["c"] = {"precision": precision}
    return {
        "report.json": json.dumps(report, indent=2) + "\n",
        "model.c": source,
        "model.h": header,
        "weights.bin": weights,
        "Makefile": makefile(threads),
        "libmodel.so": lib.read_bytes(),
    }


def compile_report(module: ModuleOp) -> dict:
    """What the C target's passes decided, from the attributes they left on @main:
    fusion groups (hetc-fuse), layout per convolution region (hetc-choose-layout) and
    the arena plan (hetc-plan-memory), each with the cost model's predictions."""
    import json

    from xdsl.dialects import func
    from xdsl.dialects.builtin import DictionaryAttr, FloatAttr, IntegerAttr, StringAttr

    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")

    def plain(attr):
        if isinstance(attr, IntegerAttr):
            is_bool = getattr(attr.type, "width", None) is not None and attr.type.width.data == 1
            return bool(attr.value.data) if is_bool else attr.value.data
        if isinstance(attr, FloatAttr):
            return attr.value.data
        if isinstance(attr, StringAttr):
            return attr.data
        if isinstance(attr, DictionaryAttr):
            return {k: plain(v) for k, v in attr.data.items()}
        return [plain(a) for a in attr.data]

    fusion = main.attributes.get("hetc.fusion_report")
    layout = main.attributes.get("hetc.layout_report")
    memory = main.attributes.get("hetc.memory_plan")
    narrow = main.attributes.get("hetc.narrow_storage_report")  # hetc-narrow-storage (precision fp16/bf16)
    elided = main.attributes.get("hetc.elided_copies")  # hetc-elide-copies
    return {
        "narrow_storage": json.loads(narrow.data) if isinstance(narrow, StringAttr) else None,
        "elided_copies": elided.value.data if elided is not None else 0,
        "fusion": json.loads(fusion.data) if isinstance(fusion, StringAttr) else None,
        "layout": {
            "regions": plain(layout) if layout is not None else [],
            "note": "per region of convolution tensors: the layout chosen (or forced) and the cost model's "
            "predicted time of its convolutions and edge transposes in each layout, in ms per run",
        },
        "memory": {
            **(plain(memory) if isinstance(memory, DictionaryAttr) else {}),
            "note": "intermediates share one arena: arena_bytes (this plan) vs tensor_bytes (no reuse) vs "
            "greedy_by_size_bytes (the TFLite allocator's plan); lower_bound_bytes = most bytes live at once",
        },
        "measure": "per-kernel times: hetc run MODEL --target c --profile (each kernel is named after its ONNX nodes)",
    }


def _emit_hls(module: ModuleOp, source_name: str, version: str, threads: int = 1, **options) -> dict[str, bytes | str]:
    from hetc.backends.hls.target import emit_hls

    return emit_hls(module, source_name, version, threads, **options)


def _emit_cuda(module: ModuleOp, source_name: str, version: str, threads: int = 1, **options) -> dict[str, bytes | str]:
    from hetc.backends.cuda.target import emit_cuda
    from hetc.diagnostics import HetcError

    unknown = sorted(set(options) - {"precision", "arch", "build"})
    if unknown:
        raise HetcError(f"target 'cuda' has no option {', '.join(unknown)} (it takes precision, arch, build)")

    return emit_cuda(module, source_name, version, threads, **options)


def _load_cuda(out_dir: Path):
    from hetc.runtime.cuda_runner import CudaRunner

    return CudaRunner(out_dir)


def _load_hls(out_dir: Path):
    from hetc.runtime.hls_runner import HlsRunner

    return HlsRunner(out_dir)


def _emit_npu(module: ModuleOp, source_name: str, version: str, threads: int = 1, **options) -> dict[str, bytes | str]:
    from hetc.backends.npu.target import emit_npu

    return emit_npu(module, source_name, version, threads, **options)


def _load_npu(out_dir: Path):
    from hetc.runtime.npu_runner import NpuRunner

    return NpuRunner(out_dir)


def _load_c(out_dir: Path):
    from hetc.runtime.c_runner import CRunner

    return CRunner(out_dir)


TARGETS: dict[str, Target] = {
    "numpy": Target(
        "numpy",
        "standalone NumPy module (the reference every other backend is checked against)",
        (),
        _emit_numpy,
        _load_numpy,
        "`model.py` needs only numpy: `import model; w = model.load_weights(); "
        "outs = model.forward(w, *inputs)` (inputs in the order of manifest.json).",
    ),
    "c": Target(
        "c",
        "C99 library for CPUs (model.c, model.h, weights.bin, libmodel.so)",
        # float16/bfloat16 graphs compute in float32 (hetc-lift-narrow-floats), storage narrowed after the lowering
        ("hetc-lift-narrow-floats", "hetc-choose-layout", "hetc-canonicalize", "hetc-dce", "hetc-fuse-horizontal", "hetc-fuse", "convert-onnx-to-loops",
         "hetc-narrow-storage", "hetc-elide-copies", "hetc-plan-memory"),
        _emit_c,
        _load_c,
        "`libmodel.so` is built (rebuild with `make`); the API is in `model.h`: "
        "`hetc_model_init(\"weights.bin\")`, `hetc_model_run(m, inputs..., outputs...)`, `hetc_model_free(m)`.",
    ),
    "cuda": Target(
        "cuda",
        "CUDA library for NVIDIA GPUs (model.cu, model.h, weights.bin; libmodel.so built by nvcc)",
        # NCHW: the GPU mapping spreads every dim of a layer over threads either way
        ("hetc-lift-narrow-floats", "hetc-choose-layout{layout=nchw}", "hetc-canonicalize", "hetc-dce", "hetc-fuse-horizontal{device=h100}", "hetc-fuse{device=h100}",
         "convert-onnx-to-loops{target=gpu}",
         "hetc-narrow-storage", "hetc-elide-copies", "hetc-plan-memory"),
        _emit_cuda,
        _load_cuda,
        "`libmodel.so` is built by nvcc for the GPU present (rebuild with `make ARCH=sm_XY`); the API is in "
        "`model.h`: `hetc_model_init(\"weights.bin\")` uploads the weights, `hetc_model_run(m, inputs..., outputs...)` "
        "takes host buffers and replays the forward pass as a CUDA graph, `hetc_model_free(m)`. "
        "GEMM precision and arch: `report.json` (\"cuda\").",
    ),
    "hls": Target(
        "hls",
        "Vitis HLS C++ for FPGAs (hetc_top.cpp, weights.h, tb.cpp, run_hls.tcl; g++ C-simulation libhls.so)",
        # the plain GEMM form: no tile padding, bias/activation in the MAC nest, and NCHW so that every
        # convolution is an implicit GEMM over its input (the NHWC path writes im2col buffers);
        # no hetc-lift-narrow-floats: HlsPrinter has no float16 <-> float32 conversion yet
        ("hetc-choose-layout{layout=nchw}", "hetc-canonicalize", "hetc-dce", "hetc-fuse",
         "convert-onnx-to-loops{target=plain}"),
        _emit_hls,
        _load_hls,
        "`hetc_top.cpp` holds the top function `hetc_top` (m_axi ports, s_axilite control) and its kernels, "
        "`weights.h` the weights as ROMs, `tb.cpp` the C-simulation testbench. With Vitis HLS: "
        "`vitis_hls -f run_hls.tcl` (csim + synthesis for the part). Without it, `libhls.so` is the g++ "
        "C-simulation build that `Session.run` calls. Estimates and the chosen pragmas: `report.json` (\"hls\").",
    ),
    "npu": Target(
        "npu",
        "C for the hetc NPU, a scratchpad accelerator (model.c against npu.h; libmodel.so linked with its simulator)",
        # tiling, the loop lowering and the scratchpad plan depend on the preset: emit runs them
        ("hetc-lift-narrow-floats", "hetc-choose-layout{layout=nchw}", "hetc-canonicalize", "hetc-dce"),
        _emit_npu,
        _load_npu,
        "`model.c` is the model as a program against `npu.h` (DMA in/out of a software-managed scratchpad, "
        "kernels on scratchpad pointers); `libmodel.so` links it with the simulator `npu_sim.c` (rebuild with "
        "`make`). API in `model.h`: `hetc_model_init(\"weights.bin\")`, `hetc_model_run(m, inputs..., outputs...)`, "
        "`hetc_model_free(m)`. Traffic, cycles and the scratchpad picture: `report.json` / `report.html` (\"npu\").",
    ),
}
