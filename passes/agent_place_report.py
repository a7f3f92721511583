"""`hetc agent plan`'s outputs: `plan.json` (`plan_json`) and the self-contained `report.html`
(`render_html`), built with `hetc place`'s report helpers (formatting, CSS, Gantt chart).

The Gantt chart shows the scenario at the SLA's percentile (the sampled request whose
latency is the percentile), one row per instance of a device type (parallel ops of one
request on one type go to separate instances), transfers on link rows. The comparison
shows the cost of the heterogeneous plan against every homogeneous fleet at the same SLA.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from hetc.backends.cost_model import estimate
from hetc.passes.agent_place import Plan, critical_path
from hetc.passes.place_report import CSS, JS, PALETTE, _e, _gantt, fmt_bytes, fmt_count, fmt_time


def _r(v: float | None, digits: int = 9) -> float | None:
    return None if v is None else float(f"{v:.{digits}g}")


def plan_json(p: Plan) -> dict[str, Any]:
    """Everything the plan says, as JSON-ready data (the run writes measurements next to it)."""
    pb = p.problem
    g = pb.graph
    ev = p.evaluation
    ops = []
    for u in pb.units:
        ts = [t for t in pb.tasks.values() if t.unit == u]
        t0 = ts[0]
        d = p.placement.get(u)  # None: the plan is infeasible before placing (an op fits nowhere)
        runs = float(np.mean([np.mean(pb.exec[t.name]) for t in ts])) * len(ts)
        pred = [float(np.mean(pb.dur[t.name][d][pb.exec[t.name]])) for t in ts if d and pb.exec[t.name].any()]
        est = (
            estimate(t0.work.to_counts(u), pb.fleet.device(d), catalog=pb.fleet.catalog, corrected=False) if d else None
        )
        ops.append({
            "unit": u, "node": t0.node, "kind": t0.work.kind, "device": d, "runs_per_request": _r(runs, 4),
            "predicted_s": _r(float(np.mean(pred))) if pred else None, "bound": est.bound if est else None,
            "flops": _r(t0.work.flops), "bytes": _r(t0.work.bytes), "weight_bytes": _r(t0.work.weight_bytes),
            "footprint_bytes": _r(t0.footprint), "dtype": t0.work.dtype,
            "cost_per_request": _r(pb.unit_cost(u, d)) if d else None,
            "on": {x: _r(float(np.mean(pb.dur[t0.name][x]))) for x in pb.allowed[u]},
            "not_on": pb.why_not.get(u, {}),
        })  # fmt: skip
    best = p.best_homogeneous
    out = {
        "kind": "hetc-agent-plan",
        "graph": g.name, "file": g.file,
        "fleet": {"name": pb.fleet.name, "file": pb.fleet.file, "counts": pb.fleet.counts},
        "sla": {"latency_s": pb.sla, "percentile": pb.percentile},
        "objective": {"minimize": p.objective, "rate": p.rate},
        "feasible": p.feasible, "infeasible_reason": p.infeasible_reason,
        "latency_s": _r(p.latency_s), "latency_mean_s": _r(float(ev.latency.mean())) if ev is not None else None,
        "latency_max_s": _r(float(ev.latency.max())) if ev is not None else None,
        "cost_per_request": _r(p.cost_per_request), "cost_per_hour": _r(p.cost_per_hour),
        "instances": p.instances,
        "busy_s_per_request": {d: _r(b) for d, b in (ev.busy.items() if ev is not None else [])},
        "solver": {
            "status": p.solver.status, "optimal": p.solver.optimal, "gap": _r(p.solver.gap, 6),
            "solve_time_s": round(p.solver.solve_time, 3), "notes": p.solver.notes, "seed": pb.seed,
            "scenarios": pb.scenarios,
        },
        "placement": dict(p.placement),
        "ops": ops,
        "baselines": [{k: (_r(v) if isinstance(v, float) else v) for k, v in b.items()} for b in p.baselines],
        "best_homogeneous": best["name"] if best else None,
        "saving": _r(p.saving, 6),
        "model": {
            "latency": "longest path over the ops that run in a sampled scenario (token counts, router branches, loop "
                       "iterations); the SLA holds when its percentile of the scenarios finish in time",
            "loops": "unrolled to max_iterations; iteration i runs in the scenarios that reached it "
                     "(continue_probability per iteration)",
            "cost": "expected device busy time x $/hour (tool waits not billed)",
        },
    }  # fmt: skip
    return out


def _scenario_gantt(p: Plan) -> tuple[dict, dict[str, str]]:
    """The report dict `place_report._gantt` draws, for the percentile scenario."""
    pb, ev = p.problem, p.evaluation
    s = int(np.argmin(np.abs(ev.latency - ev.latency_p)))
    lanes: dict[str, list[float]] = {}  # lane -> end of its last op
    ops, transfers = [], []
    for t in sorted((t for t in pb.tasks.values() if pb.exec[t.name][s]), key=lambda t: ev.start[t.name][s]):
        d = p.placement[t.unit]
        st, en = float(ev.finish[t.name][s] - pb.dur[t.name][d][s]), float(ev.finish[t.name][s])
        k = 0
        while f"{d}#{k}" in lanes and lanes[f"{d}#{k}"][0] > st + 1e-12:
            k += 1
        lane = f"{d}#{k}"
        lanes[lane] = [en]
        est = estimate(t.work.to_counts(t.name), pb.fleet.device(d), catalog=pb.fleet.catalog, corrected=False)
        ops.append({"kind": "op", "device": lane, "start_s": st, "end_s": en, "task": t.name, "op_type": t.work.kind,
                    "predicted_s": en - st, "bound": est.bound, "flops": float(t.flops[s]), "bytes": float(t.bytes[s])})  # fmt: skip
    for e in pb.edges:
        a, b = pb.tasks[e.src], pb.tasks[e.dst]
        if not (pb.exec[e.src][s] and pb.exec[e.dst][s]):
            continue
        da, db = p.placement[a.unit], p.placement[b.unit]
        if da == db:
            continue
        c = float(pb.comm(e.bytes[s], da, db))
        route = [link.name for link in pb.fleet.catalog.route(da, db)]
        st = float(ev.finish[e.src][s])
        transfers.append({"from": da, "to": db, "start_s": st, "end_s": st + c, "src": e.src, "dst": e.dst,
                          "bytes": float(e.bytes[s]), "route": route, "time_s": c})  # fmt: skip
    names = sorted(lanes, key=lambda x: (pb.devices.index(x.split("#")[0]), x))
    rep = {
        "devices": [{"name": n} for n in names],
        "transfers": transfers,
        "makespan_s": float(ev.latency[s]),
        "ops": ops,
    }
    base = {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(pb.devices)}
    return rep, {n: base[n.split("#")[0]] for n in names}


def _cost_bars(rep: dict) -> str:
    key = "cost_per_hour" if rep["objective"]["minimize"] == "cost_per_hour" else "cost_per_request"
    unit = "/h" if key == "cost_per_hour" else "/request"
    rows = [{"name": "heterogeneous plan", key: rep[key], "meets_sla": rep["feasible"], "latency_s": rep["latency_s"],
             "reason": rep["infeasible_reason"]}] + rep["baselines"]  # fmt: skip
    # the scale: the rows that meet the SLA (a far slower, far costlier fleet is clipped, marked »)
    vals = [r[key] for r in rows if r.get(key) and r.get("meets_sla")] or [r[key] for r in rows if r.get(key)]
    top = 1.15 * max(vals) if vals else 1.0
    left, width, row_h = 170, 520, 24
    parts = [
        f'<svg id="costs" xmlns="http://www.w3.org/2000/svg" width="{left + width + 560}" height="{row_h * len(rows) + 10}">'
    ]
    for i, r in enumerate(rows):
        y = 5 + i * row_h
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" class="rowlabel">{_e(r["name"])}</text>')
        if r.get(key):
            w = width * min(r[key], top) / top
            cls = "bar chosen" if i == 0 else "bar"
            money = f"${r[key]:.2f}" if key == "cost_per_hour" else f"${r[key]:.6f}"
            tag = f"{money}{unit}, p-latency {fmt_time(r.get('latency_s'))}" + (
                "" if r["meets_sla"] else f" — misses: {r['reason']}"
            )
            parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" class="{cls}"/>')
            tag = ("» " if r[key] > top else "") + tag
            parts.append(f'<text x="{left + w + 6:.1f}" y="{y + 16}" class="tick">{_e(tag[:150])}</text>')
        else:
            parts.append(
                f'<text x="{left + 4}" y="{y + 16}" class="tick">infeasible: {_e(r.get("reason", ""))[:140]}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts)


def render_html(p: Plan, rep: dict | None = None) -> str:
    """The report page: cards, the cost comparison, the Gantt chart of the percentile
    scenario, the per-op table and the notes (one self-contained file)."""
    rep = rep or plan_json(p)
    pct = rep["sla"]["percentile"]
    sla = rep["sla"]["latency_s"]
    saving = rep["saving"]
    best = rep["best_homogeneous"]
    status = rep["solver"]["status"] + (" (proven optimal)" if rep["solver"]["optimal"] else (
        f", gap {rep['solver']['gap']:.1%}" if rep["solver"]["gap"] is not None else ""))  # fmt: skip
    cards = [
        (f"p{pct:g} latency", fmt_time(rep["latency_s"]), f"SLA {fmt_time(sla)}" if sla else "no SLA"),
        ("cost per request", f"${rep['cost_per_request']:.6f}" if rep["cost_per_request"] is not None else "-",
         f"${rep['cost_per_hour']:.2f}/h at {rep['objective']['rate']:g} req/s" if rep["cost_per_hour"] else "busy time × $/h"),
        ("vs best homogeneous", f"{saving:.1%} saved" if saving is not None else "-", best or "no homogeneous fleet meets the SLA"),
        ("solver", status, f"{rep['solver']['solve_time_s']:.2f} s, {rep['solver']['scenarios']} scenarios, seed {rep['solver']['seed']}"),
    ]  # fmt: skip
    card_html = "".join(
        f'<div class="card"><span>{_e(a)}</span><b>{_e(b)}</b><span>{_e(c)}</span></div>' for a, b, c in cards
    )
    infeasible = ""
    if not rep["feasible"]:
        infeasible = f'<h2>Infeasible</h2><p style="color:#b00"><b>{_e(rep["infeasible_reason"])}</b></p>'
    gantt = ""
    if p.evaluation is not None:
        grep_, colors = _scenario_gantt(p)
        path = critical_path(
            p.problem, p.placement, p.evaluation, int(np.argmin(np.abs(p.evaluation.latency - p.evaluation.latency_p)))
        )
        gantt = (f"<h2>Gantt chart: the p{pct:g} request</h2><div class='sub'>critical path: {_e(' → '.join(path))}</div>"
                 f"<div class='scroll'>{_gantt(grep_, colors)}</div>")  # fmt: skip
    head = [
        "op",
        "kind",
        "device",
        "runs/request",
        "predicted",
        "bound",
        "FLOPs",
        "bytes",
        "footprint",
        "dtype",
        "$/request",
    ]
    head += [f"on {d}" for d in rep["fleet"]["counts"]]
    rows = []
    for o in rep["ops"]:
        cells = [(o["unit"], None), (o["kind"], None), (o["device"] or "-", None), (f"{o['runs_per_request']:g}", o["runs_per_request"]),
                 (fmt_time(o["predicted_s"]), o["predicted_s"]), (o["bound"] or "-", None), (fmt_count(o["flops"]), o["flops"]),
                 (fmt_bytes(o["bytes"]), o["bytes"]), (fmt_bytes(o["footprint_bytes"]), o["footprint_bytes"]),
                 (o["dtype"], None),
                 (f"${o['cost_per_request']:.2e}" if o["cost_per_request"] is not None else "-", o["cost_per_request"])]  # fmt: skip
        for d in rep["fleet"]["counts"]:
            v = o["on"].get(d)
            cells.append(
                (fmt_time(v) if v is not None else "n/a: " + o["not_on"].get(d, ""), v if v is not None else 1e30)
            )
        tds = "".join(
            f'<td class="num" data-v="{v!r}">{_e(t)}</td>' if v is not None else f"<td>{_e(t)}</td>" for t, v in cells
        )
        rows.append(f'<tr data-task="{_e(o["unit"])}">{tds}</tr>')
    notes = "".join(
        f"<li>{_e(n)}</li>" for n in rep["solver"]["notes"] + [f"{k}: {v}" for k, v in rep["model"].items()]
    )
    title = f"hetc agent plan: {rep['graph']} on {rep['fleet']['name']}"
    fleet = ", ".join(f"{d} ×{n}" for d, n in rep["fleet"]["counts"].items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<div class="sub">fleet {_e(fleet)} · objective {_e(rep["objective"]["minimize"])}</div>
<div class="cards">{card_html}</div>
{infeasible}
<h2>Cost: heterogeneous plan vs homogeneous fleets (same SLA)</h2>
<div class="scroll">{_cost_bars(rep)}</div>
{gantt}
<h2>Ops (granular, after hetc-agent-decompose)</h2>
<input id="filter" placeholder="filter ops">
<div class="scroll"><table id="ops"><thead><tr>{"".join(f"<th>{_e(h)}</th>" for h in head)}</tr></thead>
<tbody>{"".join(rows)}</tbody></table></div>
<h2>Notes</h2><ul class="notes">{notes}</ul>
<script type="application/json" id="plan-data">{_e(json.dumps({"latency_s": rep["latency_s"], "cost_per_request": rep["cost_per_request"]}))}</script>
<script>{JS}</script>
</body></html>
"""


def annotate(module, p: Plan) -> None:
    """Write `#hw.place<device, start, end>` on every granular op of a decomposed module:
    the plan's device type for the op, and its predicted start and end in the percentile
    scenario (first loop iteration; 0 and 0 when the op does not run in that scenario)."""
    from hetc.dialects.agent import AgentOp
    from hetc.dialects.hw import PLACE_ATTR, PlaceAttr

    pb, ev = p.problem, p.evaluation
    s = int(np.argmin(np.abs(ev.latency - ev.latency_p))) if ev is not None else 0
    for op in module.walk():
        if not isinstance(op, AgentOp) or "flops" not in op.attributes:
            continue
        unit = op.node_name
        dev = p.placement.get(unit)
        if dev is None:
            continue
        runs = [t for t in pb.tasks.values() if t.unit == unit and pb.exec[t.name][s]]
        start = end = 0.0
        if runs and ev is not None and ev.finish:
            t = min(runs, key=lambda t: ev.finish[t.name][s])
            end = float(ev.finish[t.name][s])
            start = end - float(pb.dur[t.name][dev][s])
        op.attributes[PLACE_ATTR] = PlaceAttr.make(device=dev, start=start, end=end)
