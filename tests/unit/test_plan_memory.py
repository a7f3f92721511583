"""hetc-plan-memory's planner on random live ranges (seeded): every plan is valid, no
worse than greedy by size, no better than the peak of live bytes, and CP-SAT proves
small instances optimal (checked against brute force on the tiniest)."""

from __future__ import annotations

import itertools
import random

import pytest

from hetc.passes.plan_memory import (
    ALIGNMENT,
    Buffer,
    greedy_by_size,
    plan_memory,
    report,
)


def _random_buffers(rng: random.Random, n: int, steps: int, max_units: int = 64) -> list[Buffer]:
    out = []
    for k in range(n):
        first = rng.randrange(steps)
        last = min(steps - 1, first + rng.randrange(max(1, steps // 3)))
        size = rng.choice([rng.randint(1, max_units * ALIGNMENT), rng.randint(1, 8) * ALIGNMENT, 1, 0])
        out.append(Buffer(f"t{k}", size, first, last))
    return out


def _aligned(b: Buffer) -> int:
    return -(-b.size // ALIGNMENT) * ALIGNMENT


def _peak_live(bufs: list[Buffer]) -> int:
    steps = range(min(b.first for b in bufs), max(b.last for b in bufs) + 1)
    return max(sum(_aligned(b) for b in bufs if b.first <= t <= b.last) for t in steps)


def _assert_valid(bufs: list[Buffer], offsets: list[int]) -> int:
    """No two buffers live at one step share a byte; every offset is 64-aligned. Returns the arena."""
    assert len(offsets) == len(bufs)
    for b, o in zip(bufs, offsets):
        assert o >= 0 and o % ALIGNMENT == 0, (b, o)
    for (a, oa), (b, ob) in itertools.combinations(zip(bufs, offsets), 2):
        live_together = a.first <= b.last and b.first <= a.last
        share_bytes = oa < ob + _aligned(b) and ob < oa + _aligned(a)
        assert not (live_together and share_bytes), (a, oa, b, ob)
    return max(o + _aligned(b) for b, o in zip(bufs, offsets))


CASES = [(seed, n) for seed in range(6) for n in (3, 8, 20, 45)]


@pytest.mark.parametrize(("seed", "n"), CASES)
def test_random_plans_are_valid_and_bounded(seed: int, n: int) -> None:
    rng = random.Random(seed * 1000 + n)
    bufs = _random_buffers(rng, n, steps=max(3, n))
    greedy = greedy_by_size(bufs)
    greedy_arena = _assert_valid(bufs, greedy)
    plan = plan_memory(bufs, time_limit=1.0)
    arena = _assert_valid(bufs, plan.offsets)

    assert plan.arena_bytes == arena
    assert plan.greedy_by_size_bytes == greedy_arena
    assert plan.tensor_bytes == sum(_aligned(b) for b in bufs)
    assert _peak_live(bufs) <= plan.lower_bound_bytes <= arena <= greedy_arena <= plan.tensor_bytes
    assert arena % ALIGNMENT == 0
    assert plan.method in ("cp-sat", "greedy-by-size")
    assert 0.0 <= plan.gap < 1.0
    if plan.optimal:
        assert plan.gap == 0.0
    # small instances: CP-SAT finishes and proves it
    if n <= 20:
        assert plan.optimal, report(plan)


def _brute_force(bufs: list[Buffer]) -> int:
    units = [_aligned(b) // ALIGNMENT for b in bufs]
    ub = sum(units)
    best = ub
    for offs in itertools.product(*(range(ub - u + 1) for u in units)):
        arena = max(o + u for o, u in zip(offs, units))
        if arena >= best:
            continue
        if all(
            not (a.first <= b.last and b.first <= a.last) or oa + ua <= ob or ob + ub_ <= oa
            for (a, oa, ua), (b, ob, ub_) in itertools.combinations(zip(bufs, offs, units), 2)
        ):
            best = arena
    return best * ALIGNMENT


def test_cp_sat_beats_greedy_and_matches_brute_force() -> None:
    """Tiny instances where greedy by size is not optimal: CP-SAT finds the true optimum and says so."""
    rng = random.Random(7)
    found = 0
    while found < 4:
        n, steps = rng.randint(4, 5), rng.randint(3, 5)
        bufs = []
        for k in range(n):
            first = rng.randrange(steps)
            bufs.append(Buffer(f"t{k}", rng.randint(1, 3) * ALIGNMENT, first, rng.randrange(first, steps)))
        greedy_arena = _assert_valid(bufs, greedy_by_size(bufs))
        if greedy_arena == _peak_live(bufs):
            continue
        plan = plan_memory(bufs, time_limit=1.0)
        optimum = _brute_force(bufs)
        assert plan.method == "cp-sat" and plan.optimal and plan.gap == 0.0
        assert plan.arena_bytes == optimum == _assert_valid(bufs, plan.offsets)
        if optimum < greedy_arena:
            found += 1


def test_known_greedy_gap() -> None:
    """Greedy by size stacks a/b/d to 448 B; the optimum is the live peak, 384 B."""
    bufs = [
        Buffer("a", 192, 0, 1),
        Buffer("b", 128, 0, 2),
        Buffer("c", 128, 2, 2),
        Buffer("d", 128, 2, 2),
    ]
    greedy = plan_memory(bufs, solver="greedy")
    assert (greedy.arena_bytes, greedy.method, greedy.optimal) == (448, "greedy-by-size", False)
    assert greedy.gap == pytest.approx((448 - 384) / 448)
    best = plan_memory(bufs)
    assert (best.arena_bytes, best.greedy_by_size_bytes, best.tensor_bytes) == (384, 448, 576)
    assert (best.method, best.optimal, best.gap) == ("cp-sat", True, 0.0)
    text = report(best)
    for word in ("384", "448", "576", "cp-sat", "proven optimal"):
        assert word in text


def test_chain_reuses_and_no_reuse_when_all_live() -> None:
    chain = [Buffer(f"t{k}", 512, k, k + 1) for k in range(6)]
    plan = plan_memory(chain)
    assert plan.arena_bytes == 1024 and plan.optimal and plan.tensor_bytes == 3072
    together = [Buffer(f"t{k}", 100 * (k + 1), 0, 3) for k in range(4)]
    plan = plan_memory(together)
    assert plan.arena_bytes == plan.tensor_bytes == 128 + 256 + 320 + 448
    assert sorted(plan.offsets) == [0, 448, 768, 1024]


def test_cp_sat_skipped_above_limit() -> None:
    rng = random.Random(3)
    bufs = _random_buffers(rng, 30, 30)
    plan = plan_memory(bufs, max_cp_sat_buffers=10)
    _assert_valid(bufs, plan.offsets)
    if plan.greedy_by_size_bytes > plan.lower_bound_bytes:
        assert plan.method.startswith("greedy-by-size") and "skipped" in plan.method
        assert plan.arena_bytes == plan.greedy_by_size_bytes


def test_empty_and_bad_input() -> None:
    plan = plan_memory([])
    assert (plan.arena_bytes, plan.tensor_bytes, plan.optimal, plan.offsets) == (0, 0, True, [])
    with pytest.raises(ValueError):
        plan_memory([Buffer("x", 64, 0, 0)], solver="magic")
    with pytest.raises(ValueError):
        Buffer("x", 64, 3, 1)


def test_time_limit_on_a_large_instance() -> None:
    """CP-SAT cut off by its time limit still gives a valid plan no worse than greedy, with an honest gap."""
    rng = random.Random(5)
    bufs = _random_buffers(rng, 250, 250)
    plan = plan_memory(bufs, time_limit=0.5)
    arena = _assert_valid(bufs, plan.offsets)
    assert _peak_live(bufs) <= plan.lower_bound_bytes <= arena <= plan.greedy_by_size_bytes
    assert plan.gap == pytest.approx((arena - plan.lower_bound_bytes) / arena)
    assert plan.optimal == (arena == plan.lower_bound_bytes) or plan.method == "cp-sat"


def test_deterministic() -> None:
    rng = random.Random(11)
    bufs = _random_buffers(rng, 40, 40)
    a, b = plan_memory(bufs, time_limit=1.0), plan_memory(bufs, time_limit=1.0)
    if a.optimal and b.optimal:
        assert a.offsets == b.offsets


def test_pass_on_ir() -> None:
    """The pass reads sizes, live ranges and view aliases from the IR and writes the plan back."""
    from xdsl.context import Context
    from xdsl.dialects import builtin, func, memref
    from xdsl.parser import Parser

    from hetc.passes.plan_memory import PlanMemory

    src = """
    func.func private @k(memref<1x128xf32>, memref<1x128xf32>)
    func.func private @v(memref<128xf32>, memref<1x128xf32>)
    func.func @main(%x: memref<1x128xf32>) {
      %t0 = memref.alloc() : memref<1x128xf32>
      func.call @k(%x, %t0) : (memref<1x128xf32>, memref<1x128xf32>) -> ()
      %view = memref.collapse_shape %t0 [[0, 1]] : memref<1x128xf32> into memref<128xf32>
      %t1 = memref.alloc() : memref<1x128xf32>
      func.call @k(%x, %t1) : (memref<1x128xf32>, memref<1x128xf32>) -> ()
      func.call @v(%view, %t1) : (memref<128xf32>, memref<1x128xf32>) -> ()
      %t2 = memref.alloc() : memref<1x128xf32>
      func.call @k(%t1, %t2) : (memref<1x128xf32>, memref<1x128xf32>) -> ()
      func.return
    }
    """
    ctx = Context()
    for d in (builtin.Builtin, func.Func, memref.MemRef):
        ctx.load_dialect(d)
    module = Parser(ctx, src).parse_module()
    PlanMemory(time_limit=0.5).apply(ctx, module)
    main = next(o for o in module.walk() if isinstance(o, func.FuncOp) and o.sym_name.data == "main")
    offs = [o.attributes["hetc.arena_offset"].value.data for o in main.walk() if isinstance(o, memref.AllocOp)]
    assert offs == [0, 512, 0]
    assert main.attributes["hetc.arena_bytes"].value.data == 1024
    info = main.attributes["hetc.memory_plan"].data
    assert info["tensor_bytes"].value.data == 1536
    assert info["method"].data == "greedy-by-size" and info["optimal"] == builtin.BoolAttr.from_bool(True)
