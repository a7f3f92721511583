"""hetc-npu-lower's problem builder: one SpmOp per op, every tensor written once,
graph-input windows as input tensors of their own, and the plan written as npu ops
whose DMA bytes are replay's."""

from __future__ import annotations

from pathlib import Path

from xdsl.dialects import func

from hetc.dialects import npu
from hetc.passes.npu_lower import allocate_plan, emit_plan, lower_for_npu
from hetc.passes.spm.problem import compulsory_bytes, replay

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_batched_matmul_is_one_op_and_plan_becomes_npu_ops():
    module, problem, prog = lower_for_npu(EXAMPLES / "transformer_block.onnx", 1 << 21)
    calls = sum(len(c) for c in prog.calls.values())
    assert calls >= len(problem.ops)  # (per-head GEMM calls of a batched MatMul would be one op)
    writers = [t for op in problem.ops for t in op.writes]
    assert len(writers) == len(set(writers))
    plan = allocate_plan(problem, "belady")
    summary = emit_plan(module, prog, plan)
    traffic = replay(problem, plan)
    assert summary["traffic"] == traffic.as_dict()
    assert traffic.noncompulsory == 0 and traffic.compulsory == compulsory_bytes(problem)
    main = next(op for op in module.ops if isinstance(op, func.FuncOp) and op.sym_name.data == "main")
    kinds = [type(op) for op in main.body.block.ops]
    assert not any(k is func.CallOp for k in kinds)
    assert kinds.count(npu.ComputeOp) == calls
    loaded = sum(op.bytes.value.data for op in main.body.block.ops if isinstance(op, npu.DmaInOp))
    assert loaded == traffic.loads


def test_input_windows_are_inputs_of_their_own():
    _, problem, prog = lower_for_npu(EXAMPLES / "cnn.onnx", 16384)
    windows = [t for t in problem.tensors.values() if t.name.startswith("image[")]
    assert len(windows) >= 2 and all(t.kind == "input" for t in windows)
    assert set(prog.regions) == {t.name for t in windows}
    assert "image" not in problem.tensors  # only windows of it are ever loaded
    assert max(problem.footprint(op) for op in problem.ops) <= 16384
