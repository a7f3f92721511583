"""Runners for the benchmark harness: one class per engine, one common interface.

    runner = RUNNERS["iree"]()
    fn = runner.compile(model_path, {"x": (1, 3, 64, 64)})   # may raise RunnerUnavailable
    outputs = fn({"x": x})                                  # list of np.ndarray, graph order

`compile` does everything that is done once per model (import, compile, load, session
creation); the harness times it as "compile s". The returned callable is what is timed:
one inference from host NumPy arrays to host NumPy arrays (input/output copies included,
for every runner alike).

To add a runner: subclass `Runner`, set `name`, implement `compile` (and `version` /
`threads` for the report), and register it in `RUNNERS`. Raise `RunnerUnavailable` when
the engine is not installed or not built, so the harness prints "n/a (reason)" for the
whole column instead of a failure.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

Feeds = Mapping[str, np.ndarray]
Compiled = Callable[[Feeds], list[np.ndarray]]


class RunnerUnavailable(Exception):
    """The runner cannot run at all here (not installed, target not built)."""


_WORK_DIRS: list[str] = []


@atexit.register
def _cleanup() -> None:
    for d in _WORK_DIRS:
        shutil.rmtree(d, ignore_errors=True)


def work_dir(prefix: str) -> Path:
    d = tempfile.mkdtemp(prefix=f"hetc-bench-{prefix}-")
    _WORK_DIRS.append(d)
    return Path(d)


def one_line(err: BaseException | str, limit: int = 160) -> str:
    """A one-line reason for a table cell."""
    if isinstance(err, RuntimeError) and type(err) is RuntimeError and str(err).startswith(("iree ", "relax ", "tvm.")):
        text = str(err)  # already one line, with the stage that failed
    else:
        text = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    # prefer the first line that says "error", which is where MLIR / TVM put the reason
    pick = lines[0] if lines else "unknown error"
    if len(lines) > 1:  # multi-line tool output: the first line that says "error" carries the reason
        pick = next((ln for ln in lines if "error" in ln.lower()), pick)
    pick = pick.replace("|", "/")
    return pick if len(pick) <= limit else pick[: limit - 1] + "…"


def onnx_input_dtypes(model) -> dict[str, str]:
    import onnx

    inits = {i.name for i in model.graph.initializer}
    return {
        i.name: str(onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type))
        for i in model.graph.input
        if i.name not in inits
    }


def static_model(model_path: str | Path, input_shapes: Mapping[str, Sequence[int]], out_path: Path) -> Path:
    """Copy of the model with every graph input bound to a concrete shape and shapes
    re-inferred (IREE and TVM want static shapes)."""
    import onnx

    m = onnx.load(str(model_path))
    for inp in m.graph.input:
        if inp.name not in input_shapes:
            continue
        shape = inp.type.tensor_type.shape
        want = list(input_shapes[inp.name])
        if len(shape.dim) != len(want):
            raise ValueError(f"input {inp.name} has rank {len(shape.dim)}, bound to {want}")
        for d, v in zip(shape.dim, want):
            d.ClearField("dim_param")
            d.dim_value = int(v)
    del m.graph.value_info[:]
    for out in m.graph.output:
        out.type.tensor_type.ClearField("shape")
    m.ir_version = min(m.ir_version, 10)
    try:
        m = onnx.shape_inference.infer_shapes(m, data_prop=True)
    except Exception:  # noqa: BLE001 - leave shapes to the engine's own inference
        pass
    onnx.save(m, str(out_path))
    return out_path


class Runner:
    name = "?"

    def compile(self, model_path: str | Path, input_shapes: Mapping[str, Sequence[int]]) -> Compiled:
        raise NotImplementedError

    def version(self) -> str:
        return "?"

    def threads(self) -> str:
        """How many threads it runs with, for the report."""
        return "?"


# --- onnxruntime ---------------------------------------------------------------------


def ort_session(model_path, intra: int, opt_level: str = "all"):
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(model_path))
    m.ir_version = 10  # onnx 1.23 writes IR 14; onnxruntime 1.31 reads at most 13
    so = ort.SessionOptions()
    so.intra_op_num_threads = intra
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[opt_level]
    return ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])


class OrtRunner(Runner):
    intra = 1

    def compile(self, model_path, input_shapes):
        sess = ort_session(model_path, self.intra)
        names = [o.name for o in sess.get_outputs()]

        def run(feeds):
            return sess.run(names, dict(feeds))

        return run

    def version(self):
        import onnxruntime

        return onnxruntime.__version__

    def threads(self):
        return f"intra_op {self.intra}, inter_op 1, sequential, graph optimizations ALL"


class Ort1T(OrtRunner):
    name = "ort-1t"
    intra = 1


class Ort2T(OrtRunner):
    name = "ort-2t"
    intra = 2


# --- hetc ----------------------------------------------------------------------------


class HetcRunner(Runner):
    target = "numpy"
    n_threads = 1
    #: C target: "auto" = hetc-choose-layout's cost model decides per region
    layout = "auto"
    #: C target: hetc-fuse mode (ilp is the default)
    fusion = "ilp"

    def compile(self, model_path, input_shapes):
        import hetc
        from hetc.diagnostics import HetcError

        # a fresh build cache, so "compile s" includes building the generated code
        cold_cache = tempfile.mkdtemp(prefix="hetc-bench-cache-")
        previous = os.environ.get("HETC_CACHE")
        os.environ["HETC_CACHE"] = cold_cache
        try:
            sess = hetc.compile(
                str(model_path), target=self.target, input_shapes=dict(input_shapes), threads=self.n_threads,
                **({"layout": self.layout, "fusion": self.fusion} if self.target == "c" else {}),
            )
        except HetcError as err:
            if "unknown target" in str(err):
                raise RunnerUnavailable("target not built yet") from err
            raise
        finally:
            if previous is None:
                os.environ.pop("HETC_CACHE", None)
            else:
                os.environ["HETC_CACHE"] = previous
            shutil.rmtree(cold_cache, ignore_errors=True)
        return sess.run

    def version(self):
        import hetc

        return hetc.__version__


class HetcNumpy(HetcRunner):
    name = "hetc-numpy"
    target = "numpy"

    def __init__(self):
        # The NumPy backend's heavy ops go to NumPy's BLAS; pin it to 1 thread so the
        # comparison with ort-1t / iree / tvm (all 1 thread) is like for like. Nothing
        # else in this process uses that BLAS.
        self._blas = "BLAS default (threadpoolctl not installed)"
        try:
            from threadpoolctl import threadpool_info, threadpool_limits

            threadpool_limits(1)
            infos = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} x{i.get('num_threads')}" for i in threadpool_info()]
            self._blas = "; ".join(infos) or "no BLAS pool found"
        except ImportError:
            pass

    def threads(self):
        return f"NumPy BLAS limited to 1 thread ({self._blas})"


class HetcC(HetcRunner):
    name = "hetc-c"
    target = "c"

    def threads(self):
        return "1 (generated C built without OpenMP)"


class HetcCNchw(HetcC):
    """The C target with every convolution kept NCHW: what hetc-choose-layout buys."""

    name = "hetc-c-nchw"
    layout = "nchw"

    def threads(self):
        return "1 (generated C, layout forced NCHW)"


class HetcCFuseNone(HetcC):
    """The C target with one kernel per op (hetc-fuse mode none)."""

    name = "hetc-c-fuse-none"
    fusion = "none"

    def threads(self):
        return "1 (generated C, no fusion)"


class HetcCFuseGreedy(HetcC):
    """The C target with rule-based fusion (hetc-fuse mode greedy)."""

    name = "hetc-c-fuse-greedy"
    fusion = "greedy"

    def threads(self):
        return "1 (generated C, greedy fusion)"


class HetcC2T(HetcC):
    name = "hetc-c-2t"
    n_threads = 2

    def threads(self):
        return "2 (OpenMP over the loops marked hetc.parallel)"


# --- IREE ----------------------------------------------------------------------------

IREE_COMPILE_FLAGS = [
    "--iree-hal-target-device=local",
    "--iree-hal-local-target-device-backends=llvm-cpu",
    "--iree-llvmcpu-target-cpu=host",
]
# Process-wide, read once when the first local-task device is created.
IREE_RUNTIME_FLAGS = ["--task_topology_group_count=1"]
_iree_flags_set = False


def _tool(name: str) -> str:
    exe = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(exe).exists():
        raise RunnerUnavailable(f"{name} not found (pip install -r benchmarks/requirements.txt)")
    return exe


class IreeRunner(Runner):
    name = "iree"
    driver = "local-task"

    def compile(self, model_path, input_shapes):
        global _iree_flags_set
        try:
            import iree.runtime as rt
        except ImportError as err:
            raise RunnerUnavailable("iree-base-runtime not installed") from err
        d = work_dir("iree")
        static = static_model(model_path, input_shapes, d / "model.onnx")
        mlir, vmfb = d / "model.mlir", d / "model.vmfb"
        for cmd, what in (
            ([_tool("iree-import-onnx"), str(static), "-o", str(mlir)], "import"),
            ([_tool("iree-compile"), str(mlir), *IREE_COMPILE_FLAGS, "-o", str(vmfb)], "compile"),
        ):
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode != 0:
                raise RuntimeError(f"iree {what} failed: {one_line(p.stderr or p.stdout)}")
        if not _iree_flags_set:
            rt.flags.parse_flags(*IREE_RUNTIME_FLAGS)
            _iree_flags_set = True
        ctx = rt.SystemContext(config=rt.Config(self.driver))
        vmm = rt.VmModule.mmap(ctx.instance, str(vmfb))
        ctx.add_vm_module(vmm)
        fns = [f for f in vmm.function_names if not f.endswith("$async") and not f.startswith("__")]
        if len(fns) != 1:
            raise RuntimeError(f"expected one entry function, found {fns}")
        fn = ctx.modules[vmm.name][fns[0]]
        import onnx

        order = list(onnx_input_dtypes(onnx.load(str(static), load_external_data=False)))

        def run(feeds):
            res = fn(*[feeds[n] for n in order])
            res = res if isinstance(res, (tuple, list)) else [res]
            return [np.asarray(r.to_host()) for r in res]

        return run

    def version(self):
        try:
            import iree.compiler
            import iree.runtime

            return f"compiler {iree.compiler.version.VERSION}, runtime {iree.runtime.version.VERSION}"
        except Exception:  # noqa: BLE001
            from importlib.metadata import version

            try:
                return f"compiler {version('iree-base-compiler')}, runtime {version('iree-base-runtime')}"
            except Exception:  # noqa: BLE001
                return "not installed"

    def threads(self):
        return f"local-task driver, {' '.join(IREE_RUNTIME_FLAGS)} (1 worker); compiled with {' '.join(IREE_COMPILE_FLAGS)}"


class IreeSync(IreeRunner):
    """IREE's local-sync driver: runs inline on the calling thread (no task system)."""

    name = "iree-sync"
    driver = "local-sync"

    def threads(self):
        return f"local-sync driver (inline on the caller's thread); compiled with {' '.join(IREE_COMPILE_FLAGS)}"


