"""Running agent graphs: dependencies, router branches and loops in process, and the same
outputs on a local Ray (one Ray session for the module)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hetc.diagnostics import HetcError
from hetc.frontend.agent import from_dict, load_agent_graph
from hetc.runtime.agent_runner import run_graph

EX = Path(__file__).resolve().parents[2] / "examples" / "agents"
INPUTS = {"rag": "rag_inputs.json", "tool_agent": "tool_inputs.json", "debate": "debate_inputs.json"}

try:
    import ray
except ImportError:  # pragma: no cover - the optional extra
    ray = None

needs_ray = pytest.mark.skipif(ray is None, reason="ray is not installed (pip install 'hetc[agent]' for ray==2.60.0)")


def _graph(tmp_path: Path, nodes: dict, edges: list, code: str):
    (tmp_path / "fns.py").write_text(code)
    g = from_dict({"name": "t", "nodes": nodes, "edges": edges}, file=str(tmp_path / "t.yaml"), base_dir=str(tmp_path))
    return g


CODE = """
def src(inputs, n=1):
    return inputs["request"]["x"] * n
def pick(inputs):
    return "big" if inputs["src"] > 10 else "small"
def big(inputs):
    return "big:" + str(inputs["pick"])
def small(inputs):
    return "small:" + str(inputs["pick"])
def join(inputs):
    return sorted(k for k in inputs if k != "request")
def step(inputs):
    s = inputs.get("state")
    return (s if isinstance(s, int) else 0) + 1
def stop(inputs):
    return inputs["result"] >= 2
def boom(inputs):
    raise ValueError("no")
"""

NODES = {
    "src": {"kind": "transform", "impl": "fns:src", "params": {"n": 3}},
    "pick": {"kind": "router", "impl": "fns:pick", "branches": {"big": 0.5, "small": 0.5}},
    "big": {"kind": "tool", "impl": "fns:big"},
    "small": {"kind": "tool", "impl": "fns:small"},
    "join": {"kind": "transform", "impl": "fns:join"},
    "loop": {"kind": "loop", "max_iterations": 5, "impl": "fns:stop",
             "body": {"nodes": {"s": {"kind": "transform", "impl": "fns:step"}}}},
}  # fmt: skip
EDGES = [{"from": "src", "to": "pick"}, {"from": "pick", "to": "big"}, {"from": "pick", "to": "small"},
         {"from": "big", "to": "join"}, {"from": "small", "to": "join"}, {"from": "join", "to": "loop"}]  # fmt: skip


def test_branches_loops_and_params(tmp_path):
    g = _graph(tmp_path, NODES, EDGES, CODE)
    r = run_graph(g, {"x": 5})  # 15 > 10: the big branch
    assert r.nodes["small"]["ran"] is False and r.nodes["pick"]["branch"] == "big"
    assert r.outputs == {"loop": 2}  # stopped after the 2nd iteration (of 5)
    assert r.nodes["loop"]["iterations"] == 2 and "loop/s#1" in r.nodes and "loop/s#2" not in r.nodes
    r = run_graph(g, {"x": 1})
    assert r.nodes["big"]["ran"] is False and r.nodes["join"]["ran"]
    assert all(n["measured_s"] >= 0 for n in r.nodes.values() if n.get("ran"))


def test_callable_errors_name_the_node(tmp_path):
    g = _graph(tmp_path, {"a": {"kind": "tool", "impl": "fns:boom"}}, [], CODE)
    with pytest.raises(HetcError, match=r"node 'a'.*fns:boom raised ValueError: no"):
        run_graph(g, {})
    g = _graph(tmp_path, {"a": {"kind": "tool", "impl": "fns:nothere"}}, [], CODE)
    with pytest.raises(HetcError, match="has no function 'nothere'"):
        run_graph(g, {})
    g = _graph(tmp_path, {"a": {"kind": "tool", "impl": "no_such_module_xyz:f"}}, [], CODE)
    with pytest.raises(HetcError, match="cannot import 'no_such_module_xyz'"):
        run_graph(g, {})


def test_router_must_return_a_branch(tmp_path):
    nodes = {"r": {"kind": "router", "impl": "fns:src", "branches": {"a": 1.0}}, "a": {"kind": "tool"}}
    g = _graph(tmp_path, nodes, [{"from": "r", "to": "a"}], CODE)
    with pytest.raises(HetcError, match="not one of its branches"):
        run_graph(g, {"x": 2})


@pytest.mark.parametrize("name", ["rag", "tool_agent", "debate"])
def test_examples_in_process_are_deterministic(name):
    g = load_agent_graph(EX / f"{name}.yaml")
    inputs = json.loads((EX / INPUTS[name]).read_text())
    a, b = run_graph(g, inputs), run_graph(g, inputs)
    assert a.outputs == b.outputs and a.outputs
    other = run_graph(g, {"question": "something else entirely 7 * 6"})
    assert other.outputs != a.outputs  # the outputs depend on the input


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray for every Ray test of the module (starting one takes ~10 s on 2 cores)."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        resources={"hetc_cpu": 16, "hetc_h100": 2, "hetc_h200": 1, "hetc_a100": 4, "hetc_l4": 8, "hetc_t4": 8},
    )
    yield ray
    ray.shutdown()


@needs_ray
@pytest.mark.parametrize("name", ["rag", "tool_agent", "debate"])
def test_ray_gives_the_same_outputs(name, ray_session):
    from hetc.passes.agent_place import load_fleet, plan
    from hetc.passes.agent_place_report import plan_json

    g = load_agent_graph(EX / f"{name}.yaml")
    inputs = json.loads((EX / INPUTS[name]).read_text())
    p = plan_json(plan(g, load_fleet(EX / "fleet.toml"), scenarios=50, solver="heuristic"))
    local = run_graph(g, inputs, plan=p)
    remote = run_graph(g, inputs, ray=True, plan=p)
    assert remote.mode == "ray" and remote.outputs == local.outputs
    assert [k for k, v in remote.nodes.items() if v.get("ran")] == [k for k, v in local.nodes.items() if v.get("ran")]
    ran = [v for v in remote.nodes.values() if v.get("ran") and v["kind"] != "loop"]
    assert all(v["measured_s"] > 0 and v["predicted_s"] is not None and v["device"] for v in ran)


@needs_ray
def test_cli_run_with_ray(ray_session, tmp_path, capsys):
    """`hetc agent run --ray` as a user runs it (in this module's Ray session)."""
    from hetc.cli import main

    out = tmp_path / "run.json"
    args = ["agent", "run", str(EX / "tool_agent.yaml"), "--inputs", str(EX / "tool_inputs.json"), "-q", "-o"]
    assert main(args + [str(out), "--ray"]) == 0
    assert main(args + [str(tmp_path / "local.json")]) == 0
    ray_run, local = json.loads(out.read_text()), json.loads((tmp_path / "local.json").read_text())
    assert ray_run["mode"] == "ray" and local["mode"] == "in-process"
    assert ray_run["outputs"] == local["outputs"] and "17 * 23 + 4 = 395" in ray_run["outputs"]["answer"]
