"""`hetc agent validate|plan|run` as a user runs them (the CLI's main with argv)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hetc.cli import main

EX = Path(__file__).resolve().parents[2] / "examples" / "agents"
FLEET = str(EX / "fleet.toml")


def test_plan_writes_json_report_and_ir(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        ["agent", "plan", str(EX / "rag.yaml"), "--fleet", FLEET, "--sla", "2s", "--scenarios", "120", "-o", str(out)]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "best homogeneous fleet" in text and "saving" in text
    plan = json.loads((out / "plan.json").read_text())
    assert plan["feasible"] and plan["latency_s"] <= 2.0 and plan["sla"] == {"latency_s": 2.0, "percentile": 95.0}
    assert plan["solver"]["status"] in ("OPTIMAL", "FEASIBLE") and plan["solver"]["gap"] is not None
    assert {o["unit"] for o in plan["ops"]} == set(plan["placement"]) >= {"generate.prefill", "generate.decode"}
    best = min(b["cost_per_request"] for b in plan["baselines"] if b["meets_sla"])
    assert plan["cost_per_request"] <= best + 1e-12 and plan["saving"] >= 0
    html = (out / "report.html").read_text()
    assert (
        html.startswith("<!DOCTYPE html>") and "<svg" in html and "http://" not in html.replace("http://www.w3.org", "")
    )
    assert "heterogeneous plan" in html and "Gantt chart" in html
    ir = (out / "decomposed.mlir").read_text()
    dev = plan["placement"]["generate.decode"]
    assert '"agent.decode"' in ir and f'hw.place = #hw.place<device = "{dev}"' in ir
    # the IR reads back with hetc-opt (the agent and hw dialects registered)
    import contextlib
    import io

    from hetc.opt import main as opt_main

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert opt_main([str(out / "decomposed.mlir")]) == 0
    assert buf.getvalue().count("#hw.place<") == ir.count("#hw.place<") == len(plan["placement"])


def test_infeasible_sla_writes_the_reason_and_exits_1(tmp_path, capsys):
    out = tmp_path / "inf"
    rc = main(["agent", "plan", str(EX / "rag.yaml"), "--fleet", FLEET, "--sla", "300ms", "-q", "-o", str(out)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "infeasible: even the fastest device for every op gives" in err and "> SLA 0.3 s" in err
    plan = json.loads((out / "plan.json").read_text())
    assert not plan["feasible"] and "critical path" in plan["infeasible_reason"]
    assert "Infeasible" in (out / "report.html").read_text()


def test_bad_graph_is_a_clean_error_and_no_output(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text((EX / "rag.yaml").read_text().replace("k: 32", "k: many"))
    out = tmp_path / "out"
    rc = main(["agent", "plan", str(bad), "--fleet", FLEET, "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "bad.yaml" in err and "node 'search' (retrieve)" in err and "field 'k'" in err
    assert "Traceback" not in err and not out.exists()
    rc = main(["agent", "plan", str(EX / "rag.yaml"), "--fleet", str(tmp_path / "nofleet.toml"), "-o", str(out)])
    assert rc == 1 and "no such fleet file" in capsys.readouterr().err and not out.exists()


def test_validate_and_print_ir(capsys):
    assert main(["agent", "validate", str(EX / "tool_agent.yaml")]) == 0
    text = capsys.readouterr().out
    assert "valid agent graph 'tool_agent'" in text and "act/think.decode" in text
    assert main(["agent", "validate", str(EX / "debate.yaml"), "--print-ir"]) == 0
    assert '"agent.loop"' in capsys.readouterr().out


def test_run_in_process_with_plan(tmp_path, capsys):
    out = tmp_path / "plan"
    assert main(["agent", "plan", str(EX / "debate.yaml"), "--fleet", FLEET, "--solver", "heuristic", "--scenarios", "60",
                 "-q", "-o", str(out)]) == 0  # fmt: skip
    capsys.readouterr()
    run_json = tmp_path / "run.json"
    rc = main(["agent", "run", str(EX / "debate.yaml"), "--inputs", str(EX / "debate_inputs.json"), "--plan", str(out),
               "-q", "-o", str(run_json)])  # fmt: skip
    assert rc == 0
    printed = json.loads(capsys.readouterr().out.splitlines()[0])
    run = json.loads(run_json.read_text())
    assert printed == run["outputs"] and "judge" in run["outputs"]
    judge = run["nodes"]["judge"]
    assert judge["measured_s"] > 0 and judge["predicted_s"] > 0 and judge["device"] in ("h100", "h200")
    rc = main(["agent", "run", str(EX / "rag.yaml"), "--plan", str(out), "-q"])
    assert rc == 1 and "the plan is for graph 'debate'" in capsys.readouterr().err


def test_help_has_examples(capsys):
    for sub in ("plan", "run", "validate"):
        with pytest.raises(SystemExit):
            main(["agent", sub, "--help"])
        assert f"example: hetc agent {sub}" in capsys.readouterr().out


def test_a_model_that_fits_nowhere_is_reported(tmp_path, capsys):
    fleet = tmp_path / "small.toml"
    fleet.write_text("[fleet]\ncpu = 4\nl4 = 8\n")
    out = tmp_path / "out"
    rc = main(["agent", "plan", str(EX / "debate.yaml"), "--fleet", str(fleet), "-q", "-o", str(out)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "no device of the fleet can run judge.prefill (memory or dtype)" in err and "l4: needs 71.3 GB" in err
    plan = json.loads((out / "plan.json").read_text())
    assert not plan["feasible"] and plan["placement"] == {}
    assert "judge.prefill" in plan["infeasible_reason"] and "Infeasible" in (out / "report.html").read_text()
    assert not any(b["meets_sla"] for b in plan["baselines"])
