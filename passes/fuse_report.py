"""The compile report as one self-contained HTML page (`out/report.html`): what hetc-fuse,
hetc-fuse-horizontal, hetc-choose-layout and hetc-plan-memory decided, with the cost
model's predictions and, where a measurement exists, the measured time per kernel.

`hetc compile --target c|cuda -o out/` writes it from `report.json` (predictions only);
`hetc run MODEL --target c|cuda --profile --report-html OUT` writes it with the per-kernel
timers of the run beside the predictions. Sections: summary cards; none/greedy/ilp
compared (the bars and numbers hetc-fuse priced on its device); every kernel in program
order (ONNX nodes, kind, bytes its fusion saved, predicted and measured time); the
horizontal sibling sets; the layout regions; the arena plan. Inline CSS/SVG/JS only
(nothing loaded from the network); the helpers are those of `hetc place --report`
(`hetc.passes.place_report`).

Measured kernel calls are matched to the plan's kernels by ONNX node name in program
order (a kernel may take several calls, e.g. a weight pack and a GEMM; views take none).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from hetc.passes.place_report import CSS, JS, _comparison, _e, fmt_bytes, fmt_time

_NS = ' xmlns="http://www.w3.org/2000/svg"'  # inline SVG needs no namespace: keep the page URL-free


def _call_names(label: str) -> list[str]:
    """ONNX node names of a profiled call, `k6_gemm <- a, b` -> [a, b]."""
    names = label.split(" <- ", 1)[1] if " <- " in label else label
    return [n.strip() for n in names.split(", ") if n.strip()]


def match_measured(kernels: Sequence[dict], calls: Sequence[tuple[str, float]]) -> tuple[list[float | None], float]:
    """Measured seconds per kernel of the plan (None: no call was matched to it) and the
    seconds of calls matched to none. Walks both in program order: a call belongs to the
    first kernel, from the current one on, that holds one of its node names (one whose op
    type is the call's kind, if any)."""
    measured: list[float | None] = [None] * len(kernels)
    names = [set(k["nodes"]) for k in kernels]
    ops = [{o.lower() for o in k.get("ops", [])} for k in kernels]
    cur, unmatched = 0, 0.0
    for label, seconds in calls:
        wanted = set(_call_names(label))
        # `k7_split <- q+2`: a kernel of that op type wins among those holding the name
        # (a horizontal GEMM and its Split share their node name)
        kind = re.sub(r"^k\d+_", "", label.split(" <- ", 1)[0]).lower()
        found = [i for i in range(cur, len(kernels)) if names[i] & wanted]
        hit = next((i for i in found if kind in ops[i]), found[0] if found else None)
        if hit is None:  # out of order (rare): anywhere
            hit = next((i for i in range(len(kernels)) if names[i] & wanted), None)
        if hit is None:
            unmatched += seconds
            continue
        measured[hit] = (measured[hit] or 0.0) + seconds
        cur = hit
    return measured, unmatched


def _table(rows: list[dict], table_id: str, empty: str) -> str:
    """A table of dicts (columns: the union of their keys, in first-seen order)."""
    if not rows:
        return f"<p class='sub'>{_e(empty)}</p>"
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]

    def cell(v: Any) -> str:
        if isinstance(v, bool) or v is None:
            return f"<td>{_e('-' if v is None else 'yes' if v else 'no')}</td>"
        if isinstance(v, (int, float)):
            return f"<td class='num' data-v='{v!r}'>{_e(f'{v:.4g}' if isinstance(v, float) else v)}</td>"
        if isinstance(v, (list, dict)):
            return f"<td>{_e(json.dumps(v))}</td>"
        return f"<td>{_e(v)}</td>"

    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(cell(r.get(c)) for c in cols) + "</tr>" for r in rows)
    return f"<div class='scroll'><table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def render_compile_report(
    report: dict, measured: Sequence[tuple[str, float]] | None = None, *, title: str = "", target: str = ""
) -> str:
    """The page, from a compile report (`report.json`'s dict) and optionally the profiled
    calls (`Session.profile`: (label, seconds) in program order)."""
    fusion = report.get("fusion") or {}
    kernels = fusion.get("kernel_details", [])
    meas, unmatched = match_measured(kernels, measured) if measured else ([None] * len(kernels), 0.0)
    total_meas = sum(t for _, t in measured) if measured else None
    mode, device = fusion.get("mode", "-"), fusion.get("device") or "-"
    times = [k.get("predicted_time_s") for k in kernels]
    roofline = sum(times) if times and all(t is not None for t in times) else None
    preds = fusion.get("predictions", {})
    solver = fusion.get("solver", {})
    cards = [
        ("fusion", f"{mode}", f"priced on {device}"),
        ("kernels", f"{fusion.get('kernels', '-')}", f"{len(fusion.get('groups', []))} fused groups"),
        ("predicted", fmt_time(fusion.get("predicted_time_s")), f"{fmt_bytes(fusion.get('predicted_bytes'))} moved + launches"),
        ("predicted, roofline", fmt_time(roofline) if roofline is not None else "-", "sum of the kernels' rooflines"),
        ("measured", fmt_time(total_meas) if total_meas is not None else "not measured",
         "in kernels, per run" if total_meas is not None else "hetc run --profile --report-html OUT"),
        ("solver", f"{solver.get('status', '-')}", f"gap {solver.get('gap', 0):.3g}"),
    ]  # fmt: skip
    card_html = "".join(f'<div class="card"><span>{_e(a)}</span><b>{_e(b)}</b><span>{_e(c)}</span></div>' for a, b, c in cards)
    # the chosen mode first: the comparison chart colours its first bar
    order = [mode] + [m for m in ("none", "greedy", "ilp") if m != mode and m in preds]
    bars = {"baselines": [
        {"name": f"{m}{' (chosen)' if m == mode else ''}", "makespan_s": preds[m]["predicted_time_s"],
         "status": f"{preds[m]['kernels']} kernels, {fmt_bytes(preds[m]['predicted_bytes'])}"}
        for m in order if m in preds
    ]}  # fmt: skip
    mode_rows = "".join(
        f"<tr><td>{_e(m)}</td><td class='num'>{_e(preds[m]['kernels'])}</td><td class='num'>{_e(fmt_bytes(preds[m]['predicted_bytes']))}</td>"
        f"<td class='num'>{_e(fmt_time(preds[m]['predicted_time_s']))}</td>"
        f"<td class='num'>{_e(fmt_time(total_meas) if m == mode and total_meas is not None else '-')}</td></tr>"
        for m in order if m in preds
    )
    rows = []
    for i, (k, t) in enumerate(zip(kernels, meas)):
        p = k.get("predicted_time_s")
        ratio = f"{t / p:.2f}" if t is not None and p else "-"
        cells = [
            (i, i), (k["kind"], None), (", ".join(dict.fromkeys(k["nodes"])), None), (" ".join(k["ops"]), None),
            (fmt_bytes(k["bytes_saved"]), k["bytes_saved"]), (fmt_time(p), p if p is not None else -1),
            (fmt_time(t) if t is not None else "-", t if t is not None else -1), (ratio, None),
        ]  # fmt: skip
        tds = "".join(f'<td class="num" data-v="{v!r}">{_e(s)}</td>' if v is not None else f"<td>{_e(s)}</td>" for s, v in cells)
        rows.append(f"<tr>{tds}</tr>")
    horizontal = fusion.get("horizontal") or {}
    layout = (report.get("layout") or {}).get("regions", [])
    memory = {k: v for k, v in (report.get("memory") or {}).items() if not isinstance(v, (list, dict))}
    notes = list(fusion.get("notes", []))
    if unmatched:
        notes.append(f"{fmt_time(unmatched)} of measured calls matched no kernel of the plan")
    if measured:
        notes.append("measured: mean per run of each kernel's timed calls (hetc run --profile); predicted: the cost "
                     f"model's roofline of the kernel on {device} (its FLOPs, the bytes crossing its boundary, one launch)")
    name = title or "model"
    page_title = f"hetc compile report: {name}" + (f" ({target})" if target else "")
    comparison = _comparison(bars).replace(_NS, "") if bars["baselines"] else "<p class='sub'>no predictions</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(page_title)}</title><style>{CSS}</style></head>
