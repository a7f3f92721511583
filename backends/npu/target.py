"""The NPU target: tile, lower to the loop IR, plan the scratchpad, print NPU C, build
it against the simulator.

Output folder: `model.c` (kernels + the npu.h program), `model.h` (init/run/free API),
`npu.h` (the NPU's API), `npu_sim.c` (its simulator), `weights.bin`, `Makefile`, the
built `libmodel.so` (model + simulator), `report.json` (key "npu": preset, traffic the
allocator predicts, the compiler's cycle estimate beside what the simulator counted running
the program once at compile time, their ratio, solver status), `report.html` (the same,
with the scratchpad occupancy picture) and `plan.json` (the allocation problem and the plan's steps,
for `hetc.passes.spm.problem.replay`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from hetc.backends.c.target import cache_root
from hetc.backends.npu.config import load_config
from hetc.diagnostics import HetcError
from hetc.runtime.npu_runner import simulate_once
from xdsl.dialects.builtin import ModuleOp

OPTIONS = ("npu_config", "spm_alloc", "time_limit", "seed", "tile_budget", "progress")
#: the simulator runs kernels functionally: a quick -O1 build (a tiled model has hundreds of
#: kernels, and -O3 -march=native took most of the compile time on ResNet-18)
FLAGS = ["-O1", "-std=gnu99", "-fPIC", "-shared", "-Wall", "-Werror=implicit-function-declaration"]
NPU_PASSES = ("hetc-npu-tile", "hetc-dce", "convert-onnx-to-loops{target=gpu}", "hetc-npu-lower")


def npu_header() -> str:
    return (Path(__file__).with_name("npu.h")).read_text()


def simulator_source() -> str:
    return resources.files("hetc.runtime").joinpath("npu_sim.c").read_text()


def build_library(source: str, header: str) -> Path:
    """model.c + npu_sim.c -> libmodel.so, cached by content."""
    cc = os.environ.get("CC", "gcc")
    sim, api = simulator_source(), npu_header()
    flags = FLAGS
    key = hashlib.sha256("\0".join([source, header, sim, api, cc, *flags]).encode()).hexdigest()[:24]
    lib = cache_root() / ("npu-" + key) / "libmodel.so"
    if lib.exists():
        return lib
    if shutil.which(cc) is None:
        raise HetcError(f"no C compiler: '{cc}' is not on PATH", hint="install gcc or set CC")
    with tempfile.TemporaryDirectory(prefix="hetc-npu-") as tmp:
        d = Path(tmp)
        for name, text in (("model.c", source), ("model.h", header), ("npu_sim.c", sim), ("npu.h", api)):
            (d / name).write_text(text)
        out = d / "libmodel.so"
        proc = subprocess.run([cc, *flags, "-o", str(out), str(d / "model.c"), str(d / "npu_sim.c"), "-lm"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            kept = cache_root() / "failed" / ("npu-" + key)
            kept.mkdir(parents=True, exist_ok=True)
            shutil.copy(d / "model.c", kept / "model.c")
            raise HetcError(f"{cc} failed to build the generated NPU C (source kept at {kept}/model.c):\n{proc.stderr.strip()[:2000]}")
        lib.parent.mkdir(parents=True, exist_ok=True)
        tmp_lib = lib.with_suffix(f".tmp{os.getpid()}")
        shutil.copy(out, tmp_lib)
        tmp_lib.replace(lib)
    return lib


def simulated_summary(stats: dict) -> dict:
    """The simulator's counters as the report shows them."""
    return {"dma_bytes": stats["dma_in_bytes"] + stats["dma_out_bytes"], "compulsory": stats["compulsory_bytes"],
            "noncompulsory": stats["noncompulsory_bytes"], "cycles": stats["cycles"], "serial_cycles": stats["serial_cycles"],
            "compute_wait_cycles": stats["compute_wait_cycles"],
            "busy_cycles": {"dma": stats["dma_cycles"], "matrix": stats["matrix_cycles"], "vector": stats["vector_cycles"],
                            "move": stats["move_cycles"]},
            "moved_bytes": stats["moved_bytes"], "gathered_bytes": stats["gathered_bytes"],
            "spm_high_water": stats["spm_high_water"]}


def _arg_specs(module: ModuleOp):
    """(input (shape, dtype) list, output list) of @main's arguments."""
    from hetc.dialects.onnx import numpy_dtype
    from xdsl.dialects import func

    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    n_in = len(main.attributes["hetc.input_names"].data)
    specs = [(tuple(a.type.get_shape()), numpy_dtype(a.type.get_element_type())) for a in main.body.block.args]
    return specs[:n_in], specs[n_in:]


