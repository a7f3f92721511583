"""SLA-constrained, cost-optimal placement of an agent graph's granular ops on a mixed fleet.

    from hetc.frontend.agent import load_agent_graph
    from hetc.passes.agent_place import load_fleet, plan
    p = plan(load_agent_graph("examples/agents/rag.yaml"), load_fleet("examples/agents/fleet.toml"), sla=2.0)
    p.placement            # {"search.embed": "l4", "generate.prefill": "h100", "generate.decode": "a100", ...}
    p.latency_s, p.cost_per_request, p.saving      # at the SLA's percentile; vs the best homogeneous fleet

Every granular op of `hetc-agent-decompose` goes to one device type of the fleet so that
the request latency meets the SLA at its percentile over sampled scenarios (token counts,
router branches, loop iterations) at the least cost per request (or per hour at a target
rate). The modules, in the order the data flows:

- `fleet`: the device types and their counts (`load_fleet`, `fleet_from_counts`);
- `problem`: loops unrolled, scenarios sampled, every op priced on every type by the cost
  model, memory and dtype limits (`build_problem`, `unplaceable`);
- `evaluation`: latency per scenario, its percentile, cost per request, critical path;
- `sizing`: instances and link loads at a target rate (`instances_needed`, `link_loads`);
- `heuristics`: fastest, homogeneous, descend, speed_up, relieve (fallback and warm start);
- `cpsat`: the CP-SAT model (time limit, fixed seed, status and gap in `SolveInfo`);
- `planner`: `plan` and `Plan`: baselines, heuristic, CP-SAT, check on the full sample;
- `generate`: seeded random agent graphs for tests and benchmarks (`generate_graph`).
"""

from __future__ import annotations

from hetc.passes.agent_place.cpsat import COST_UNITS, TIME_UNITS, SolveInfo, cpsat_place
from hetc.passes.agent_place.evaluation import Evaluation, critical_path, evaluate, quantile
from hetc.passes.agent_place.fleet import Fleet, fleet_from_counts, load_fleet
from hetc.passes.agent_place.generate import generate_graph
from hetc.passes.agent_place.heuristics import descend, fastest, homogeneous, relieve, speed_up
from hetc.passes.agent_place.planner import Plan, Progress, plan
from hetc.passes.agent_place.problem import Problem, Task, TEdge, build_problem, unplaceable
from hetc.passes.agent_place.sizing import instances_needed, link_endpoint, link_loads, pair_traffic

__all__ = [
    "COST_UNITS", "TIME_UNITS", "Evaluation", "Fleet", "Plan", "Problem", "Progress", "SolveInfo", "TEdge", "Task",
    "build_problem", "cpsat_place", "critical_path", "descend", "evaluate", "fastest", "fleet_from_counts",
    "generate_graph", "homogeneous", "instances_needed", "link_endpoint", "link_loads", "load_fleet", "pair_traffic",
    "plan", "quantile", "relieve", "speed_up", "unplaceable",
]  # fmt: skip