<body>
<h1>{_e(page_title)}</h1>
<div class="sub">fusion mode <b>{_e(mode)}</b> · prices of <b>{_e(device)}</b>: {_e(fmt_bytes((fusion.get('prices') or {}).get('bandwidth_Bps')))}/s, {_e(fmt_time((fusion.get('prices') or {}).get('launch_s')))} per launch</div>
<div class="cards">{card_html}</div>
<h2>Fusion modes: predicted time of the whole graph</h2>
<div class="scroll">{comparison}</div>
<table id="modes"><thead><tr><th>mode</th><th>kernels</th><th>bytes moved</th><th>predicted</th><th>measured</th></tr></thead><tbody>{mode_rows}</tbody></table>
<h2>Kernels (fusion groups), program order</h2>
<input id="filter" placeholder="filter kernels (node, kind, op)">
<div class="scroll"><table id="ops"><thead><tr><th>#</th><th>kind</th><th>ONNX nodes</th><th>ops</th><th>bytes saved</th><th>predicted</th><th>measured</th><th>measured / predicted</th></tr></thead>
<tbody>{''.join(rows)}</tbody></table></div>
<h2>Horizontal fusion (hetc-fuse-horizontal, mode {_e(horizontal.get('mode', '-'))}, priced on {_e(horizontal.get('device', '-'))})</h2>
{_table(horizontal.get('sets', []), 'horizontal', 'no sibling MatMuls share an activation here')}
<h2>Layout (hetc-choose-layout)</h2>
{_table([r if isinstance(r, dict) else {'region': r} for r in layout], 'layout', 'no convolution regions')}
<p class="sub">{_e((report.get('layout') or {}).get('note', ''))}</p>
<h2>Arena (hetc-plan-memory)</h2>
{_table([memory] if memory else [], 'memory', 'no arena plan')}
<h2>Notes</h2><ul class="notes">{''.join(f'<li>{_e(n)}</li>' for n in notes)}</ul>
<script>{JS}</script>
</body></html>
"""
