"""The HLS target's analytic model (latency and resources per loop nest) and its CP-SAT
pragma search, on hand-made loops and on the loop IR of a small ONNX model."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper as h

from hetc.api import compile_module
from hetc.backends.hls.estimate import (
    PARTS,
    Loop,
    Precision,
    all_loops,
    analyze,
    array_bram,
    default_pragmas,
    estimate,
    pipelined_latency,
    resolve_part,
    search_pragmas,
)
from hetc.backends.cfamily.printer import CFamilyPrinter
from hetc.backends.hls.target import HlsPrinter, print_hls, tcl_script
from hetc.backends.targets import TARGETS
from hetc.pipeline import run_pipeline

F32 = Precision()


def _loop(trip, depth=10, rec=0, walks=None, ops=None):
    return Loop("k/L0", trip, ops=Counter(ops or {"fadd": 1, "fmul": 1, "load": 2, "store": 1}), depth=depth, rec=rec,
                walks=Counter(walks or {}))


def test_pipelined_latency_follows_trip_count_ii_and_depth():
    lp = _loop(64, walks={"a": 1, "b": 1})
    assert pipelined_latency(lp, 1, {}, F32) == (63 + 10 + 2, 1)
    # unroll 4 with the arrays in 4 banks: 16 iterations at II=1, an adder tree of depth 2 more
    assert pipelined_latency(lp, 4, {"a": 4, "b": 4}, F32) == (15 + 12 + 2, 1)
    # unroll 4 without partitioning: 4 accesses a cycle to one dual-port BRAM -> II=2
    assert pipelined_latency(lp, 4, {}, F32)[1] == 2


def test_a_reduction_into_one_address_is_a_recurrence_and_unrolling_chains_it():
    lp = _loop(64, rec=8)
    lat1, ii1 = pipelined_latency(lp, 1, {}, F32)
    assert ii1 == 8 and lat1 == 63 * 8 + 12
    lat4, ii4 = pipelined_latency(lp, 4, {}, F32)
    assert ii4 == 8 + 3 * F32.op_cost("fadd")[0] and lat4 >= lat1 // 2  # float order is kept: little gain


def test_bram_counts_18k_blocks_per_bank_and_small_banks_go_to_lutram():
    assert array_bram(4096, 1, 32) == (8, 0)  # 512 x 36 bits per BRAM_18K
    assert array_bram(4096, 4, 32)[0] == 8  # 4 banks of 1024 words
    assert array_bram(4096, 16, 32)[0] == 16  # 16 banks of 256 words: one block each
    assert array_bram(16, 1, 32)[0] == 0  # 512 bits: LUTRAM


def test_precision_and_parts():
    assert str(Precision.parse("ap_fixed<16, 6>")) == "ap_fixed<16,6>"
    assert Precision.parse("float") == F32
    with pytest.raises(ValueError):
        Precision.parse("ap_fixed<4,8>")
    assert resolve_part("zcu104")[1]["dsp"] == 1728 and resolve_part("U280")[1]["bram"] == 4032
    with pytest.raises(KeyError):
        resolve_part("vu9p")
    # fixed-point multipliers take fewer DSPs than float ones
    assert Precision.parse("ap_fixed<16,6>").op_cost("fmul")[1] < F32.op_cost("fmul")[1]


@pytest.fixture(scope="module")
def design_module():
    rng = np.random.default_rng(0)
    w = h.make_tensor("w", T.FLOAT, [64, 32], rng.standard_normal((64, 32)).astype(np.float32).ravel())
    g = h.make_graph(
        [h.make_node("MatMul", ["x", "w"], ["y"], name="mm"), h.make_node("Relu", ["y"], ["z"], name="relu"),
         h.make_node("ReduceSum", ["z", "axes"], ["s"], name="sum", keepdims=1)],
        "g", [h.make_tensor_value_info("x", T.FLOAT, [8, 64])], [h.make_tensor_value_info("s", T.FLOAT, [8, 1])],
        [w, h.make_tensor("axes", T.INT64, [1], [1])],
    )
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    module = compile_module(m)
    run_pipeline(module, list(TARGETS["hls"].passes))
    return module


def test_analysis_sees_every_kernel_loop_and_array(design_module):
    d = analyze(design_module)
    assert d.kernels and all(k.loops for k in d.kernels)
    inner = [lp for lp in all_loops(d) if lp.innermost]
    assert inner and all(lp.trip >= 1 and lp.depth > 0 for lp in inner if lp.ops)
    assert d.weights and all(w in d.arrays for w in d.weights)
    assert d.io_words == 8 * 64 + 8


def test_search_beats_the_default_within_the_part_and_is_deterministic(design_module):
    d = analyze(design_module)
    part = PARTS["zcu104"]
    base = estimate(d, default_pragmas(d), part, F32)
    pragmas, info = search_pragmas(d, part, F32, time_limit=5, seed=3)
    got = estimate(d, pragmas, part, F32)
    assert info["status"] == "OPTIMAL" and info["seed"] == 3
    assert got["latency_cycles"] < base["latency_cycles"]
    for r in ("dsp", "bram", "lut", "ff"):
        assert got[r] <= part[r] * 0.8 + 1e-9 or got[r] <= base[r]
    assert search_pragmas(d, part, F32, time_limit=5, seed=3)[0] == pragmas
    # the solver's linear model of latency bounds the estimate of its answer from above (it
    # assumes each loop's arrays in exactly U banks; a larger partition chosen for another loop helps)
    assert got["latency_cycles"] <= info["predicted_latency_cycles"] <= base["latency_cycles"]


def test_search_respects_a_tight_part(design_module):
    d = analyze(design_module)
    base = estimate(d, default_pragmas(d), PARTS["u280"], F32)
    tiny = dict(PARTS["zcu104"], dsp=int((base["dsp"] + 10) / 0.8))  # room for 10 more DSPs
    pragmas, info = search_pragmas(d, tiny, F32, time_limit=5)
    got = estimate(d, pragmas, tiny, F32)
    assert got["dsp"] <= int(tiny["dsp"] * 0.8)
    roomy = estimate(d, search_pragmas(d, PARTS["u280"], F32, time_limit=5)[0], PARTS["u280"], F32)
    assert roomy["latency_cycles"] <= got["latency_cycles"] <= base["latency_cycles"]


def test_printer_places_the_chosen_pragmas(design_module):
    assert issubclass(HlsPrinter, CFamilyPrinter)  # one printer; HLS overrides its hooks
    d = analyze(design_module)
    pragmas, _ = search_pragmas(d, PARTS["u280"], F32, time_limit=5)
    files = print_hls(design_module, F32, pragmas)
    top = files["hetc_top.cpp"]
    assert top.count("#pragma HLS PIPELINE II=1") >= 1
    assert "void hetc_top(const float in0[512], float out0[8])" in top
    unrolled = {k: u for k, u in pragmas["unroll"].items() if u > 1 and k not in pragmas["hoist"]}
    for u in set(unrolled.values()):
        assert f"#pragma HLS UNROLL factor={u}" in top
    if pragmas["hoist"]:
        assert "#pragma HLS UNROLL\n" in top
    for arr, p in pragmas["partition"].items():
        if "/" not in arr:  # a factor covering the whole array is printed as a complete partition
            kind = "type=complete" if p >= d.arrays[arr] else f"type=cyclic factor={p}"
            assert f"variable={arr + '_l' if arr[:2] in ('in', 'ou') else arr} {kind}" in top
    assert "restrict" not in top
    assert "set_part {xcu280-fsvh2892-2L-e}" in tcl_script(PARTS["u280"])



def test_pragma_search_without_ortools_falls_back_and_says_so(design_module, monkeypatch):
    """No CP-SAT (ortools not installed, as on the GPU machine): the default pragmas, said so."""
    import sys

    for name in ("ortools", "ortools.sat", "ortools.sat.python"):
        monkeypatch.setitem(sys.modules, name, None)
    d = analyze(design_module)
    pragmas, info = search_pragmas(d, PARTS["u280"], F32, time_limit=5, seed=0)
    assert pragmas == default_pragmas(d)
    assert "ortools is not installed" in info["status"]