def makefile() -> str:
    flags = " ".join(FLAGS)
    return f"""# Rebuild the model against the NPU simulator: make (the prebuilt libmodel.so is already here).
# For real hardware, link model.c with that NPU's implementation of npu.h instead of npu_sim.c.
CC ?= gcc
libmodel.so: model.c model.h npu.h npu_sim.c
\t$(CC) {flags} -o $@ model.c npu_sim.c -lm
"""


def emit_npu(module: ModuleOp, source_name: str, version: str, threads: int = 1, **options) -> dict[str, bytes | str]:
    from hetc.backends.npu.printer import print_npu
    from hetc.backends.npu.report import occupancy_svg, predicted_cycles, report_html
    from hetc.passes.npu_lower import allocate_plan, emit_plan, lower_for_npu

    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise HetcError(f"target 'npu' has no option {', '.join(unknown)} (it takes {', '.join(OPTIONS[:-1])})")
    config = load_config(options.get("npu_config"))
    method = options.get("spm_alloc") or "belady"
    progress = options.get("progress")
    lowered, problem, prog = lower_for_npu(None, config.spm_bytes, module=module, alignment=config.alignment, progress=progress,
                                           tile_budget=float(options.get("tile_budget", 1.0)))
    if progress:
        progress(f"allocate the scratchpad ({method})")
    plan = allocate_plan(problem, method, float(options.get("time_limit", 10.0)), int(options.get("seed", 0)), progress)
    if progress:
        progress("write the plan as npu ops")
    summary = emit_plan(lowered, prog, plan)
    gathers = {name: sum(prog.gathers.get(call, 0) for call in calls) for name, calls in prog.calls.items()}
    cycles = predicted_cycles(problem, plan, prog.work, gathers, config)
    if progress:
        progress("print NPU C")
    source, header, weights = print_npu(lowered, config, source_name=source_name, version=version)
    if progress:
        progress(f"build libmodel.so ({len(source) // 1024} KiB of C, with the simulator)")
    lib = build_library(source, header)
    if progress:
        progress("simulate once (traffic and cycles do not depend on the input values)")
    sim = simulate_once(lib, weights, *_arg_specs(lowered))
    solver = summary["solver"]
    report = {
        "source": source_name,
        "npu": {
            "preset": config.name,
            "capacity_bytes": config.spm_bytes,
            "spm_alloc": method,
            "traffic": summary["traffic"],
            "predicted": {"dma_bytes": summary["loads"] + summary["stores"], "cycles": cycles["total"], "cycles_by_unit": cycles,
                          "peak_bytes": summary["peak_bytes"], "moved_bytes": summary["moved"],
                          "gathered_bytes": summary["gathered_bytes"]},
            "simulated": simulated_summary(sim),
            "cycles_ratio": cycles["total"] / max(1, sim["cycles"]),
            "seconds": {"predicted": cycles["total"] / config.clock_hz, "simulated": sim["cycles"] / config.clock_hz},
            "solver": {"status": str(solver.get("status", "")), "gap": float(solver.get("gap", 0.0) or 0.0),
                       "seconds": float(solver.get("seconds", 0.0) or 0.0)},
            "ops": summary["ops"],
            "tensors": summary["tensors"],
            "tiled_ops": sum(1 for o in problem.ops if "/npu_tile" in o.source),
            "config": config.as_dict(),
            "passes": list(NPU_PASSES),
            "note": "traffic: bytes the allocator's plan moves (hetc.passes.spm.problem.replay); simulated: what "
            "runtime/npu_sim.c counted running the program once (DMA engine and compute units concurrent, npu.h); "
            "predicted cycles: the compiler's pipelined estimate from the plan (backends/npu/report.py); "
            "cycles_ratio = predicted / simulated",
        },
    }
    plan_json = {
        "tensors": [{"name": t.name, "size": t.size, "kind": t.kind} for t in problem.tensors.values()],
        "ops": [{"name": o.name, "reads": list(o.reads), "writes": list(o.writes), "source": o.source} for o in problem.ops],
        "capacity": problem.capacity, "alignment": problem.alignment, "allocator": plan.allocator,
        "steps": [[type(s).__name__, *[getattr(s, f) for f in s.__dataclass_fields__]] for s in plan.steps],
    }
    return {
        "model.c": source,
        "model.h": header,
        "npu.h": npu_header(),
        "npu_sim.c": simulator_source(),
        "weights.bin": weights,
        "Makefile": makefile(),
        "libmodel.so": lib.read_bytes(),
        "report.json": json.dumps(report, indent=2) + "\n",
        "report.html": report_html(report, occupancy_svg(problem, plan)),
        "plan.json": json.dumps(plan_json) + "\n",
    }
