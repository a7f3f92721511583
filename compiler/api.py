"""The Python API: `hetc.compile(model, target=...)` returns a Session to run."""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import onnx
from xdsl.dialects.builtin import BFloat16Type, Float16Type, ModuleOp, TensorType

from hetc.artifacts import MANIFEST, read_manifest, write_output_dir
from hetc.backends.targets import TARGETS
from hetc.diagnostics import HetcError
from hetc.dialects import onnx as onnx_d
from hetc.frontend.onnx_importer import INPUT_NAMES_ATTR, OUTPUT_NAMES_ATTR, import_model
from hetc.passes.narrow_storage import precision_pass_options, storage_precision
from hetc.pipeline import GRAPH_PIPELINE, run_pipeline

__all__ = ["Session", "compile", "compile_module"]


def _version() -> str:
    from hetc import __version__

    return __version__


def _describe(names: list[str], types: list[TensorType]) -> list[dict]:
    return [
        {"name": n, "dtype": str(onnx_d.numpy_dtype(t.get_element_type())), "shape": list(t.get_shape())}
        for n, t in zip(names, types)
    ]


def compile_module(
    model: str | Path | onnx.ModelProto,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    frozen_inputs: Mapping[str, np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ModuleOp:
    """Import and run the graph pipeline; returns the optimized `onnx`-dialect module."""
    if progress:
        progress("import")
    module = import_model(model, input_shapes, frozen_inputs=frozen_inputs)
    file = str(model) if not isinstance(model, onnx.ModelProto) else None
    try:
        return run_pipeline(module, GRAPH_PIPELINE, progress=progress)
    except HetcError as err:
        raise err.with_file(file) if file else err


class Session:
    """A compiled model, loaded and ready to run; like onnxruntime's InferenceSession."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.manifest = read_manifest(self.out_dir)
        target = self.manifest["target"]
        if target not in TARGETS and target != "partitioned":
            raise HetcError(f"'{out_dir}' was built for unknown target '{target}'")
        self.target = target
        self._inputs = self.manifest["inputs"]
        self._outputs = self.manifest["outputs"]
        if target == "partitioned":
            from hetc.runtime.partitioned_runner import PartitionedRunner

            self._runner = PartitionedRunner(self.out_dir)
        else:
            self._runner = TARGETS[target].load(self.out_dir)

    @property
    def input_names(self) -> list[str]:
        return [i["name"] for i in self._inputs]

    @property
    def output_names(self) -> list[str]:
        return [o["name"] for o in self._outputs]

    @property
    def stats(self) -> dict | None:
        """Counters of the last run, where the target keeps them (NPU: the simulator's DMA
        bytes, compulsory / non-compulsory split and cycles); None elsewhere."""
        return getattr(self._runner, "stats", None)

    def run(self, feeds: Mapping[str, np.ndarray], output_names: Sequence[str] | None = None) -> list[np.ndarray]:
        """Run on `feeds` (input name -> array); returns outputs in graph order."""
        if not isinstance(feeds, Mapping):
            raise HetcError("feeds must be a dict of input name -> array")
        unknown = sorted(set(feeds) - set(self.input_names))
        if unknown:
            raise HetcError(f"unknown input(s) {unknown}; the model's inputs are {self.input_names}")
        args = []
        for spec in self._inputs:
            name = spec["name"]
            if name not in feeds:
                raise HetcError(f"missing input '{name}' ({spec['dtype']}{spec['shape']})")
            value = np.asarray(feeds[name])
            if value.dtype != np.dtype(spec["dtype"]):
                raise HetcError(f"input '{name}' has dtype {value.dtype}, the model takes {spec['dtype']}")
            if list(value.shape) != list(spec["shape"]):
                raise HetcError(
                    f"input '{name}' has shape {list(value.shape)}, the model was compiled for {spec['shape']}",
                    hint="recompile with --input-shape / input_shapes to bind another shape",
                )
            args.append(value)
        outs = self._runner.run(args)
        if output_names is None:
            return outs
        index = {n: i for i, n in enumerate(self.output_names)}
        unknown = [n for n in output_names if n not in index]
        if unknown:
            raise HetcError(f"unknown output(s) {unknown}; the model's outputs are {self.output_names}")
        return [outs[index[n]] for n in output_names]


    def profile(self, feeds: Mapping[str, np.ndarray], runs: int = 10) -> list[tuple[str, float]]:
        """(kernel call label, mean seconds per run) for every kernel call in program
        order. C target: from a build with per-call timers (cached beside the normal one);
        CUDA target: CUDA events between the launches of uncaptured passes."""
        if self.target not in ("c", "cuda"):
            raise HetcError(f"per-kernel profiling needs the C or CUDA target; this model was built for '{self.target}'")
        self.run(feeds)  # validates the feeds
        args = [np.asarray(feeds[spec["name"]]) for spec in self._inputs]
        if self.target == "cuda":
            return [(k["label"], k["seconds"]) for k in self._runner.profile(args, runs)]
        from hetc.runtime.c_runner import CRunner

        return CRunner.profiled(self.out_dir).profile(args, runs)


_TEMP_DIRS: list[str] = []


@atexit.register
def _cleanup() -> None:
    for d in _TEMP_DIRS:
        shutil.rmtree(d, ignore_errors=True)


def _source_hash(model) -> str:
    if isinstance(model, onnx.ModelProto):
        return hashlib.sha256(model.SerializeToString()).hexdigest()
    path = Path(model)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


def _with_options(spec: str, extra: str) -> str:
    """`name{a=1}` + "b=2" -> `name{b=2,a=1}`: a target's own options (`hetc-fuse{device=h100}`)
    win over the ones the caller fills in for every target (`mode=...`)."""
    name, _, own = spec.partition("{")
    opts = dict(kv.split("=", 1) for kv in f"{extra},{own.rstrip('}')}".split(",") if kv)
    return f"{name}{{{','.join(f'{k}={v}' for k, v in opts.items())}}}" if opts else name


def attention_by_default(module: ModuleOp, target: str, target_options: Mapping[str, object] | None) -> bool:
    """Fuse attention groups unless told otherwise? On the CUDA target with 16-bit storage
    (precision fp16 / bf16, or a float16 / bfloat16 model narrowed automatically), where the
    group is a FlashAttention-style tensor-core kernel. Elsewhere its one-row-at-a-time
    kernel measured slower than the tiled GEMMs + softmax (CPU: ViT-tiny 5.9 vs 4.4 ms)."""
    if target != "cuda":
        return False
    precision = (target_options or {}).get("precision")
    if precision is not None:
        return precision in ("fp16", "bf16")
    narrow = (Float16Type, BFloat16Type)
    return any(isinstance(t, TensorType) and isinstance(t.get_element_type(), narrow)
               for op in module.walk() for t in op.result_types)


def emit_module(
    module: ModuleOp,
    target: str,
    source_name: str,
    *,
    threads: int = 1,
    layout: str = "auto",
    fusion: str = "ilp",
    fuse_attention: bool | None = None,
    progress: Callable[[str], None] | None = None,
    target_options: Mapping[str, object] | None = None,
    source: str = "",
    source_sha256: str = "",
    frozen_inputs: Sequence[str] = (),
    out_name: str = "out",
) -> dict[str, bytes | str]:
    """Lower an `onnx`-dialect module (after the graph pipeline) with `target`'s passes and
    emitter; returns the output folder's files, manifest and README included."""
    fn = next(op for op in module.ops if getattr(op, "sym_name", None) and op.sym_name.data == "main")
    in_names = [a.data for a in fn.attributes[INPUT_NAMES_ATTR].data]
    out_names = [a.data for a in fn.attributes[OUTPUT_NAMES_ATTR].data]
    ftype = fn.function_type
    if fuse_attention is None:
        fuse_attention = attention_by_default(module, target, target_options)
    fuse = f"mode={fusion},attention={'true' if fuse_attention else 'false'}"
    options = {"hetc-choose-layout": f"layout={layout}" if layout != "auto" else "", "hetc-fuse": fuse,
               "hetc-fuse-horizontal": "mode=off" if fusion == "none" else "",
               # C/CUDA precision fp16|bf16: narrowed storage (checked before any lowering runs)
               "hetc-narrow-storage": precision_pass_options(target, target_options)}
    target_passes = [_with_options(p, options.get(p.partition("{")[0], "")) for p in TARGETS[target].passes]
    run_pipeline(module, target_passes, progress=progress)
    if target in ("c", "cuda") and "precision" not in (target_options or {}) and storage_precision(module):
        target_options = {**(target_options or {}), "precision": storage_precision(module)}  # auto-narrowed
    if progress:
        progress(f"emit {target}")
    files = TARGETS[target].emit(module, source_name, _version(), threads, **dict(target_options or {}))
    if target in ("c", "cuda") and "report.json" in files:  # the same report as a page (predictions only)
        from hetc.passes.fuse_report import render_compile_report

        files["report.html"] = render_compile_report(json.loads(files["report.json"]), title=source_name, target=target)
    manifest = {
        "hetc_version": _version(),
        "target": target,
        "source": source or source_name,
        "source_sha256": source_sha256,
        "onnx_opset": onnx_d.ONNX_OPSET,
        "pipeline": [*GRAPH_PIPELINE, *target_passes],
        "frozen_inputs": list(frozen_inputs),
        "threads": threads,
        "inputs": _describe(in_names, list(ftype.inputs.data)),
        "outputs": _describe(out_names, list(ftype.outputs.data)),
        "files": sorted(files),
    }
    files[MANIFEST] = json.dumps(manifest, indent=2) + "\n"
    files["README.md"] = (
        f"# {source_name} compiled by hetc {_version()} for target `{target}`\n\n"
        f"{TARGETS[target].readme}\n\n"
        "Inputs and outputs (names, dtypes, shapes) are listed in `manifest.json`.\n"
        f"From Python: `hetc.Session('{out_name}').run({{name: array}})`.\n"
    )
    return files


def build(
    model: str | Path | onnx.ModelProto,
    target: str,
    out_dir: str | Path,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    frozen_inputs: Mapping[str, np.ndarray] | None = None,
    threads: int = 1,
    layout: str = "auto",
    fusion: str = "ilp",
    fuse_attention: bool | None = None,
    progress: Callable[[str], None] | None = None,
    target_options: Mapping[str, object] | None = None,
) -> Path:
    """Compile `model` for `target` into the folder `out_dir` (written atomically).
    `layout` (C target): "auto" lets hetc-choose-layout pick NCHW or NHWC per region
    by the cost model; "nchw" / "nhwc" force one. `fusion` (C target): "ilp" (CP-SAT
    over the legal fusion groups), "greedy" (rule-based) or "none" (one kernel per op);
    `fuse_attention` adds attention (QK^T, softmax, P.V) to the candidate groups (None: on for
    CUDA at fp16 / bf16, where it is a FlashAttention-style kernel; off elsewhere)."""
    if target not in TARGETS:
        raise HetcError(f"unknown target '{target}' (known: {', '.join(TARGETS)})")
    if layout not in ("auto", "nchw", "nhwc"):
        raise HetcError(f"unknown layout '{layout}' (auto, nchw or nhwc)")
    if fusion not in ("none", "greedy", "ilp"):
        raise HetcError(f"unknown fusion mode '{fusion}' (none, greedy or ilp)")
    if target_options:
        import inspect

        params = inspect.signature(TARGETS[target].emit).parameters.values()
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            raise HetcError(f"target '{target}' takes no target options (got {', '.join(target_options)})")
    module = compile_module(model, input_shapes, frozen_inputs=frozen_inputs, progress=progress)
    source_name = Path(model).name if not isinstance(model, onnx.ModelProto) else (model.graph.name or "model")
    try:
        files = emit_module(
            module, target, source_name, threads=threads, layout=layout, fusion=fusion, fuse_attention=fuse_attention,
            progress=progress,
            target_options=target_options, source=str(model) if not isinstance(model, onnx.ModelProto) else source_name,
            source_sha256=_source_hash(model), frozen_inputs=sorted(frozen_inputs or {}), out_name=Path(out_dir).name,
        )  # fmt: skip
    except HetcError as err:
        raise err.with_file(str(model)) if not isinstance(model, onnx.ModelProto) else err
    return write_output_dir(out_dir, files)


def compile(
    model: str | Path | onnx.ModelProto,
    target: str = "numpy",
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    output_dir: str | Path | None = None,
    *,
    frozen_inputs: Mapping[str, np.ndarray] | None = None,
    threads: int = 1,
    layout: str = "auto",
    fusion: str = "ilp",
    fuse_attention: bool | None = None,
    progress: Callable[[str], None] | None = None,
    target_options: Mapping[str, object] | None = None,
) -> Session:
    """Compile an ONNX model (path or ModelProto) and load it.

    >>> sess = hetc.compile("model.onnx", target="numpy", input_shapes={"x": (1, 3, 224, 224)})
    >>> outs = sess.run({"x": x})

    `frozen_inputs={"shape": array}` compiles those inputs in as constants (for
    models whose shapes depend on input values). `threads` > 1 builds the C target
    with OpenMP over the parallel loops. `target_options` go to the target's emitter
    (HLS: {"part": "u280" | "zcu104", "precision": "float" | "ap_fixed<W,I>",
    "weights": "auto" | "rom" | "axi", "pragmas": "search" | "default",
    "search_time": seconds, "seed": int}; CUDA: {"precision": "fp32" | "tf32" | "fp16" | "bf16", "arch": ...};
    C: {"precision": "fp32" | "fp16" | "bf16"}: fp16/bf16 narrow the storage of intermediates and weights,
    io and compute stay float32).
    """
    if output_dir is None:
        tmp = tempfile.mkdtemp(prefix="hetc-")
        _TEMP_DIRS.append(tmp)
        output_dir = Path(tmp) / "out"
    out = build(
        model, target, output_dir, input_shapes, frozen_inputs=frozen_inputs, threads=threads, layout=layout, fusion=fusion,
        fuse_attention=fuse_attention, progress=progress, target_options=target_options,
    )
    return Session(out)
