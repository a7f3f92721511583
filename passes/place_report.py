"""The HTML page of `hetc place --report`: one self-contained file (inline CSS, SVG and a
little JS; nothing loaded from the network) rendered from the JSON report
(`hetc.passes.place_model.report`).

Sections: a summary (makespan, status, gap, speedup over the best single device,
transfers, energy), the comparison with HEFT and the single-device baselines (bars), a
Gantt chart with one row per device and one per link that carries transfers, the graph
coloured by device (transfers drawn as thick dashed edges), the per-op table (sortable,
filterable) and the devices and links used. Hovering a task in the Gantt chart or the
graph highlights it in both.
"""

from __future__ import annotations

import html
import json
from typing import Any

PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7", "#9c755f"]


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.2f} µs"


def fmt_bytes(b: float | None) -> str:
    if b is None:
        return "-"
    for unit, k in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if b >= k:
            return f"{b / k:.2f} {unit}"
    return f"{b:.0f} B"


def fmt_count(x: float) -> str:
    for unit, k in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= k:
            return f"{x / k:.2f}{unit}"
    return f"{x:.0f}"


def _ticks(span: float, n: int = 8) -> list[float]:
    if span <= 0:
        return [0.0]
    import math

    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    out, t = [], 0.0
    while t <= span * 1.0001:
        out.append(t)
        t += step
    return out


