"""Runs a partitioned output folder: executes `plan.mlir`'s `sched` program in order.

`sched.launch` runs a partition through its own target's runner (each `part<i>/` is a
complete output folder); `sched.copy` moves the tensor between device memories. The
partition runners take and return host arrays (the CUDA runner uploads its inputs and
downloads its outputs), so a copy between device memories is realised by those
transfers and the copy op itself only hands the array on; every runner returns after its
device has finished, so `sched.wait` has nothing left to wait for.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from hetc.diagnostics import HetcError


class PartitionedRunner:
    def __init__(self, out_dir: Path) -> None:
        from xdsl.dialects import func
        from xdsl.parser import Parser

        from hetc.backends.targets import TARGETS
        from hetc.pipeline import make_context

        self.out_dir = Path(out_dir)
        plan = self.out_dir / "plan.mlir"
        if not plan.is_file():
            raise HetcError(f"'{out_dir}' has no plan.mlir: not a partitioned hetc output")
        module = Parser(make_context(), plan.read_text(), str(plan)).parse_module()
        self.main = next(f for f in module.ops if isinstance(f, func.FuncOp) and f.sym_name.data == "main")
        self.runners = {}
        for f in module.ops:
            if isinstance(f, func.FuncOp) and f.sym_name.data != "main":
                part = f.sym_name.data
                target = f.attributes["hetc.target"].data
                if target not in TARGETS:
                    raise HetcError(f"partition {part} needs target '{target}', which this hetc does not have")
                self.runners[part] = TARGETS[target].load(self.out_dir / part)
        #: (label, seconds) of every launch and copy of the last run
        self.last_times: list[tuple[str, float]] = []

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        from xdsl.dialects import func

        from hetc.dialects.sched import CopyOp, LaunchOp, WaitOp

        env = dict(zip(self.main.body.block.args, inputs))
        times = []
        for op in self.main.body.block.ops:
            t0 = time.perf_counter()
            if isinstance(op, LaunchOp):
                part = op.callee.root_reference.data
                outs = self.runners[part].run([env[a] for a in op.args])
                env.update(zip(op.res, outs))
                times.append((f"{part} on {op.device.data} ({op.target.data})", time.perf_counter() - t0))
            elif isinstance(op, CopyOp):
                env[op.res] = env[op.source]
                times.append((f"copy {op.source.name_hint or ''} {op.src.data}->{op.dst.data}", 0.0))
            elif isinstance(op, WaitOp):
                continue
            elif isinstance(op, func.ReturnOp):
                self.last_times = times
                return [np.asarray(env[v]) for v in op.operands]
            else:
                raise HetcError(f"plan.mlir: unexpected op {op.name} in @main")
        raise HetcError("plan.mlir: @main has no return")
