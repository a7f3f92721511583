"""fill_gaps (passes/spm/gaps.py): plans whose tensors leave and come back while the
scratchpad had room for them keep them instead; the result is legal (replay), keeps the
order, and never moves more DRAM bytes."""

from __future__ import annotations

import pytest
from hetc.passes.spm.belady import belady
from hetc.passes.spm.gaps import fill_gaps, intervals_of, steps_from_intervals
from hetc.passes.spm.problem import Free, Load, SpmPlan, Store, replay
from hetc.passes.spm.synthetic import branchy
from hetc.passes.spm.windows import stitched

KIB = 1024


def _tight(seed: int, n: int, factor: float):
    p = branchy(seed, n, unit=KIB)
    p.capacity = int(max(p.footprint(o) for o in p.ops) * factor) // 64 * 64
    return p


@pytest.mark.parametrize("seed", range(4))
def test_intervals_round_trip_to_the_same_traffic(seed):
    p = _tight(seed, 30, 1.05)
    plan = belady(p)
    names, ivs = intervals_of(p, plan.steps)
    by = {op.name: op for op in p.ops}
    again = steps_from_intervals(p, [by[n] for n in names], ivs)
    assert replay(p, SpmPlan("x", again)).noncompulsory == replay(p, plan).noncompulsory


def test_stitched_windows_get_cheaper_and_stay_legal():
    gained = 0
    for seed in range(4):
        p = _tight(seed, 60, 1.6)
        steps = stitched(p, p.ops, window_ops=12, time_limit_s=1, solve=lambda sub, _s: belady(sub))
        before = replay(p, SpmPlan("x", steps))
        filled = fill_gaps(p, steps)
        after = replay(p, SpmPlan("x", filled))
        assert after.noncompulsory <= before.noncompulsory
        assert after.compulsory == before.compulsory
        assert SpmPlan("x", filled).order() == SpmPlan("x", steps).order()
        gained += before.noncompulsory - after.noncompulsory
    # emptying the scratchpad at every cut costs reloads that a roomy scratchpad never needs
    assert gained > 0


def test_a_reload_with_room_is_removed_and_one_without_is_kept():
    from hetc.passes.spm.problem import Alloc, Compute, SpmOp, SpmProblem, SpmTensor

    u = 1024
    t = {"x": SpmTensor("x", u, "input"), "w": SpmTensor("w", 2 * u, "weight"), "a": SpmTensor("a", u, "intermediate"),
         "b": SpmTensor("b", u, "intermediate"), "y": SpmTensor("y", u, "output")}
    p = SpmProblem(t, [SpmOp("f", ("x",), ("a",)), SpmOp("g", ("w",), ("b",)), SpmOp("h", ("a", "b"), ("y",))], 3 * u)
    # a is spilled around g (w and b take the whole scratchpad) and reloaded for h
    steps = [Load("x", 0), Alloc("a", u), Compute("f"), Free("x"), Store("a"), Free("a"), Load("w", 0),
             Alloc("b", 2 * u), Compute("g"), Free("w"), Load("a", 0), Alloc("y", u), Compute("h"), Store("y")]
    assert replay(p, SpmPlan("x", steps)).noncompulsory == 2 * u
    assert replay(p, SpmPlan("x", fill_gaps(p, steps))).noncompulsory == 2 * u  # no room: kept
    p.capacity = 4 * u
    assert replay(p, SpmPlan("x", fill_gaps(p, steps))).noncompulsory == 0  # room: a stays
