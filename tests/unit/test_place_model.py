"""Placing a model's ops on devices (hetc.passes.place_model) and its report."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hetc.api import compile_module
from hetc.backends.devices import load_catalog
from hetc.diagnostics import HetcError
from hetc.passes.place import violations
from hetc.passes.place_model import build_task_graph, place_model, report
from hetc.passes.place_report import render_html

ROOT = Path(__file__).resolve().parents[2]
CNN = ROOT / "examples" / "cnn.onnx"
BLOCK = ROOT / "examples" / "transformer_block.onnx"


@pytest.fixture(autouse=True)
def _no_user_files(monkeypatch, tmp_path):
    monkeypatch.setenv("HETC_PROFILE", str(tmp_path / "no-profile.toml"))
    monkeypatch.delenv("HETC_CATALOG", raising=False)


_MODULES: dict[Path, object] = {}


def module(path: Path):
    # the pipeline does not change a module placement reads; placing annotates ops, which
    # no test here depends on
    if path not in _MODULES:
        _MODULES[path] = compile_module(path)
    return _MODULES[path]


@pytest.fixture(scope="module")
def placed():
    """cnn and transformer_block on cpu,h100 with CP-SAT (5 s limit) and with HEFT."""
    out = {}
    for path in (CNN, BLOCK):
        for sched in ("ilp", "heft"):
            out[(path.stem, sched)] = place_model(
                compile_module(path), ["cpu", "h100"], scheduler=sched, time_limit=5.0, name=path.stem
            )
    return out


@pytest.mark.parametrize("model", ["cnn", "transformer_block"])
@pytest.mark.parametrize("sched", ["ilp", "heft"])
def test_schedule_is_valid(placed, model, sched):
    r = placed[(model, sched)]
    g = r.model.graph
    assert violations(g, r.schedule) == []
    # every op is a task, constants are not; inputs and outputs stay on the host
    ops = [t for t, i in r.model.tasks.items() if i.kind == "op"]
    assert ops and all(r.model.tasks[t].op is not None for t in ops)
    for t, info in r.model.tasks.items():
        if info.kind != "op":
            assert r.schedule.tasks[t].device == "cpu"
    # every task's cost on a device is the cost model's estimate, in microseconds
    for t in ops:
        for d, est in r.model.tasks[t].estimates.items():
            assert g.cost[t][d] == pytest.approx(est.time_s * 1e6)


def test_ilp_never_worse_than_the_baselines(placed):
    for model in ("cnn", "transformer_block"):
        r = placed[(model, "ilp")]
        assert r.schedule.status in ("OPTIMAL", "FEASIBLE") or "fallback" in r.schedule.status
        for name, b in r.baselines.items():
            if not isinstance(b, str):
                assert r.schedule.makespan <= b.makespan * (1 + 1e-6), name
    # the small CNN is worth splitting: its convolutions go to the H100
    cnn = placed[("cnn", "ilp")]
    assert {cnn.schedule.tasks[t].device for t in ("Conv_3", "Conv_16")} == {"h100"}


def test_edges_carry_tensor_bytes_over_the_link(placed):
    r = placed[("cnn", "ilp")]
    cat = r.model.catalog
    e = r.model.edges[("input:image", "Conv_3")]
    assert e.bytes == 3 * 32 * 32 * 4
    edge = next(x for x in r.model.graph.edges if (x.src, x.dst) == ("input:image", "Conv_3"))
    assert edge.comm == pytest.approx((1e-5 + e.bytes / 63e9) * 1e6)
    assert cat.route("cpu", "h100")[0].name == "pcie5-h100"


REPORT_KEYS = {
    "schema", "hetc_version", "model", "devices", "links", "catalog_files", "scheduler", "objective", "schedule",
    "makespan_s", "ops", "edges", "transfers", "totals", "baselines", "speedup_vs_best_single", "notes",
}  # fmt: skip
OP_KEYS = {
    "task", "kind", "node", "op_type", "op_class", "dtype", "flops", "bytes", "weight_bytes", "device", "start_s",
    "end_s", "predicted_s", "roofline_s", "bound", "estimates_s", "unsupported",
}  # fmt: skip


def test_report_json_schema(placed):
    r = placed[("cnn", "ilp")]
    rep = json.loads(json.dumps(report(r, model=str(CNN))))  # JSON-serializable
    assert set(rep) == REPORT_KEYS and rep["schema"] == "hetc.place/1"
    assert [d["name"] for d in rep["devices"]] == ["cpu", "h100"]
    assert set(rep["schedule"]) >= {"status", "optimal", "gap", "makespan_s", "lower_bound_s", "solve_time_s"}
    assert rep["makespan_s"] == pytest.approx(r.schedule.makespan / 1e6)
    for op in rep["ops"]:
        assert set(op) == OP_KEYS
        assert op["device"] in ("cpu", "h100") and op["end_s"] >= op["start_s"] >= 0
        if op["kind"] == "op":
            assert op["predicted_s"] == pytest.approx(op["estimates_s"][op["device"]])
    for m in rep["transfers"]:
        assert m["from"] != m["to"] and m["bytes"] > 0 and m["time_s"] > 0 and m["route"] == ["pcie5-h100"]
    names = [b["name"] for b in rep["baselines"]]
    assert names == ["ilp", "heft", "single:cpu", "single:h100"]
    assert rep["totals"]["transfers"] == len(rep["transfers"])
    assert rep["speedup_vs_best_single"] >= 1.0 - 1e-9


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.external: list[str] = []
        self.stack: list[str] = []
        self.ops_rows = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.counts[tag] = self.counts.get(tag, 0) + 1
        if "id" in a:
            self.ids[a["id"]] = tag
        for key in ("src", "href"):
            if a.get(key) and not a[key].startswith(("#", "data:")):
                self.external.append(a[key])
        if tag == "tr" and "ops" in self.stack:
            self.ops_rows += 1
        if tag == "table" and a.get("id"):
            self.stack.append(a["id"])

    def handle_endtag(self, tag):
        if tag == "table" and self.stack:
            self.stack.pop()


def test_html_report_is_self_contained(placed):
    r = placed[("transformer_block", "heft")]
    rep = report(r, model=str(BLOCK))
    page = render_html(rep)
    p = _Page()
    p.feed(page)
    p.close()
    assert page.startswith("<!DOCTYPE html>")
    assert p.ids.get("gantt") == "svg" and p.ids.get("graph") == "svg" and p.ids.get("comparison") == "svg"
    assert p.ids.get("ops") == "table"
    assert p.ops_rows == 1 + len(rep["ops"])  # header + one row per task
    assert p.external == [], "the report must load nothing from elsewhere"
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page
    # one Gantt bar per op, on its device's row
    assert page.count('class="task"') == sum(1 for o in rep["ops"] if o["kind"] == "op")


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_html_report_in_a_headless_browser(placed, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no headless browser here (apt-get install chromium); the page is checked with html.parser above")
    r = placed[("cnn", "ilp")]
    page = tmp_path / "report.html"
    page.write_text(render_html(report(r, model=str(CNN))))
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert 'id="gantt"' in dom and 'id="graph"' in dom and 'id="ops"' in dom
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, "\n".join(console)


def test_devices_that_cannot_run_an_op(tmp_path):
    # the NPU model has no erf: the transformer's GELU (one Gelu after hetc-canonicalize)
    # stays on the host
    r = place_model(module(BLOCK), ["cpu", "npu"], scheduler="heft")
    erf = [t for t, i in r.model.tasks.items() if i.op_type == "Gelu"]
    assert erf and all(r.schedule.tasks[t].device == "cpu" for t in erf)
    assert all("npu" not in r.model.graph.cost[t] for t in erf)
    assert r.model.tasks[erf[0]].unsupported == {"npu": "npu does not run Gelu (elementwise)"}
    assert isinstance(r.baselines["single:npu"], str) and "Gelu" in r.baselines["single:npu"]
    assert violations(r.model.graph, r.schedule) == []


def test_errors():
    with pytest.raises(HetcError, match="has no host"):
        build_task_graph(module(CNN), ["h100"])
    with pytest.raises(HetcError, match="unknown device 'tpu'"):
        build_task_graph(module(CNN), ["cpu", "tpu"])
    with pytest.raises(HetcError, match="unknown scheduler"):
        place_model(module(CNN), ["cpu"], scheduler="magic")


def test_user_catalog_device(tmp_path):
    (tmp_path / "my.toml").write_text(
        """