def _gantt(rep: dict, colors: dict[str, str]) -> str:
    devices = [d["name"] for d in rep["devices"]]
    link_rows = []
    for m in rep["transfers"]:
        key = f"{m['from']} → {m['to']}"
        if key not in link_rows:
            link_rows.append(key)
    rows = devices + link_rows
    span = max(
        [rep["makespan_s"] or 0.0] + [m["end_s"] for m in rep["transfers"]] + [o["end_s"] for o in rep["ops"]]
    ) or 1e-9
    left, width, row_h, top = 130, 1000, 30, 24
    height = top + row_h * len(rows) + 30
    sx = width / span
    parts = [
        f'<svg id="gantt" class="gantt" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {left + width + 20} {height}" '
        f'width="{left + width + 20}" height="{height}" role="img" aria-label="Gantt chart per device">'
    ]
    for i, r in enumerate(rows):
        y = top + i * row_h
        parts.append(f'<rect x="0" y="{y}" width="{left + width}" height="{row_h}" class="{"row0" if i % 2 else "row1"}"/>')
        parts.append(f'<text x="6" y="{y + row_h / 2 + 4}" class="rowlabel">{_e(r)}</text>')
    for t in _ticks(span):
        x = left + t * sx
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 24}" class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 8}" class="tick" text-anchor="middle">{_e(fmt_time(t))}</text>')
    ms = rep["makespan_s"] or 0.0
    parts.append(f'<line x1="{left + ms * sx:.1f}" y1="{top - 6}" x2="{left + ms * sx:.1f}" y2="{height - 24}" class="makespan"/>')
    parts.append(f'<text x="{left + ms * sx:.1f}" y="{top - 9}" class="tick" text-anchor="end">makespan {_e(fmt_time(ms))}</text>')
    for o in rep["ops"]:
        if o["kind"] != "op":
            continue
        i = rows.index(o["device"])
        x, w = left + o["start_s"] * sx, max((o["end_s"] - o["start_s"]) * sx, 0.8)
        y = top + i * row_h + 4
        tip = (
            f"{o['task']} ({o['op_type']}) on {o['device']}\n{fmt_time(o['start_s'])} → {fmt_time(o['end_s'])} "
            f"({fmt_time(o['predicted_s'])}, {o['bound']}-bound)\n{fmt_count(o['flops'])} FLOP, {fmt_bytes(o['bytes'])}"
        )
        parts.append(
            f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{row_h - 8}" fill="{colors[o["device"]]}" '
            f'class="task" data-task="{_e(o["task"])}"><title>{_e(tip)}</title></rect>'
        )
        if w > 7 * len(o["op_type"]):
            parts.append(f'<text x="{x + 3:.1f}" y="{y + row_h / 2 + 0:.1f}" class="barlabel">{_e(o["op_type"])}</text>')
    for m in rep["transfers"]:
        i = rows.index(f"{m['from']} → {m['to']}")
        x, w = left + m["start_s"] * sx, max((m["end_s"] - m["start_s"]) * sx, 0.8)
        y = top + i * row_h + 6
        tip = f"{m['src']} → {m['dst']}: {fmt_bytes(m['bytes'])} over {' + '.join(m['route'])}, {fmt_time(m['time_s'])}"
        parts.append(
            f'<rect x="{x:.2f}" y="{y}" width="{w:.2f}" height="{row_h - 12}" class="xfer" '
            f'data-task="{_e(m["dst"])}"><title>{_e(tip)}</title></rect>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _graph(rep: dict, colors: dict[str, str]) -> str:
    """Layered drawing: layer = longest path from a source; order in a layer by the mean
    position of the predecessors (one sweep)."""
    ops = rep["ops"]
    names = [o["task"] for o in ops]
    by_name = {o["task"]: o for o in ops}
    preds: dict[str, list[str]] = {n: [] for n in names}
    for e in rep["edges"]:
        preds[e["dst"]].append(e["src"])
    layer: dict[str, int] = {}

    def depth(n: str) -> int:
        if n not in layer:
            layer[n] = 0  # guards cycles (there are none)
            layer[n] = max((depth(p) + 1 for p in preds[n]), default=0)
        return layer[n]

    import sys

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(names) + 100))
    for n in names:
        depth(n)
    layers: dict[int, list[str]] = {}
    for n in names:
        layers.setdefault(layer[n], []).append(n)
    pos: dict[str, float] = {}
    for k in sorted(layers):
        members = layers[k]
        members.sort(key=lambda n: (sum(pos[p] for p in preds[n]) / len(preds[n])) if preds[n] else 0.0)
        for i, n in enumerate(members):
            pos[n] = i - (len(members) - 1) / 2
    node_w, node_h, gap_x, gap_y = 118, 26, 22, 46
    max_width = max(len(v) for v in layers.values())
    width = max_width * (node_w + gap_x) + 40
    height = len(layers) * (node_h + gap_y) + 40
    cx = width / 2

    def xy(n: str) -> tuple[float, float]:
        return cx + pos[n] * (node_w + gap_x), 20 + layer[n] * (node_h + gap_y)

    moved = {(m["src"], m["dst"]) for m in rep["transfers"]}
    parts = [
        f'<svg id="graph" class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="operator graph coloured by device">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>',
    ]
    for e in rep["edges"]:
        (x1, y1), (x2, y2) = xy(e["src"]), xy(e["dst"])
        y1 += node_h
        cls = "edge xedge" if (e["src"], e["dst"]) in moved else "edge"
        my = (y1 + y2) / 2
        tip = f"{e['src']} → {e['dst']}: {fmt_bytes(e['bytes'])}"
        parts.append(
            f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} {x2:.1f},{y2:.1f}" class="{cls}" '
            f'marker-end="url(#arrow)"><title>{_e(tip)}</title></path>'
        )
    for n in names:
        o = by_name[n]
        x, y = xy(n)
        label = o["op_type"] or o["kind"]
        if o["kind"] != "op":
            label = n
        tip = f"{n} ({o['op_type'] or o['kind']}) on {o['device']}: {fmt_time(o['predicted_s'])}"
        shape = "io" if o["kind"] != "op" else "op"
        parts.append(
            f'<g class="node {shape}" data-task="{_e(n)}"><title>{_e(tip)}</title>'
            f'<rect x="{x - node_w / 2:.1f}" y="{y:.1f}" width="{node_w}" height="{node_h}" rx="6" '
            f'fill="{colors[o["device"]]}"/>'
            f'<text x="{x:.1f}" y="{y + node_h / 2 + 4:.1f}" text-anchor="middle">{_e(label[:17])}</text></g>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def _comparison(rep: dict) -> str:
    rows = rep["baselines"]
    vals = [r["makespan_s"] for r in rows if r.get("makespan_s")]
    top = max(vals) if vals else 1.0
    left, width, row_h = 150, 560, 24
    height = row_h * len(rows) + 10
    parts = [
        f'<svg id="comparison" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {left + width + 130} {height}" '
        f'width="{left + width + 130}" height="{height}" role="img" aria-label="makespan per scheduler">'
    ]
    for i, r in enumerate(rows):
        y = 5 + i * row_h
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end" class="rowlabel">{_e(r["name"])}</text>')
        if r.get("makespan_s"):
            w = width * r["makespan_s"] / top
            cls = "bar chosen" if i == 0 else "bar"
            parts.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" class="{cls}"/>')
            status = r.get("status", "")
            parts.append(
                f'<text x="{left + w + 6:.1f}" y="{y + 16}" class="tick">{_e(fmt_time(r["makespan_s"]))} {_e(status)}</text>'
            )
        else:
            parts.append(f'<text x="{left + 4}" y="{y + 16}" class="tick">infeasible: {_e(r.get("reason", ""))[:90]}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #e3e3e3;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:18px}.card span{color:#666;font-size:12px}
.scroll{overflow:auto;background:#fff;border:1px solid #e3e3e3;border-radius:8px;padding:8px;max-height:720px}
table{border-collapse:collapse;background:#fff;font-size:12.5px}
th,td{border:1px solid #e3e3e3;padding:3px 7px;text-align:left;white-space:nowrap}
th{background:#f0f0f0;cursor:pointer;user-select:none;position:sticky;top:0} td.num{text-align:right}
.legend span{display:inline-block;margin-right:14px}.swatch{display:inline-block;width:12px;height:12px;border-radius:3px;vertical-align:-1px;margin-right:4px}
svg text{font:11px system-ui,sans-serif} .rowlabel{font-weight:600;fill:#333} .tick{fill:#555}
.row0{fill:#f7f7f7}.row1{fill:#fff}.grid{stroke:#e5e5e5}.makespan{stroke:#d62728;stroke-dasharray:4 3}
.task{stroke:#fff;stroke-width:.5}.barlabel{fill:#fff;font-size:10px;pointer-events:none}
.xfer{fill:#d62728;opacity:.55} .bar{fill:#9aa9b9}.bar.chosen{fill:#4e79a7}
.edge{fill:none;stroke:#aaa;stroke-width:1}.xedge{stroke:#d62728;stroke-width:2.4;stroke-dasharray:5 3}
.node text{fill:#fff;font-size:10.5px;pointer-events:none}.node.io rect{stroke:#333;stroke-dasharray:3 2}
.hl{stroke:#000 !important;stroke-width:2.5 !important}.node.hl rect{stroke:#000;stroke-width:3}
input#filter{margin:6px 0;padding:4px 8px;width:280px}
.notes li{color:#555}
"""

JS = """
(function(){
  function hl(name,on){document.querySelectorAll('[data-task]').forEach(function(el){
    if(el.getAttribute('data-task')===name){el.classList.toggle('hl',on);}});}
  document.querySelectorAll('[data-task]').forEach(function(el){
    el.addEventListener('mouseenter',function(){hl(el.getAttribute('data-task'),true);});
    el.addEventListener('mouseleave',function(){hl(el.getAttribute('data-task'),false);});});
  var table=document.getElementById('ops');
  if(table){
    table.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
      var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
      var asc=th.getAttribute('data-asc')!=='1';th.setAttribute('data-asc',asc?'1':'0');
      rows.sort(function(a,b){var x=a.cells[i].getAttribute('data-v')||a.cells[i].textContent,
        y=b.cells[i].getAttribute('data-v')||b.cells[i].textContent;var nx=parseFloat(x),ny=parseFloat(y);
        var c=(!isNaN(nx)&&!isNaN(ny))?nx-ny:x.localeCompare(y);return asc?c:-c;});
      rows.forEach(function(r){body.appendChild(r);});});});
    var f=document.getElementById('filter');
    if(f){f.addEventListener('input',function(){var q=f.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows,function(r){
        r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});}
  }
})();
"""


def _peak(d: dict) -> str:
    table = d["peak_flops"]
    dtype = "float32" if "float32" in table else max(table, key=table.get)
    return f"{fmt_count(table[dtype])} FLOP/s {dtype}"


def render_html(rep: dict) -> str:
    """The report page (a string of HTML)."""
    colors = {d["name"]: PALETTE[i % len(PALETTE)] for i, d in enumerate(rep["devices"])}
    s = rep["schedule"]
    tot = rep["totals"]
    status = s["status"] + (" (proven optimal)" if s["optimal"] else (f", gap {s['gap']:.1%}" if s.get("gap") is not None else ""))
    speed = rep.get("speedup_vs_best_single")
    cards = [
        ("makespan", fmt_time(rep["makespan_s"]), f"{rep['scheduler']}, objective {rep['objective']}"),
        ("solver", status, f"solved in {s['solve_time_s']:.2f} s"),
        ("vs best single device", f"{speed:.2f}×" if speed else "-", "predicted speedup"),
        ("transfers", f"{tot['transfers']}", f"{fmt_bytes(tot['transfer_bytes'])}, {fmt_time(tot['transfer_time_s'])}"),
        ("energy", f"{tot['energy_j'] * 1e3:.3f} mJ", "busy power × time + links"),
        ("ops", f"{tot['ops']}", ", ".join(f"{d}: {v['ops']}" for d, v in tot["per_device"].items())),
    ]
    card_html = "".join(f'<div class="card"><span>{_e(a)}</span><b>{_e(b)}</b><span>{_e(c)}</span></div>' for a, b, c in cards)
    legend = "".join(
        f'<span><i class="swatch" style="background:{c}"></i>{_e(d)}</span>' for d, c in colors.items()
    ) + '<span><i class="swatch" style="background:#d62728;opacity:.55"></i>transfer</span>'
    head = ["task", "op type", "class", "dtype", "device", "start", "end", "predicted", "bound", "FLOPs", "bytes"]
    head += [f"on {d['name']}" for d in rep["devices"]]
    rows = []
    for o in sorted(rep["ops"], key=lambda o: (o["start_s"], o["device"])):
        cells = [
            (o["task"], None), (o["op_type"] or o["kind"], None), (o["op_class"], None), (o["dtype"], None),
            (o["device"], None), (fmt_time(o["start_s"]), o["start_s"]), (fmt_time(o["end_s"]), o["end_s"]),
            (fmt_time(o["predicted_s"]), o["predicted_s"]), (o["bound"], None),
            (fmt_count(o["flops"]), o["flops"]), (fmt_bytes(o["bytes"]), o["bytes"]),
        ]  # fmt: skip
        for d in rep["devices"]:
            est = o["estimates_s"].get(d["name"])
            cells.append((fmt_time(est) if est is not None else "n/a", est if est is not None else 1e30))
        tds = "".join(
            f'<td class="num" data-v="{v!r}">{_e(t)}</td>' if v is not None else f"<td>{_e(t)}</td>" for t, v in cells
        )
        rows.append(f'<tr data-task="{_e(o["task"])}">{tds}</tr>')
    dev_rows = "".join(
        f"<tr><td><i class='swatch' style='background:{colors[d['name']]}'></i>{_e(d['name'])}</td><td>{_e(d['kind'])}</td>"
        f"<td>{_e(d['description'])}</td><td class='num'>{_e(_peak(d))}</td>"
        f"<td class='num'>{_e(fmt_bytes(d['bandwidth_Bps']))}/s</td><td class='num'>{_e(fmt_bytes(d['memory_bytes']))}</td>"
        f"<td class='num'>{_e(fmt_time(d['launch_overhead_s']))}</td><td class='num'>{d['power_w']:g} W</td>"
        f"<td class='num'>${d['cost_per_hour']:g}/h</td><td>{'yes' if d['corrected'] else 'no'}</td></tr>"
        for d in rep["devices"]
    )
    link_rows = "".join(
        f"<tr><td>{_e(' ↔ '.join(l['between']))}</td><td>{_e(' + '.join(l['route']))}</td><td>{_e(', '.join(l['kinds']))}</td>"
        f"<td class='num'>{_e(fmt_bytes(l['bandwidth_Bps']))}/s</td><td class='num'>{_e(fmt_time(l['latency_s']))}</td></tr>"
        for l in rep["links"]
    )
    xfer_rows = "".join(
        f"<tr><td>{_e(m['src'])}</td><td>{_e(m['dst'])}</td><td>{_e(m['from'])} → {_e(m['to'])}</td>"
        f"<td>{_e(' + '.join(m['route']))}</td><td class='num'>{_e(fmt_bytes(m['bytes']))}</td>"
        f"<td class='num'>{_e(fmt_time(m['time_s']))}</td><td class='num'>{_e(fmt_time(m['scheduled_comm_s']))}</td></tr>"
        for m in rep["transfers"]
    ) or "<tr><td colspan='7'>none: every edge stays on one device</td></tr>"
    notes = "".join(f"<li>{_e(n)}</li>" for n in rep.get("notes", []) + list(s.get("notes", [])))
    title = f"hetc place: {rep.get('model') or 'model'} on {', '.join(colors)}"
    data = json.dumps({"makespan_s": rep["makespan_s"], "scheduler": rep["scheduler"]})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<div class="sub">hetc {_e(rep.get('hetc_version', ''))} · scheduler <b>{_e(rep['scheduler'])}</b> · catalog {_e(', '.join(rep.get('catalog_files', [])))}</div>
<div class="cards">{card_html}</div>
<h2>Schedulers compared</h2>
<div class="scroll">{_comparison(rep)}</div>
<h2>Gantt chart per device</h2>
<div class="legend">{legend}</div>
<div class="scroll">{_gantt(rep, colors)}</div>
<h2>Graph, coloured by device</h2>
<div class="legend">{legend} <span>dashed red edges: tensors moved between devices</span></div>
<div class="scroll">{_graph(rep, colors)}</div>
<h2>Ops</h2>
<input id="filter" placeholder="filter ops (name, type, device)">
<div class="scroll"><table id="ops"><thead><tr>{''.join(f'<th>{_e(h)}</th>' for h in head)}</tr></thead>
<tbody>{''.join(rows)}</tbody></table></div>
<h2>Transfers</h2>
<div class="scroll"><table id="transfers"><thead><tr><th>from task</th><th>to task</th><th>devices</th><th>route</th><th>bytes</th><th>time</th><th>scheduled as</th></tr></thead>
<tbody>{xfer_rows}</tbody></table></div>
<h2>Devices and links</h2>
<table id="devices"><thead><tr><th>device</th><th>kind</th><th>description</th><th>peak</th><th>bandwidth</th><th>memory</th><th>launch</th><th>power</th><th>price</th><th>calibrated correction</th></tr></thead>
<tbody>{dev_rows}</tbody></table>
<p></p>
<table id="links"><thead><tr><th>between</th><th>route</th><th>kind</th><th>bandwidth</th><th>latency</th></tr></thead><tbody>{link_rows}</tbody></table>
<h2>Notes</h2><ul class="notes">{notes}</ul>
<script type="application/json" id="report-data">{_e(data)}</script>
<script>{JS}</script>
</body></html>
"""
