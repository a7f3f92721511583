"""The order-independent facts of passes/spm/bounds.py and the strengthened exact model
that uses them: every added constraint and bound must be valid (never cut off an
optimum), checked against the plain model and brute force over topological orders on
small seeded problems from synthetic.py; plans from every model replay to the traffic
the model predicts."""

from __future__ import annotations

import itertools

import pytest
from hetc.passes.spm.bounds import (
    closure,
    cover_bound,
    forced_live,
    phase_cuts,
    phases,
    position_windows,
)
from hetc.passes.spm.ilp import _solve_exact, ilp
from hetc.passes.spm.problem import SpmOp, SpmPlan, SpmProblem, SpmTensor, replay
from hetc.passes.spm.synthetic import branchy

KIB = 1024


def _tight(seed: int, n: int, factor: float) -> SpmProblem:
    p = branchy(seed, n, unit=KIB)
    p.capacity = int(max(p.footprint(o) for o in p.ops) * factor) // 64 * 64
    return p


def _topo_orders(p: SpmProblem, limit: int = 3000):
    deps = p.deps()

    def rec(done: list[str]):
        if len(done) == len(p.ops):
            yield list(done)
            return
        for op in p.ops:
            if op.name not in done and deps[op.name] <= set(done):
                yield from rec(done + [op.name])

    return itertools.islice(rec([]), limit)


def _optimum(p: SpmProblem, **kw) -> tuple[str, int, list]:
    status, steps, obj, _, _, lossless = _solve_exact(
        p, p.ops, None, time_limit_s=20, seed=0, addresses=False, max_intervals=None, **kw
    )
    assert lossless and steps is not None
    # the plan is legal and replays to exactly the bytes the model predicts
    assert replay(p, SpmPlan("ilp", steps)).noncompulsory == obj
    return status, obj, steps


# small problems (11-21 ops), most with traffic at the tightest capacity, some without
CASES = ([(s, 9, 1.0) for s in (2, 3, 7, 8, 9)] + [(s, 13, 1.0) for s in (0, 6, 9)] + [(3, 16, 1.0)]
         + [(s, 11, 1.15) for s in range(3)])


@pytest.mark.parametrize("seed,n,factor", CASES)
def test_strengthened_model_keeps_the_plain_optimum(seed, n, factor):
    p = _tight(seed, n, factor)
    plain_status, plain, _ = _optimum(p, strengthen=False)
    strong_status, strong, _ = _optimum(p, strengthen=True)
    proved_status, proved, _ = _optimum(p, strengthen=True, prove=True)
    assert plain_status == strong_status == proved_status == "OPTIMAL"
    assert plain == strong == proved
    # the cheap bounds never claim more than the optimum
    assert cover_bound(p)[0] <= plain


def test_some_case_has_traffic_and_a_nonzero_cover():
    # the validity test above must compare problems that do pay something
    assert sum(_optimum(_tight(s, n, f), strengthen=False)[1] > 0 for s, n, f in CASES) >= 8
    # a chain whose op needs most of the scratchpad while a big tensor waits across it
    u = 1024
    t = {"x": (u, "input"), "big": (4 * u, "intermediate"), "a": (u, "intermediate"),
         "b": (4 * u, "intermediate"), "c": (u, "intermediate"), "y": (u, "output")}
    ops = [(["x"], ["big"]), (["big"], ["a"]), (["a"], ["b"]), (["b"], ["c"]), (["c", "big"], ["y"])]
    p = SpmProblem({k: SpmTensor(k, s, kind) for k, (s, kind) in t.items()},
                   [SpmOp(f"op{i}", tuple(r), tuple(w)) for i, (r, w) in enumerate(ops)], 6 * u)
    rows = forced_live(p)
    assert [(j, live) for j, _, live in rows] == [(2, ["big"]), (3, ["big"])]
    lb, exact = cover_bound(p)
    assert exact and lb == 2 * 4 * u  # big is stored once and loaded once
    assert _optimum(p, strengthen=False)[1] == lb


@pytest.mark.parametrize("seed", range(4))
def test_windows_and_cuts_hold_in_every_topological_order(seed):
    p = branchy(seed, 10, unit=KIB)
    win = position_windows(p)
    cuts = phase_cuts(p)
    idx = {op.name: i for i, op in enumerate(p.ops)}
    n_orders = 0
    for order in _topo_orders(p):
        n_orders += 1
        for at, name in enumerate(order):
            lo, hi = win[idx[name]]
            assert lo <= at <= hi
        for c in cuts:
            assert {idx[x] for x in order[:c]} == set(range(c))
    assert n_orders > 1 and cuts  # branchy graphs have joins that everything passes through
    cl = closure(p)
    assert all(not (cl.anc[i] >> i) & 1 and not (cl.desc[i] >> i) & 1 for i in range(len(p.ops)))


@pytest.mark.parametrize("seed", [0, 1, 3])
def test_phase_bound_is_a_lower_bound(seed):
    p = _tight(seed, 16, 1.0)
    _, whole, _ = _optimum(p, strengthen=False)
    for group in (1, 8):
        parts = phases(p, group)
        assert parts[0][0] == 0 and parts[-1][1] == len(p.ops)
        assert all(b1 == a2 for (_, b1, _), (a2, _, _) in itertools.pairwise(parts))
        total = 0
        for _, _, sub in parts:
            sub.validate()
            status, obj, _ = _optimum(sub)
            assert status == "OPTIMAL"
            total += obj
        assert total <= whole


def test_fixed_order_model_is_that_orders_optimum():
    p = _tight(2, 10, 1.0)
    _, free, _ = _optimum(p, strengthen=False)
    for names in itertools.islice(_topo_orders(p), 0, 60, 20):
        by = {op.name: op for op in p.ops}
        order = [by[n] for n in names]
        status, steps, obj, _, _, lossless = _solve_exact(
            p, order, None, time_limit_s=10, seed=0, addresses=False, max_intervals=None, fixed_order=True
        )
        assert status == "OPTIMAL" and not lossless
        plan = SpmPlan("ilp", steps)
        assert plan.order() == names
        assert replay(p, plan).noncompulsory == obj >= free


def test_ilp_proves_a_44_op_graph_with_traffic():
    p = _tight(3, 40, 1.0)
    plan = ilp(p, time_limit_s=10)
    t = replay(p, plan)
    assert t.noncompulsory == plan.solver["objective"] > 0
    assert plan.solver["phases"] > 1
    assert plan.solver["bound"] <= t.noncompulsory
    assert plan.solver["status"] == "OPTIMAL", plan.solver
