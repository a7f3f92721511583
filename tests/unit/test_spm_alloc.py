"""The scratchpad allocators (passes/spm): lru, belady and the CP-SAT ilp.

Every plan is checked by `replay` (legal, and the traffic it reports); the ILP is never
worse than belady, proves small graphs optimal and beats every fixed-order belady plan
there, and moves nothing it need not move when the capacity holds the minimum peak
footprint over all orders (brute force over the topological orders of tiny graphs)."""

from __future__ import annotations

import itertools

import pytest
from hetc.diagnostics import HetcError
from hetc.passes.spm.allocate import METHODS, allocate
from hetc.passes.spm.problem import (
    Move,
    SpmOp,
    SpmProblem,
    SpmTensor,
    SpmTooLarge,
    compulsory_bytes,
    replay,
)
from hetc.passes.spm.sim import peak_footprint, simulate
from hetc.passes.spm.synthetic import branchy

KIB = 1024


def _problem(tensors: dict[str, tuple[int, str]], ops: list[tuple[list[str], list[str]]], capacity: int) -> SpmProblem:
    ts = {n: SpmTensor(n, s, k) for n, (s, k) in tensors.items()}
    return SpmProblem(ts, [SpmOp(f"op{i}", tuple(r), tuple(w)) for i, (r, w) in enumerate(ops)], capacity)


def _topo_orders(p: SpmProblem):
    deps = p.deps()
    ops = {op.name: op for op in p.ops}

    def rec(done: list[str]):
        if len(done) == len(ops):
            yield [ops[n] for n in done]
            return
        for n in ops:
            if n not in done and deps[n] <= set(done):
                yield from rec(done + [n])

    yield from rec([])


def _tight(seed: int, n: int, factor: float = 1.0) -> SpmProblem:
    p = branchy(seed, n, unit=KIB)
    p.capacity = int(max(p.footprint(o) for o in p.ops) * factor) // 64 * 64
    return p


def test_unknown_method_lists_the_known_ones():
    p = _tight(0, 8, 2.0)
    with pytest.raises(HetcError, match="unknown scratchpad allocator 'fifo'.*ilp, belady, lru"):
        allocate(p, "fifo")


def test_op_too_large_is_reported_with_sizes():
    p = _problem({"a": (4096, "input"), "b": (4096, "output")}, [(["a"], ["b"])], 6000)
    for m in METHODS:
        with pytest.raises(SpmTooLarge, match="needs 8192 bytes.*capacity is 6000"):
            allocate(p, m)


def test_lru_fragments_where_belady_compacts():
    # a, b, c resident in a row; c's last use frees a hole between a and... :
    # x (2 units) needs a contiguous hole; after b dies, 2 units are free but split
    u = 1024
    p = _problem(
        {"w": (u, "input"), "a": (u, "intermediate"), "b": (u, "intermediate"), "c": (u, "intermediate"),
         "x": (2 * u, "intermediate"), "y": (u, "output")},
        [(["w"], ["a"]), (["a"], ["b"]), (["b"], ["c"]), (["a", "c"], ["x"]), (["x", "a"], ["y"])],
        4 * u,
    )
    lru, bel = allocate(p, "lru"), allocate(p, "belady")
    assert replay(p, bel).noncompulsory == 0
    assert any(isinstance(s, Move) for s in bel.steps)
    assert replay(p, lru).noncompulsory > 0
    assert not any(isinstance(s, Move) for s in lru.steps)


def test_belady_evicts_the_furthest_next_use():
    # op1's output needs room: k1 (next used by op2) or k2 (next used by op3) must go
    u = 1024
    p = _problem(
        {"i": (u, "input"), "k0": (u, "intermediate"), "k1": (u, "intermediate"), "k2": (u, "intermediate"),
         "m": (2 * u, "intermediate"), "n": (u, "intermediate"), "o": (u, "output")},
        [(["i"], ["k0", "k1", "k2"]), (["k0"], ["m"]), (["k1", "m"], ["n"]), (["n", "k2"], ["o"])],
        4 * u,
    )
    bel = allocate(p, "belady")
    stores = [s.tensor for s in bel.steps if type(s).__name__ == "Store"]
    assert "k2" in stores and "k1" not in stores
    assert replay(p, bel).noncompulsory == 2 * u  # k2 stored once, loaded once


@pytest.mark.parametrize("seed", range(6))
def test_every_plan_replays_and_ilp_is_never_worse(seed):
    p = _tight(seed, 30)
    got = {m: replay(p, allocate(p, m, time_limit_s=3)) for m in METHODS}
    assert {t.compulsory for t in got.values()} == {compulsory_bytes(p)}
    assert got["ilp"].noncompulsory <= got["belady"].noncompulsory
    for t in got.values():
        assert t.peak_bytes <= p.capacity