# --- TVM -----------------------------------------------------------------------------


class TvmRunner(Runner):
    name = "tvm"
    num_threads = "1"

    def __init__(self):
        # Read by TVM's thread pool when it starts: set before tvm is imported.
        os.environ.setdefault("TVM_NUM_THREADS", self.num_threads)
        self._target = "?"

    def compile(self, model_path, input_shapes):
        try:
            import tvm
            from tvm import relax
            from tvm.relax.frontend import onnx as tvm_onnx
        except ImportError as err:
            raise RunnerUnavailable("apache-tvm not installed") from err
        import onnx

        d = work_dir("tvm")
        static = static_model(model_path, input_shapes, d / "model.onnx")
        m = onnx.load(str(static))
        dtypes = onnx_input_dtypes(m)
        shapes = {k: list(v) for k, v in input_shapes.items()}
        import contextlib
        import io
        import re

        said = io.StringIO()  # the frontend prints the failing op to stdout before raising
        try:
            with contextlib.redirect_stdout(said):
                mod = tvm_onnx.from_onnx(m, shape_dict=shapes, dtype_dict=dtypes, keep_params_in_input=False)
        except Exception as err:  # noqa: BLE001
            op = re.search(r"Error converting operator (\w+)", said.getvalue())
            where = f" at {op.group(1)}" if op else ""
            raise RuntimeError(f"relax ONNX import failed{where}: {one_line(err)}") from err
        cpu = tvm.target.codegen.llvm_get_system_cpu()
        target = tvm.target.Target({"kind": "llvm", "mcpu": cpu, "num-cores": 1})
        self._target = f'{{"kind": "llvm", "mcpu": "{cpu}"}}'
        try:
            ex = tvm.compile(mod, target=target)  # default relax + tir pipelines, no tuning
        except Exception as err:  # noqa: BLE001
            raise RuntimeError(f"tvm.compile failed: {one_line(err)}") from err
        vm = relax.VirtualMachine(ex, tvm.cpu())
        main = vm["main"]
        order = list(dtypes)
        dev = tvm.cpu()

        def flatten(x, acc):
            if hasattr(x, "numpy"):
                acc.append(x.numpy())
            else:
                for y in x:
                    flatten(y, acc)
            return acc

        def run(feeds):
            args = [tvm.runtime.tensor(np.ascontiguousarray(feeds[n]), dev) for n in order]
            return flatten(main(*args), [])

        return run

    def version(self):
        try:
            import tvm

            return tvm.__version__
        except ImportError:
            return "not installed"

    def threads(self):
        return f"TVM_NUM_THREADS={os.environ.get('TVM_NUM_THREADS')}; target {self._target}; untuned default pipeline (tvm.compile, no MetaSchedule)"


RUNNERS: dict[str, type[Runner]] = {
    r.name: r for r in (HetcC, HetcCNchw, HetcCFuseNone, HetcCFuseGreedy, HetcC2T, HetcNumpy, Ort1T, Ort2T, IreeRunner, IreeSync, TvmRunner)
}
