"""`hetc place`, run the way a user runs it: as a subprocess, looking only at the exit
code, stdout, stderr and the JSON written (checked by the independent validator)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from hetc.passes.place import load_dag_json, violations

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "examples" / "dag_topcuoglu.json"


def hetc(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hetc.cli", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_heft_table_and_makespan():
    r = hetc("place", PAPER, "--scheduler", "heft")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["task", "device", "start", "end"]
    assert lines[2].split() == ["n1", "p3", "0", "9"]
    assert lines[-1].startswith("makespan 80 (heft")
    assert "heft: 10 tasks, 15 edges, 3 devices" in r.stderr  # progress on stderr


def test_ilp_json(tmp_path):
    out = tmp_path / "sub" / "out.json"
    r = hetc("place", PAPER, "--scheduler", "ilp", "--time-limit", "2", "--json", out)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout and "makespan 73" in r.stdout
    res = json.loads(out.read_text())
    assert res["makespan"] == 73 and res["optimal"] is True and res["gap"] == 0
    assert res["scheduler"] == "ilp" and res["status"] == "OPTIMAL"
    assert set(res["tasks"]) == {f"n{i}" for i in range(1, 11)}
    assert set(res["tasks"]["n1"]) == {"device", "start", "end"}
    assert violations(load_dag_json(PAPER), res["tasks"], makespan=res["makespan"]) == []


def test_json_to_stdout_quiet_and_other_schedulers():
    for sched, makespan in (("greedy", 88), ("single", 127), ("heft", 80)):
        r = hetc("place", PAPER, "-s", sched, "--json", "-", "--quiet")
        assert r.returncode == 0 and r.stderr == "", r.stderr
        res = json.loads(r.stdout)
        assert res["makespan"] == makespan and res["scheduler"] == sched
        assert violations(load_dag_json(PAPER), res["tasks"]) == []


def test_cost_objective_with_sla(tmp_path):
    g = {
        "devices": ["cpu", "gpu"],
        "tasks": {"a": {"cost": {"cpu": 6, "gpu": 2}}, "b": {"cost": {"cpu": 6, "gpu": 2}}, "c": {"cost": {"cpu": 3}}},
        "edges": [{"src": "a", "dst": "c", "comm": 1}, {"src": "b", "dst": "c", "comm": 1}],
        "cost_rate": {"cpu": 1, "gpu": 5},
    }
    f = tmp_path / "g.json"
    f.write_text(json.dumps(g))
    r = hetc("place", f, "--objective", "cost", "--sla", "10", "--json", "-", "-q", "--time-limit", "2")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert res["makespan"] <= 10 and res["optimal"] and res["objective"] == "cost"
    assert res["cost"] == 19  # one of a, b on the gpu (10), the other and c on the cpu (6 + 3)
    r = hetc("place", f, "--objective", "cost", "--sla", "4")
    assert r.returncode == 1 and "SLA 4 is infeasible" in r.stderr


def test_help_has_an_example_and_the_format():
    r = hetc("place", "--help")
    assert r.returncode == 0
    assert "example: hetc place examples/dag_topcuoglu.json" in r.stdout
    assert '"edges": [{"src": "t1", "dst": "t2", "comm": 18}]' in r.stdout


def test_bad_input_exits_non_zero_with_a_named_reason(tmp_path):
    f = tmp_path / "cycle.json"
    f.write_text(json.dumps({
        "devices": ["p0"], "tasks": {"a": {"cost": {"p0": 1}}, "b": {"cost": {"p0": 1}}},
        "edges": [{"src": "a", "dst": "b", "comm": 1}, {"src": "b", "dst": "a", "comm": 1}],
    }))  # fmt: skip
    r = hetc("place", f)
    assert r.returncode == 1
    assert "cycle.json: the task graph has a cycle: a -> b -> a" in r.stderr
    assert "Traceback" not in r.stderr
    g = tmp_path / "orphan.json"
    g.write_text(json.dumps({"devices": ["p0"], "tasks": {"a": {"cost": {"p9": 1}}}}))
    r = hetc("place", g)
    assert r.returncode == 1 and "task 'a' has a cost on unknown device 'p9'" in r.stderr
    r = hetc("place", tmp_path / "missing.json")
    assert r.returncode == 1 and "no such file" in r.stderr
    csv = tmp_path / "graph.csv"
    csv.write_text("a,b\n")
    r = hetc("place", csv)
    assert r.returncode == 1 and "not supported" in r.stderr
