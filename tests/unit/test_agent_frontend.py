"""The agent-graph frontend: schema and semantic errors name the file, node and field;
YAML and JSON read the same; the IR verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hetc.diagnostics import HetcError
from hetc.frontend.agent import from_dict, load_agent_graph, parse_duration, to_module

EX = Path(__file__).resolve().parents[2] / "examples" / "agents"

BASE = {
    "name": "g",
    "models": {"m": {"params": 1.0e9, "layers": 16, "hidden": 2048}},
    "nodes": {
        "a": {"kind": "retrieve", "index": {"vectors": 1000, "dim": 16}, "k": 4},
        "b": {"kind": "llm", "model": "m", "input_tokens": 100, "output_tokens": {"mean": 20, "std": 5}},
    },
    "edges": [{"from": "a", "to": "b"}],
}


def _with(path: list, value) -> dict:
    d = json.loads(json.dumps(BASE))
    cur = d
    for p in path[:-1]:
        cur = cur[p]
    if value is None:
        del cur[path[-1]]
    else:
        cur[path[-1]] = value
    return d


def _err(data: dict, tmp_path: Path, name: str = "g.yaml") -> str:
    import yaml

    f = tmp_path / name
    f.write_text(yaml.safe_dump(data) if name.endswith(".yaml") else json.dumps(data))
    with pytest.raises(HetcError) as e:
        load_agent_graph(f)
    return str(e.value)


@pytest.mark.parametrize("name", ["rag", "tool_agent", "debate"])
def test_examples_load_and_verify(name):
    g = load_agent_graph(EX / f"{name}.yaml")
    m = to_module(g)
    m.verify()
    assert g.sla.latency_s > 0 and 0 < g.sla.percentile <= 100


def test_yaml_and_json_read_the_same(tmp_path):
    import yaml

    (tmp_path / "g.json").write_text(json.dumps(BASE))
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(BASE))
    a, b = load_agent_graph(tmp_path / "g.json"), load_agent_graph(tmp_path / "g.yaml")
    assert str(to_module(a)) == str(to_module(b))


def test_yaml_reads_exponents_without_sign(tmp_path):
    (tmp_path / "g.yaml").write_text(
        "name: g\nnodes:\n  a: {kind: llm, model: {params: 8.0e9, layers: 2, hidden: 8}, input_tokens: 3, output_tokens: 2}\n"
    )
    assert load_agent_graph(tmp_path / "g.yaml").nodes["a"].model.params == 8.0e9


def test_wrong_type_names_file_node_and_field(tmp_path):
    msg = _err(_with(["nodes", "b", "output_tokens"], -3), tmp_path)
    assert "g.yaml" in msg and "node 'b' (llm)" in msg and "output_tokens" in msg


def test_unknown_field_lists_the_kinds_fields(tmp_path):
    msg = _err(_with(["nodes", "b", "max_tokens"], 5), tmp_path, "g.json")
    assert "g.json" in msg and "node 'b'" in msg and "max_tokens" in msg and "fields of a llm node" in msg


def test_missing_required_field(tmp_path):
    msg = _err(_with(["nodes", "a", "k"], None), tmp_path)
    assert "node 'a' (retrieve)" in msg and "'k' is a required property" in msg


def test_unknown_kind(tmp_path):
    msg = _err(_with(["nodes", "a"], {"kind": "agentic"}), tmp_path)
    assert "node 'a'" in msg and "kind" in msg


def test_error_inside_a_loop_body_names_the_body_node(tmp_path):
    d = _with(["nodes", "l"], {"kind": "loop", "max_iterations": 2,
                               "body": {"nodes": {"x": {"kind": "tool", "latency": "fast"}}}})  # fmt: skip
    msg = _err(d, tmp_path)
    assert "node 'l/x'" in msg and "latency" in msg


def test_semantic_errors(tmp_path):
    assert "unknown node 'c'" in _err(_with(["edges"], [{"from": "a", "to": "c"}]), tmp_path)
    assert "cycle" in _err(_with(["edges"], [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]), tmp_path)
    assert "unknown model 'zz'" in _err(_with(["nodes", "b", "model"], "zz"), tmp_path)
    d = _with(["models", "m"], {"params": 1e9})
    assert "has no layers/hidden" in _err(d, tmp_path)
    d = _with(["nodes", "r"], {"kind": "router", "branches": {"a": 0.5, "b": 0.4}})
    assert "add up to 0.9" in _err(d, tmp_path)
    d = _with(["nodes", "r"], {"kind": "router", "branches": {"b": 1.0}})
    assert "not a successor of the router" in _err(d, tmp_path)
    assert "exceeds the index size" in _err(_with(["nodes", "a", "k"], 5000), tmp_path)
    assert "objective.rate" in _err(_with(["objective"], {"minimize": "cost_per_hour"}), tmp_path)


def test_not_yaml_and_missing_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(HetcError, match="not valid YAML"):
        load_agent_graph(tmp_path / "bad.yaml")
    with pytest.raises(HetcError, match="no such file"):
        load_agent_graph(tmp_path / "nope.yaml")


def test_the_schema_is_valid_json_schema():
    import jsonschema

    from hetc.frontend.agent import schema

    jsonschema.Draft202012Validator.check_schema(schema())


def test_durations():
    assert parse_duration("2s") == 2.0 and parse_duration("350ms") == pytest.approx(0.35)
    assert parse_duration(1.5) == 1.5 and parse_duration("40us") == pytest.approx(4e-5)
    with pytest.raises(HetcError):
        parse_duration("soon")


def test_ir_has_one_op_per_node_and_ssa_edges():
    g = from_dict(BASE)
    m = to_module(g)
    ops = list(m.body.block.ops)
    assert [o.name for o in ops] == ["agent.retrieve", "agent.llm"]
    assert ops[1].operands[0] is ops[0].results[0]
