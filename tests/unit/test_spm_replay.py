"""replay (passes/spm/problem.py) rejects what the allocators must never emit, and counts
compulsory / non-compulsory bytes the way the allocators' objectives assume."""

from __future__ import annotations

import pytest
from hetc.diagnostics import HetcError
from hetc.passes.spm.problem import (
    Alloc,
    Compute,
    Free,
    Load,
    SpmOp,
    SpmPlan,
    SpmProblem,
    SpmTensor,
    Store,
    replay,
)


def _chain() -> SpmProblem:
    t = {n: SpmTensor(n, 1000, k) for n, k in (("x", "input"), ("w", "weight"), ("h", "intermediate"), ("y", "output"))}
    return SpmProblem(t, [SpmOp("a", ("x", "w"), ("h",)), SpmOp("b", ("h", "w"), ("y",))], 4096)


def test_free_of_a_value_still_needed_names_the_reader():
    p = _chain()
    steps = [Load("x", 0), Load("w", 1024), Alloc("h", 2048), Compute("a"), Free("h")]
    with pytest.raises(HetcError, match=r"'h' freed without a DRAM copy but still needed \(b\)"):
        replay(p, SpmPlan("t", steps))


def test_spill_and_reload_are_non_compulsory():
    p = _chain()
    steps = [
        Load("x", 0), Load("w", 1024), Alloc("h", 2048), Compute("a"),
        Store("h"), Free("h"), Free("w"), Free("x"),  # spill h, drop w
        Load("h", 0), Load("w", 1024), Alloc("y", 2048), Compute("b"), Store("y"),
    ]  # fmt: skip
    t = replay(p, SpmPlan("t", steps))
    assert (t.compulsory, t.noncompulsory) == (1000 + 1000 + 1000, 1000 + 1000 + 1000)


def test_dropping_an_allocation_before_its_producer_runs_is_legal():
    # lru without compaction does this when an op's own operands fragment the scratchpad
    from hetc.passes.spm.allocate import allocate

    u = 1024
    ts = {n: SpmTensor(n, s, k) for n, s, k in [
        ("in", u, "input"), ("a", u, "intermediate"), ("r", u, "intermediate"), ("w1", u, "intermediate"),
        ("w2", 2 * u, "intermediate"), ("o1", u, "output"), ("o2", u, "output")]}  # fmt: skip
    ops = [SpmOp("op0", ("in",), ("a", "r")), SpmOp("op1", ("r",), ("w1", "w2")),
           SpmOp("op2", ("a", "w2"), ("o1",)), SpmOp("op3", ("w1",), ("o2",))]  # fmt: skip
    p = SpmProblem(ts, ops, 4 * u)
    plan = allocate(p, "lru")
    i = next(i for i, s in enumerate(plan.steps) if s == Free("w1"))
    assert Compute("op1") in plan.steps[i:]  # freed before op1 wrote it
    assert replay(p, plan).noncompulsory > 0