[devices.fastcpu]
kind = "cpu"
launch_overhead_s = 1e-8
[devices.fastcpu.peak_flops]
float32 = 7e12
[devices.fastcpu.memory.dram]
capacity_bytes = 1e10
bandwidth_Bps = 1e12
[links.shm]
endpoints = ["cpu", "fastcpu"]
bandwidth_Bps = 1e12
latency_s = 1e-9
"""
    )
    cat = load_catalog([tmp_path / "my.toml"])
    r = place_model(module(CNN), ["cpu", "fastcpu"], scheduler="heft", catalog=cat)
    ops = [t for t, i in r.model.tasks.items() if i.kind == "op" and i.op_class != "view"]
    assert all(r.schedule.tasks[t].device == "fastcpu" for t in ops)


def test_cli_place_onnx(tmp_path):
    from hetc.cli import build_parser, main

    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and "compile" in a.choices)
    if "place" not in sub.choices:
        pytest.skip("the `hetc place` subcommand is not in this tree yet")
    out = tmp_path / "out" / "report.html"
    rc = main(["place", str(CNN), "--devices", "cpu,h100", "--scheduler", "heft", "--report", str(out), "-q"])
    assert rc == 0
    rep = json.loads((tmp_path / "out" / "report.json").read_text())
    assert rep["scheduler"] == "heft" and out.read_text().startswith("<!DOCTYPE html>")
