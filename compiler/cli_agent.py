"""`hetc agent validate|plan|run`: agent graphs from the command line (wired in `hetc.cli`).

    hetc agent validate examples/agents/rag.yaml --print-ir
    hetc agent plan examples/agents/rag.yaml --fleet examples/agents/fleet.toml --sla 2s -o out/
    hetc agent run examples/agents/rag.yaml --inputs examples/agents/rag_inputs.json [--ray] [--plan out/]

`plan` writes out/plan.json, out/report.html (self-contained) and out/decomposed.mlir
(the graph after hetc-agent-decompose, `#hw.place` on every op) atomically; an SLA, fleet size or device memory no
plan can meet still writes them (the report says which constraint fails) and exits with status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from hetc.diagnostics import HetcError

EXAMPLES = {
    "validate": "example: hetc agent validate examples/agents/tool_agent.yaml --print-ir",
    "plan": "example: hetc agent plan examples/agents/rag.yaml --fleet examples/agents/fleet.toml --sla 2s -o /tmp/rag-plan",
    "run": "example: hetc agent run examples/agents/rag.yaml --inputs examples/agents/rag_inputs.json --plan /tmp/rag-plan",
}


class _Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet, self.t0 = quiet, time.perf_counter()

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:6.2f}s] {msg}", file=sys.stderr, flush=True)


def add_agent_parser(sub) -> None:
    """The `agent` command and its subcommands."""
    a = sub.add_parser(
        "agent", help="agentic workflow graphs: validate, plan on a mixed fleet under an SLA, run (in process or Ray)",
        description="Agent graphs (YAML or JSON; schema: hetc/frontend/agent_schema.json).",
        epilog="\n".join(EXAMPLES.values()), formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    asub = a.add_subparsers(dest="agent_command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("graph", help="agent graph file (.yaml, .yml or .json)")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress output")
        p.add_argument("--debug", action="store_true", help="show tracebacks on errors")

    v = asub.add_parser("validate", help="check a graph against the schema and print its granular ops",
                        epilog=EXAMPLES["validate"], formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    common(v)
    v.add_argument("--print-ir", action="store_true", help="print the agent dialect IR after hetc-agent-decompose")

    p = asub.add_parser(
        "plan", help="cost-optimal placement on a fleet under a latency SLA; writes plan.json and report.html",
        description="Decompose the graph into granular ops, price them on every device type of the fleet with the "
        "cost model, and choose a device type per op minimising the cost (per request, or per hour at --rate) "
        "subject to the SLA at its percentile, device memory and link transfers (CP-SAT with a time limit, "
        "warm-started by a heuristic). Compares with every homogeneous fleet.",
        epilog=EXAMPLES["plan"], formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    common(p)
    p.add_argument("--fleet", required=True, help="fleet TOML: [fleet] device = count (see examples/agents/fleet.toml)")
    p.add_argument("--catalog", action="append", default=[], help="extra device catalog TOML (repeatable)")
    p.add_argument("--sla", help="latency SLA, e.g. 2s or 800ms (default: the graph's sla.latency)")
    p.add_argument("--percentile", type=float, help="SLA percentile (default: the graph's, else 95)")
    p.add_argument("--objective", choices=("cost_per_request", "cost_per_hour"), help="default: the graph's")
    p.add_argument("--rate", type=float, help="target requests/s (needed for cost_per_hour)")
    p.add_argument(
        "--batch", type=int, help="sequences sharing a decode step (continuous batching; default: the graph's, else 1)"
    )
    p.add_argument(
        "--solver", choices=("cpsat", "heuristic"), default="cpsat", help="default cpsat (heuristic warm start)"
    )
    p.add_argument("--time-limit", type=float, default=10.0, metavar="S", help="CP-SAT seconds (default 10)")
    p.add_argument("--seed", type=int, default=0, help="sampling and CP-SAT seed (default 0)")
    p.add_argument(
        "--scenarios", type=int, default=400, help="sampled requests the SLA percentile is measured on (default 400)"
    )
    p.add_argument("--cp-scenarios", type=int, default=48, help="scenarios inside the CP-SAT model (default 48)")
    p.add_argument("--workers", type=int, default=2, help="CP-SAT threads (default 2)")
    p.add_argument("-o", "--output", required=True, help="output folder (plan.json, report.html, decomposed.mlir)")

    r = asub.add_parser(
        "run", help="execute the graph's callables (in process, or on a local Ray with --ray)",
        description="Run every node's callable honouring dependencies, router branches and loops. Prints the "
        "outputs; -o writes them with per-node measured latencies next to the plan's predictions.",
        epilog=EXAMPLES["run"], formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    common(r)
    r.add_argument("--inputs", help="JSON file with the request (default: {})")
    r.add_argument("--ray", action="store_true", help="run on Ray (starts a local one: 2 CPUs, devices as resources)")
    r.add_argument("--plan", help="plan.json (or the folder `hetc agent plan` wrote): predictions and device resources")
    r.add_argument("-o", "--output", help="write the run as JSON here (outputs, per-node measured vs predicted)")


def cmd_agent(args: argparse.Namespace) -> int:
    return {"validate": _validate, "plan": _plan, "run": _run}[args.agent_command](args)


def _validate(args: argparse.Namespace) -> int:
    from xdsl.context import Context

    from hetc.frontend.agent import load_agent_graph, to_module
    from hetc.passes.agent_decompose import AgentDecompose

    g = load_agent_graph(args.graph)
    m = to_module(g)
    m.verify()
    AgentDecompose().apply(Context(), m)
    m.verify()
    if args.print_ir:
        print(m)
        return 0
    from hetc.dialects.agent import GRANULAR_OPS, AgentOp
    from hetc.passes.place_report import fmt_bytes, fmt_count

    print(f"{args.graph}: valid agent graph '{g.name}': {len(g.all_nodes())} nodes")
    for op in m.walk():
        if isinstance(op, AgentOp) and "flops" in op.attributes:
            foot = op.attributes.get("footprint_bytes")
            extra = f", footprint {fmt_bytes(foot.value.data)}" if foot is not None else ""
            kind = op.name.split(".")[1] + ("" if isinstance(op, GRANULAR_OPS) else " (host)")
            print(f"  {op.node_name:28s} {kind:16s} {fmt_count(op.attributes['flops'].value.data)}FLOP, "
                  f"{fmt_bytes(op.attributes['bytes'].value.data)}{extra}")  # fmt: skip
    if g.sla.latency_s is not None:
        print(f"SLA {g.sla.latency_s:g} s at p{g.sla.percentile:g}; objective {g.objective.minimize}")
    return 0


def _plan(args: argparse.Namespace) -> int:
    from xdsl.context import Context

    from hetc.artifacts import write_output_dir
    from hetc.frontend.agent import load_agent_graph, parse_duration, to_module
    from hetc.passes.agent_decompose import AgentDecompose
    from hetc.passes.agent_place import load_fleet, plan
    from hetc.passes.agent_place_report import annotate, plan_json, render_html

    say = _Progress(args.quiet)
    g = load_agent_graph(args.graph)
    if args.batch is not None:
        if args.batch < 1:
            raise HetcError(f"--batch must be at least 1, not {args.batch}")
        g.objective = dataclasses.replace(g.objective, batch=args.batch)
    if args.objective or args.rate is not None:
        minimize = args.objective or g.objective.minimize
        rate = args.rate if args.rate is not None else g.objective.rate
        if rate is not None and not rate > 0:
            raise HetcError(f"--rate must be positive, not {rate:g}")
        if minimize == "cost_per_hour" and rate is None:
            raise HetcError("--objective cost_per_hour needs a request rate", hint="add --rate R (requests per second)")
        g.objective = dataclasses.replace(g.objective, minimize=minimize, rate=rate)
    sla = parse_duration(args.sla, "--sla") if args.sla is not None else None
    if sla is not None and sla <= 0:
        raise HetcError("--sla must be positive")
    if args.percentile is not None and not 0 < args.percentile <= 100:
        raise HetcError(f"--percentile must lie in (0, 100], not {args.percentile:g}")
    if args.scenarios < 1 or args.cp_scenarios < 1:
        raise HetcError("--scenarios and --cp-scenarios must be at least 1")
    if sla is None and g.sla.latency_s is None:
        say("no SLA given (--sla or sla.latency in the graph): minimising cost alone")
    fleet = load_fleet(args.fleet, args.catalog)
    say(f"graph '{g.name}', fleet '{fleet.name}': {', '.join(f'{d}x{n}' for d, n in fleet.counts.items())}")
    p = plan(
        g, fleet, sla=sla, percentile=args.percentile, scenarios=args.scenarios, cp_scenarios=args.cp_scenarios,
        time_limit=args.time_limit, seed=args.seed, workers=args.workers, solver=args.solver,
        progress=None if args.quiet else say,
    )  # fmt: skip
    rep = plan_json(p)
    m = to_module(g)
    AgentDecompose().apply(Context(), m)
    annotate(m, p)  # #hw.place on every granular op
    files = {
        "plan.json": json.dumps(rep, indent=1) + "\n",
        "report.html": render_html(p, rep),
        "decomposed.mlir": str(m) + "\n",
        "manifest.json": json.dumps(
            {"kind": "hetc-agent-plan", "graph": g.name, "files": ["plan.json", "report.html", "decomposed.mlir"]},
            indent=1,
        )
        + "\n",  # fmt: skip
    }
    write_output_dir(args.output, files)
    if not p.feasible:
        print(f"hetc: infeasible: {p.infeasible_reason}", file=sys.stderr)
        print(f"wrote {args.output}/plan.json and report.html (they say which constraint fails)")
        return 1
    best = p.best_homogeneous
    line = (f"plan: p{p.problem.percentile:g} latency {p.latency_s:.3f} s"
            + (f" (SLA {p.problem.sla:g} s)" if p.problem.sla else "")
            + f", ${p.cost_per_request:.6f}/request")  # fmt: skip
    if p.cost_per_hour is not None:
        line += f", ${p.cost_per_hour:.2f}/h at {p.rate:g} req/s"
    print(line + f" [{p.solver.status}]")
    if best is not None:
        key = "cost_per_hour" if p.objective == "cost_per_hour" else "cost_per_request"
        cost = f"${best[key]:.2f}/h" if key == "cost_per_hour" else f"${best[key]:.6f}/request"
        print(f"best homogeneous fleet: {best['name']} {cost}; saving {p.saving:.1%}")
    else:
        print("no homogeneous fleet meets the SLA")
    print(f"wrote {args.output}/plan.json, report.html, decomposed.mlir")
    return 0


def _load_plan(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        p = p / "plan.json"
    try:
        data = json.loads(p.read_text())
    except FileNotFoundError:
        raise HetcError("no such plan file", file=str(p), hint="write one with hetc agent plan ... -o DIR") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise HetcError(f"cannot read the plan: {exc}", file=str(p)) from None
    if not isinstance(data, dict) or data.get("kind") != "hetc-agent-plan":
        raise HetcError("not a plan written by hetc agent plan", file=str(p))
    return data


def _run(args: argparse.Namespace) -> int:
    from hetc.frontend.agent import load_agent_graph
    from hetc.runtime.agent_runner import run_graph

    say = _Progress(args.quiet)
    g = load_agent_graph(args.graph)
    inputs: dict[str, Any] = {}
    if args.inputs:
        try:
            inputs = json.loads(Path(args.inputs).read_text())
        except FileNotFoundError:
            raise HetcError("no such inputs file", file=args.inputs) from None
        except (OSError, json.JSONDecodeError) as exc:
            raise HetcError(f"cannot read the inputs: {exc}", file=args.inputs) from None
        if not isinstance(inputs, dict):
            raise HetcError("the inputs must be a JSON object (the request)", file=args.inputs)
    plan_d = _load_plan(args.plan)
    if plan_d is not None and plan_d.get("graph") != g.name:
        raise HetcError(f"the plan is for graph '{plan_d.get('graph')}', not '{g.name}'", file=args.plan)
    r = run_graph(g, inputs, ray=args.ray, plan=plan_d, progress=None if args.quiet else say)
    say(f"{r.mode}: {sum(1 for n in r.nodes.values() if n.get('ran'))} node runs in {r.wall_s:.3f} s")
    out = r.to_json() | {"graph": g.name, "inputs": inputs}
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(out, indent=1, default=str) + "\n")
        print(json.dumps(r.outputs, default=str))
        if not args.quiet:
            print(f"wrote {args.output}")
    else:
        print(json.dumps(out, indent=1, default=str))
    return 0
