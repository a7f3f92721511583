"""hetc.passes.place: HEFT exactly as published, the CP-SAT scheduler (optimal on the
paper's example and on brute-forced tiny graphs, never worse than HEFT), the baselines,
the independent checker, and the errors a user gets for bad input.

Every schedule here goes through the independent checker (`violations`)."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest

from hetc.diagnostics import HetcError
from hetc.passes.place import (
    Edge,
    Placement,
    TaskGraph,
    load_dag_json,
    lower_bound,
    schedule,
    timetable,
    upward_ranks,
    violations,
)
from hetc.passes.place.cpsat import cpsat_schedule
from hetc.passes.place.generate import random_layered_dag
from hetc.passes.place.heft import heft_order

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "examples" / "dag_topcuoglu.json"


def _valid(g: TaskGraph, s, **kw):
    bad = violations(g, s, makespan=s.makespan, **kw)
    assert not bad, bad
    return s


@pytest.fixture(scope="module")
def paper() -> TaskGraph:
    return load_dag_json(PAPER)


# ---------------------------------------------------------------- HEFT, the paper's example


def test_paper_example_is_the_published_graph(paper):
    assert paper.devices == ["p1", "p2", "p3"]
    assert len(paper.cost) == 10 and len(paper.edges) == 15
    assert paper.cost["n1"] == {"p1": 14, "p2": 16, "p3": 9}
    assert paper.cost["n10"] == {"p1": 21, "p2": 7, "p3": 16}
    assert {(e.src, e.dst): e.comm for e in paper.edges}[("n4", "n8")] == 27


def test_heft_upward_ranks_and_order(paper):
    # Topcuoglu, Hariri, Wu (2002), Table 1 (rank_u) and the priority list of Fig. 3
    want = {"n1": 108, "n2": 77, "n3": 80, "n4": 80, "n5": 69, "n6": 63.333,
            "n7": 42.667, "n8": 35.667, "n9": 44.333, "n10": 14.667}  # fmt: skip
    got = upward_ranks(paper)
    assert {t: round(v, 3) for t, v in got.items()} == pytest.approx(want)
    assert heft_order(paper) == ["n1", "n3", "n4", "n2", "n5", "n6", "n9", "n7", "n8", "n10"]


def test_heft_gives_the_published_schedule(paper):
    s = _valid(paper, schedule(paper, "heft"))
    assert s.makespan == 80
    published = {  # Fig. 3(a)
        "n1": ("p3", 0, 9), "n3": ("p3", 9, 28), "n4": ("p2", 18, 26), "n2": ("p1", 27, 40),
        "n5": ("p3", 28, 38), "n6": ("p2", 26, 42), "n9": ("p2", 56, 68), "n7": ("p3", 38, 49),
        "n8": ("p1", 57, 62), "n10": ("p2", 73, 80),
    }  # fmt: skip
    assert {t: (p.device, p.start, p.end) for t, p in s.tasks.items()} == published
    assert s.status == "HEURISTIC" and not s.optimal


def test_ilp_proves_the_optimum_of_the_paper_example(paper):
    s = _valid(paper, schedule(paper, "ilp", time_limit=5))
    assert s.makespan == 73 < 80
    assert s.optimal and s.status == "OPTIMAL" and s.gap == 0.0 and s.lower_bound == 73


def test_baselines_on_the_paper_example(paper):
    single = _valid(paper, schedule(paper, "single"))
    assert single.makespan == min(sum(c[d] for c in paper.cost.values()) for d in paper.devices) == 127
    assert len({p.device for p in single.tasks.values()}) == 1
    greedy = _valid(paper, schedule(paper, "greedy"))
    assert greedy.makespan >= 73


# ------------------------------------------------------------ exactness on tiny graphs


def _brute_force(g: TaskGraph, objective: str = "makespan", sla: float | None = None) -> float:
    """Optimum by enumeration: every placement x every topological order (which fixes the
    order on each device), each timetabled at its earliest times."""
    tasks = list(g.cost)
    orders = []
    for perm in itertools.permutations(tasks):
        pos = {t: i for i, t in enumerate(perm)}
        if all(pos[e.src] < pos[e.dst] for e in g.edges):
            orders.append(perm)
    best = float("inf")
    for devs in itertools.product(*(g.can_run(t) for t in tasks)):
        dev = dict(zip(tasks, devs))
        if objective == "cost":
            cost = sum(g.run_cost(t, dev[t]) for t in tasks)
            if cost >= best:
                continue
        for perm in orders:
            per: dict[str, list[str]] = {}
            for t in perm:
                per.setdefault(dev[t], []).append(t)
            mk = max(p.end for p in timetable(g, dev, per).values())
            if objective == "makespan":
                best = min(best, mk)
            elif sla is None or mk <= sla:
                best = min(best, cost)
                break
    return best


def _tiny(seed: int, n: int = 6, devices: int = 2) -> TaskGraph:
    rng = random.Random(seed)
    devs = [f"d{k}" for k in range(devices)]
    cost = {f"t{i}": {d: rng.randint(1, 9) for d in devs} for i in range(n)}
    if seed % 3 == 0:  # some tasks run on one device only
        del cost["t1"][devs[0]]
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    edges = [Edge(f"t{i}", f"t{j}", rng.randint(0, 12)) for i, j in pairs if rng.random() < 0.35]
    return TaskGraph(devs, cost, edges, cost_rate={devs[0]: 3.0, devs[1]: 1.0})


@pytest.mark.parametrize("seed", range(6))
def test_ilp_matches_brute_force_on_tiny_graphs(seed):
    g = _tiny(seed)
    s = _valid(g, schedule(g, "ilp", time_limit=2))
    assert s.optimal
    assert s.makespan == _brute_force(g)


def test_identical_devices_symmetry_breaking_keeps_the_optimum():
    g = TaskGraph(
        ["gpu0", "gpu1", "cpu"],
        {f"t{i}": {"gpu0": 2 + i % 3, "gpu1": 2 + i % 3, "cpu": 7} for i in range(6)},
        [Edge("t0", "t2", 3), Edge("t1", "t2", 1), Edge("t2", "t4", 2), Edge("t3", "t5", 4)],
    )
    s = _valid(g, schedule(g, "ilp", time_limit=2))
    assert s.optimal and s.makespan == _brute_force(g)


def test_cost_objective_under_an_sla_matches_brute_force():
    g = _tiny(4)
    fastest = schedule(g, "ilp", time_limit=2).makespan
    for sla in (fastest, fastest + 5, 1000):
        s = _valid(g, schedule(g, "ilp", time_limit=2, objective="cost", sla=sla), sla=sla)
        assert s.optimal and s.objective == "cost"
        assert s.cost == pytest.approx(_brute_force(g, "cost", sla))


# ---------------------------------------------------- random DAGs: never worse than HEFT


@pytest.mark.parametrize("n,ccr,seed", [(20, 0.5, 0), (20, 5.0, 1), (30, 1.0, 0), (30, 10.0, 0), (40, 0.1, 2)])
def test_ilp_never_worse_than_heft_or_single_device(n, ccr, seed):
    g = random_layered_dag(n, ccr, seed)
    h = _valid(g, schedule(g, "heft"))
    single = _valid(g, schedule(g, "single"))
    greedy = _valid(g, schedule(g, "greedy"))
    s = _valid(g, schedule(g, "ilp", time_limit=1.5))
    assert s.makespan <= min(h.makespan, single.makespan, greedy.makespan)
    assert s.lower_bound is not None and s.lower_bound <= s.makespan
    assert lower_bound(g) <= s.makespan
    assert 0.0 <= s.gap < 1.0


def test_generator_is_seeded():
    a, b = random_layered_dag(30, 1.0, 3), random_layered_dag(30, 1.0, 3)
    assert a.to_dict() == b.to_dict()
    assert a.to_dict() != random_layered_dag(30, 1.0, 4).to_dict()
    assert len(a.cost) == 30 and a.topological_order


def test_large_graphs_are_decomposed_into_windows():
    g = random_layered_dag(60, 1.0, 0)
    s = _valid(g, cpsat_schedule(g, time_limit=3, max_tasks=25))
    assert any("decomposed" in n for n in s.notes)
    assert s.makespan <= schedule(g, "heft").makespan


def test_timeout_falls_back_to_the_best_heuristic():
    g = random_layered_dag(100, 1.0, 0)
    s = _valid(g, schedule(g, "ilp", time_limit=0.001))
    assert s.status.startswith("timeout, ") and s.status.endswith(" fallback")
    assert s.makespan <= schedule(g, "heft").makespan  # the best warm start: HEFT or a list-schedule variant
    assert not s.optimal and s.gap is not None and s.gap > 0


def test_fractional_times_are_scaled():
    g = TaskGraph(["a", "b"], {"x": {"a": 1.5, "b": 2.25}, "y": {"a": 0.5, "b": 0.75}}, [Edge("x", "y", 0.125)])
    s = _valid(g, schedule(g, "ilp", time_limit=1))
    assert s.optimal and s.makespan == pytest.approx(2.0)
    g3 = TaskGraph(["a", "b"], {"x": {"a": 1 / 3, "b": 0.5}, "y": {"a": 2 / 3, "b": 0.25}}, [Edge("x", "y", 0.1)])
    s3 = _valid(g3, schedule(g3, "ilp", time_limit=1))
    assert s3.makespan == pytest.approx(1 / 3 + 0.1 + 0.25)  # x on a, transfer, y on b
    assert any("rounded up" in n for n in s3.notes)
    assert s3.lower_bound <= s3.makespan


def test_memory_capacity_is_respected():
    cost = {f"t{i}": {"big": 1, "small": 4} for i in range(4)}
    g = TaskGraph(["big", "small"], cost, [], memory={t: 3 for t in cost}, capacity={"big": 6, "small": 100})
    for sched in ("ilp", "heft", "greedy"):
        s = _valid(g, schedule(g, sched, time_limit=1))
        assert sum(p.device == "big" for p in s.tasks.values()) <= 2
    assert schedule(g, "ilp", time_limit=1).makespan == 8  # two on small, one after the other
    g.capacity["big"] = 12
    assert schedule(g, "ilp", time_limit=1).makespan == 4  # all four fit on big now


# ------------------------------------------------------------------- the checker itself


def test_checker_rejects_broken_schedules(paper):
    good = schedule(paper, "heft")
    assert violations(paper, good) == []

    def broken(**change):
        tasks = dict(good.tasks)
        for t, p in change.items():
            tasks[t] = p
        return tasks

    p = good.tasks
    # n10 (on p2) starts before n8 (on p1) has ended and its data arrived
    assert any("n8 -> n10" in v for v in violations(paper, broken(n10=Placement("p2", 60, 67))))
    # an overlap with a task that is not the next one on the device
    g2 = TaskGraph(["a"], {"x": {"a": 10}, "y": {"a": 1}, "z": {"a": 1}}, [])
    nested = {"x": {"device": "a", "start": 0, "end": 10}, "y": {"device": "a", "start": 1, "end": 2},
              "z": {"device": "a", "start": 3, "end": 4}}  # fmt: skip
    assert sum("overlap" in v for v in violations(g2, nested)) == 2
    # same device as n9 and n4, overlapping them
    assert any("overlap" in v for v in violations(paper, broken(n6=Placement("p2", 20, 36))))
    # the transfer is ignored: n2 on p1 right after n1 ends on p3
    assert any("transfer" in v for v in violations(paper, broken(n2=Placement("p1", 9, 22))))
    # wrong run time, unknown device, missing task
    assert any("run time" in v for v in violations(paper, broken(n1=Placement("p3", 0, 8))))
    assert any("unknown device" in v for v in violations(paper, broken(n1=Placement("p7", 0, 9))))
    missing = {t: q for t, q in p.items() if t != "n5"}
    assert any("n5 is not scheduled" in v for v in violations(paper, missing))
    # a device that cannot run the task
    g = TaskGraph(["a", "b"], {"x": {"a": 1}}, [])
    assert any("cannot run" in v for v in violations(g, {"x": {"device": "b", "start": 0, "end": 1}}))
    # SLA, reported makespan, memory
    assert any("SLA" in v for v in violations(paper, good, sla=79))
    assert any("makespan" in v for v in violations(paper, good, makespan=70))
    gm = TaskGraph(["a"], {"x": {"a": 1}, "y": {"a": 1}}, [], memory={"x": 2, "y": 2}, capacity={"a": 5})
    gm.capacity["a"] = 3
    sm = {"x": {"device": "a", "start": 0, "end": 1}, "y": {"device": "a", "start": 1, "end": 2}}
    assert any("capacity" in v for v in violations(gm, sm))


# ---------------------------------------------------------------------------- bad input


def _load(tmp_path, data) -> TaskGraph:
    f = tmp_path / "g.json"
    f.write_text(json.dumps(data))
    return load_dag_json(f)


BASE = {"devices": ["p0", "p1"], "tasks": {"a": {"cost": {"p0": 1, "p1": 2}}, "b": {"cost": {"p0": 1}}}}


@pytest.mark.parametrize(
    "change,message",
    [
        ({"edges": [{"src": "a", "dst": "b"}, {"src": "b", "dst": "a"}]}, "cycle: a -> b -> a"),
        ({"edges": [{"src": "a", "dst": "a"}]}, "self-loop on task 'a'"),
        ({"tasks": {"a": {"cost": {}}}}, "task 'a' cannot run on any device"),
        ({"tasks": {"a": {"cost": {"gpu": 1}}}}, "task 'a' has a cost on unknown device 'gpu'"),
        ({"tasks": {"a": {"cost": {"p0": -1}}}}, "task 'a' has cost -1"),
        ({"tasks": {"a": {"costs": {"p0": 1}}}}, "task 'a' has unknown key 'costs'"),
        ({"edges": [{"src": "a", "dst": "zz", "comm": 1}]}, "names unknown task 'zz'"),
        ({"edges": [{"src": "a", "dst": "b"}, {"src": "a", "dst": "b"}]}, "edge a -> b is given twice"),
        ({"edges": [{"src": "a", "dst": "b", "comm": "x"}]}, "edge 0 comm is 'x'"),
        ({"devices": ["p0", "p0"]}, "device 'p0' is listed twice"),
        ({"capacity": {"p9": 1}}, "'capacity' names unknown device 'p9'"),
        ({"tasks": {"a": {"cost": {"p0": 1}, "memory": 5}}, "capacity": {"p0": 4}}, "task 'a' needs memory 5"),
    ],
)
def test_bad_input_is_named(tmp_path, change, message):
    data = {**BASE, **change}
    if "tasks" in change:
        data["tasks"] = {**BASE["tasks"], **change["tasks"]}
    with pytest.raises(HetcError) as err:
        _load(tmp_path, data)
    assert message in str(err.value)
    assert "g.json" in str(err.value)


def test_not_json(tmp_path):
    f = tmp_path / "g.json"
    f.write_text("{nope")
    with pytest.raises(HetcError, match="not valid JSON"):
        load_dag_json(f)


def test_infeasible_sla_and_capacity():
    g = TaskGraph(["p0", "p1"], {"a": {"p0": 3, "p1": 5}, "b": {"p0": 3, "p1": 5}}, [Edge("a", "b", 1)],
                  cost_rate={"p0": 5, "p1": 1})  # fmt: skip
    with pytest.raises(HetcError, match="SLA 3 is infeasible"):
        schedule(g, "ilp", objective="cost", sla=3)
    with pytest.raises(HetcError, match="misses the SLA 5"):
        schedule(g, "heft", sla=5)
    cap = TaskGraph(["p0", "p1"], {"a": {"p0": 3, "p1": 5}, "b": {"p0": 3, "p1": 5}}, [],
                    memory={"a": 6, "b": 6}, capacity={"p0": 10, "p1": 5})  # fmt: skip
    with pytest.raises(HetcError, match="memory capacit"):
        schedule(cap, "ilp", time_limit=1)
    with pytest.raises(HetcError, match="task 'b' fits on no device"):
        schedule(cap, "heft")
    with pytest.raises(HetcError, match="no single device can run every task"):
        schedule(TaskGraph(["p0", "p1"], {"a": {"p0": 1}, "b": {"p1": 1}}, []), "single")
    with pytest.raises(HetcError, match="unknown scheduler"):
        schedule(cap, "magic")
