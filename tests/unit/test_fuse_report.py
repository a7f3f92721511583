"""The compile report page: `hetc compile --target c` writes out/report.html (fusion
groups, none/greedy/ilp, layout, arena; no external URLs), and `hetc run --profile
--report-html` puts each kernel's measured time beside its prediction."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hetc.passes.fuse_report import match_measured, render_compile_report

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "transformer_block.onnx"


def _no_urls(page: str) -> None:
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#)""", page)  # nothing to load
    assert "@import" not in page and "url(" not in page


def test_compile_writes_the_html_report(tmp_path):
    from hetc.cli import main

    out = tmp_path / "out"
    assert main(["compile", str(MODEL), "--target", "c", "--fusion", "greedy", "-o", str(out), "--quiet"]) == 0
    page = (out / "report.html").read_text()
    report = json.loads((out / "report.json").read_text())
    assert "report.html" in json.loads((out / "manifest.json").read_text())["files"]
    _no_urls(page)
    fusion = report["fusion"]
    # every fused group's ONNX nodes, its kind and bytes saved are on the page
    for d in fusion["kernel_details"]:
        if len(d["nodes"]) > 1:
            assert ", ".join(dict.fromkeys(d["nodes"])) in page
    assert page.count("<td>epilogue</td>") == fusion["group_kinds"].count("epilogue")
    # the three modes with their predicted kernels, the chosen one marked
    assert "greedy (chosen)" in page
    for mode in ("none", "greedy", "ilp"):
        assert f"<tr><td>{mode}</td><td class='num'>{fusion['predictions'][mode]['kernels']}</td>" in page
    # layout and arena sections from report.json
    assert "hetc-choose-layout" in page and "arena_bytes" in page
    assert str(report["memory"]["arena_bytes"]) in page
    assert "not measured" in page


def test_run_profile_writes_measured_beside_predicted(tmp_path, capsys):
    from hetc.cli import main

    page_path = tmp_path / "r.html"
    assert main(["run", str(MODEL), "--target", "c", "--profile", "2", "--report-html", str(page_path), "--quiet"]) == 0
    page = page_path.read_text()
    _no_urls(page)
    assert "not measured" not in page
    rows = re.findall(r"<tr>(.*?)</tr>", page.split('id="ops"')[1].split("</table>")[0])
    kernels = [r for r in rows if "<td>" in r]
    measured = [r for r in kernels if re.search(r"data-v=\"[0-9.e-]+\">[0-9.]+ (µs|ms)</td><td>[0-9.]+</td>$", r)]
    # every GEMM/row kernel got a measurement and a ratio (views like Reshape take no call)
    assert len(measured) >= sum(1 for r in kernels if "epilogue" in r or ">row<" in r) > 0


def test_measured_calls_match_kernels_in_program_order():
    kernels = [{"nodes": ["a", "b"], "ops": ["MatMul", "Add"]}, {"nodes": ["r"], "ops": ["Reshape"]},
               {"nodes": ["q+2", "q+2"], "ops": ["MatMul", "Add"]}, {"nodes": ["q+2"], "ops": ["Split"]}]
    calls = [("k0_gemm <- a", 1.0), ("k1_pack_b <- q+2", 0.5), ("k2_gemm <- q+2", 2.0), ("k3_split <- q+2", 3.0),
             ("k4_x <- zzz", 7.0)]
    got, unmatched = match_measured(kernels, calls)
    # a view takes no call; a GEMM's pack and GEMM calls add up; the Split finds its own kernel
    assert got == [1.0, None, 2.5, 3.0] and unmatched == 7.0


def test_page_renders_without_fusion_data():
    page = render_compile_report({"fusion": None, "layout": {}, "memory": {}})
    assert "<html" in page and "no predictions" in page
