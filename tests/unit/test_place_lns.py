"""hetc.passes.place.lns: the large-neighbourhood search of the CP-SAT scheduler.

Every schedule here goes through the independent checker (`violations`)."""

from __future__ import annotations

import random

from hetc.passes.place import schedule, violations
from hetc.passes.place.baselines import single_device_schedules
from hetc.passes.place.bounds import device_bounds
from hetc.passes.place.cpsat import LNS_MIN_TASKS, retime
from hetc.passes.place.generate import random_layered_dag
from hetc.passes.place.heft import heft
from hetc.passes.place.lns import _subsolve, critical_chain, lns
from hetc.passes.place.taskgraph import EPS


def _mk(tasks) -> float:
    return max(p.end for p in tasks.values())


def test_lns_improves_a_poor_incumbent_and_stays_valid():
    g = random_layered_dag(40, 1.0, 0)
    start = min(single_device_schedules(g).values(), key=lambda s: s.makespan)
    best, trace, stats = lns(g, start.tasks, time_limit=1.5, seed=0)
    assert not violations(g, best)
    assert set(best) == set(g.cost)
    assert (
        _mk(best) < start.makespan
    )  # everything on one device is far from optimal here
    assert stats["steps"] >= 1 and stats["improved"] == len(trace)
    assert all(
        b < a for (_, a), (_, b) in zip(trace, trace[1:])
    )  # the trace only improves


def test_lns_never_returns_worse_than_heft():
    for ccr in (0.5, 5.0):
        g = random_layered_dag(30, ccr, 1)
        h = heft(g)
        best, _, _ = lns(g, h.tasks, time_limit=0.8, seed=3)
        assert not violations(g, best)
        assert _mk(best) <= h.makespan + EPS


def test_subsolve_with_nothing_free_keeps_the_makespan():
    # every task kept on its device and in its order: the left-shifted schedule is optimal
    g = random_layered_dag(30, 2.0, 0)
    inc = retime(g, heft(g).tasks)
    head, tail, allowed = device_bounds(g, _mk(inc))
    status, tasks, _ = _subsolve(
        g, inc, set(), tail, head, allowed, int(_mk(inc)), 2.0, 0, 1
    )
    assert status == "OPTIMAL" and tasks is not None
    assert _mk(tasks) == _mk(inc) and all(
        tasks[t].device == inc[t].device for t in g.cost
    )


def test_subsolve_with_everything_free_is_a_valid_schedule_no_longer():
    g = random_layered_dag(12, 1.0, 0)
    inc = retime(g, heft(g).tasks)
    head, tail, allowed = device_bounds(g, _mk(inc))
    status, tasks, _ = _subsolve(
        g, inc, set(g.cost), tail, head, allowed, int(_mk(inc)), 5.0, 0, 1
    )
    assert status in ("OPTIMAL", "FEASIBLE") and tasks is not None
    assert not violations(g, tasks)
    assert _mk(tasks) <= _mk(inc)


def test_critical_chain_sets_the_makespan():
    g = random_layered_dag(30, 2.0, 0)
    inc = retime(g, heft(g).tasks)
    chain = critical_chain(g, inc, random.Random(0))
    assert inc[chain[-1]].end == _mk(inc)
    assert inc[chain[0]].start == 0
    preds = {t: dict(g.preds[t]) for t in g.cost}
    for a, b in zip(
        chain, chain[1:]
    ):  # each step is a binding edge or a device hand-over
        pa, pb = inc[a], inc[b]
        via_edge = (
            a in preds[b]
            and pa.end + (preds[b][a] if pa.device != pb.device else 0) == pb.start
        )
        via_device = pa.device == pb.device and pa.end == pb.start
        assert via_edge or via_device


def test_ilp_uses_lns_from_its_threshold_and_reports_it():
    g = random_layered_dag(LNS_MIN_TASKS + 10, 5.0, 0)
    s = schedule(g, "ilp", time_limit=2.0)
    assert not violations(g, s, makespan=s.makespan)
    assert s.makespan <= heft(g).makespan
    assert any("large-neighbourhood search" in n for n in s.notes) or s.optimal
    assert s.lower_bound is not None and s.lower_bound <= s.makespan + EPS