@pytest.mark.parametrize("seed", [0, 2, 3, 6])
def test_ilp_proves_small_graphs_optimal_and_beats_every_fixed_order(seed):
    p = _tight(seed, 12)
    plan = allocate(p, "ilp", time_limit_s=20)
    cost = replay(p, plan).noncompulsory
    assert plan.solver["status"] == "OPTIMAL", plan.solver
    assert plan.solver["gap"] == 0.0
    best_fixed = min(replay(p, type(plan)("b", simulate(p, o, evict="furthest", compact=True))).noncompulsory
                     for o in itertools.islice(_topo_orders(p), 2000))
    assert cost <= best_fixed
    # the proven bound never claims more than a real plan achieves
    assert plan.solver["bound"] <= min(best_fixed, cost)
    assert plan.solver["belady"] == replay(p, allocate(p, "belady")).noncompulsory


@pytest.mark.parametrize("seed", range(5))
def test_zero_noncompulsory_when_the_minimum_peak_fits(seed):
    p = branchy(seed, 10, unit=KIB)
    p.capacity = min(peak_footprint(p, o) for o in _topo_orders(p))
    plan = allocate(p, "ilp", time_limit_s=5)
    assert replay(p, plan).noncompulsory == 0
    # and it is tight: with one alignment unit less no order can keep every tensor
    # resident from its first to its last use, so every allocator must pay
    if p.capacity - 64 >= max(p.footprint(o) for o in p.ops):
        p.capacity -= 64
        for m in METHODS:
            assert replay(p, allocate(p, m, time_limit_s=2)).noncompulsory > 0


def test_ilp_reorders_to_beat_belady():
    # two independent branches: the given order opens both before joining (peak: both
    # big tensors live); finishing one branch first needs no spill at all
    u = 1024
    p = _problem(
        {"x": (u, "input"), "a1": (4 * u, "intermediate"), "b1": (4 * u, "intermediate"),
         "a2": (u, "intermediate"), "b2": (u, "intermediate"), "y": (u, "output")},
        [(["x"], ["a1"]), (["x"], ["b1"]), (["a1"], ["a2"]), (["b1"], ["b2"]), (["a2", "b2", "x"], ["y"])],
        7 * u,
    )
    bel, ilp = allocate(p, "belady"), allocate(p, "ilp", time_limit_s=5)
    assert replay(p, bel).noncompulsory > 0
    assert replay(p, ilp).noncompulsory == 0
    assert ilp.order() != [op.name for op in p.ops]
    assert ilp.solver["status"] == "OPTIMAL"


def test_solver_report_fields():
    p = _tight(3, 14)
    s = allocate(p, "ilp", time_limit_s=5, seed=1).solver
    for key in ("status", "gap", "seconds", "objective", "bound", "belady"):
        assert key in s
    assert 0.0 <= s["gap"] <= 1.0
    assert s["bound"] <= s["objective"]


def test_progress_messages():
    msgs: list[str] = []
    allocate(_tight(2, 14), "ilp", time_limit_s=3, progress=msgs.append)
    assert any("belady" in m for m in msgs)


def test_repack_removes_moves_and_keeps_traffic():
    from hetc.passes.spm.repack import repack

    for seed in range(6):
        p = _tight(seed, 30, 1.05)
        bel = allocate(p, "belady")
        before = replay(p, bel)
        packed = repack(p, bel.steps)
        if packed is None or before.moved == 0:
            continue
        after = replay(p, type(bel)("belady", packed))
        assert after.moved == 0 and not any(isinstance(s, Move) for s in packed)
        assert (after.compulsory, after.noncompulsory) == (before.compulsory, before.noncompulsory)
        return
    pytest.fail("no seed had a plan to repack")


def test_a_wrong_model_objective_raises(monkeypatch):
    from hetc.passes.spm import ilp as ilp_mod

    p = _tight(3, 14)
    real = ilp_mod._solve_exact

    def lying(*a, **k):
        status, steps, obj, bound, secs, lossless = real(*a, **k)
        return status, steps, (obj or 0) + 64, bound, secs, lossless

    monkeypatch.setattr(ilp_mod, "_solve_exact", lying)
    with pytest.raises(HetcError, match="a bug"):
        allocate(p, "ilp", time_limit_s=3)


def test_windows_stitch_into_a_legal_plan():
    from hetc.passes.spm.ilp import ilp
    from hetc.passes.spm.windows import cuts, stitched

    p = _tight(0, 90, 1.0)  # a graph where the order search alone leaves traffic
    cs = cuts(p, p.ops, 30)
    sizes = [b - a for a, b in zip([0, *cs], [*cs, len(p.ops)])]
    assert cs and all(15 <= k <= 30 for k in sizes[:-1]) and 0 < sizes[-1] <= 30
    seen: list[float] = []

    def solve(sub, secs):
        seen.append(secs)
        return allocate(sub, "belady")

    steps = stitched(p, p.ops, window_ops=30, time_limit_s=2, solve=solve)
    assert len(seen) == len(cs) + 1
    t = replay(p, type(allocate(p, "lru"))("ilp", steps))
    assert t.compulsory == compulsory_bytes(p)
    # the windowed ILP is still never worse than belady on the whole graph
    plan = ilp(p, time_limit_s=3, max_exact_ops=30)
    assert replay(p, plan).noncompulsory <= replay(p, allocate(p, "belady")).noncompulsory
    # windows run unless the phase bound already proved the best plan optimal
    assert "windows" in plan.solver or (plan.solver["status"] == "OPTIMAL" and plan.solver["phase_bound"] > 0)
