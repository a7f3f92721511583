"""The HLS estimate's loop model: perfect nests flatten into a hoisted pipeline, DATAFLOW's
interval, and the pragma search under resource caps."""

from collections import Counter

import pytest
from hetc.backends.hls.estimate import (
    PARTS,
    Design,
    Kernel,
    Loop,
    Precision,
    _mark_flattened,
    default_pragmas,
    estimate,
    search_pragmas,
)

P16 = Precision.parse("ap_fixed<16,6>")


def _gemm_like(name: str, outer: int, k: int) -> Kernel:
    """outer (perfect) -> k (loads x) -> 32 (MACs into a walked accumulator): the GEMM tile shape."""
    inner = Loop(f"{name}/L2", 32, ops=Counter(load=2, fmul=1, fadd=1, store=1), depth=6, depth_fx=3,
                 walks=Counter({"w": 1, f"{name}/a0": 2}), accesses=Counter({"w": 1, f"{name}/a0": 2}))
    mid = Loop(f"{name}/L1", k, children=[inner], ops=Counter(load=1), depth=2, depth_fx=1, walks=Counter({"x": 1}),
               accesses=Counter({"x": 1}))
    top = Loop(f"{name}/L0", outer, children=[mid])
    inner.parent, mid.parent = mid, top
    for lp, m in ((top, 1), (mid, outer), (inner, outer * k)):
        lp.mult = m
    _mark_flattened(top, 1)
    return Kernel(name, [top], Counter(), {f"{name}/a0": 32})


def _design(kernels: list[Kernel]) -> Design:
    arrays = {"x": 64, "w": 4096}
    for k in kernels:
        arrays.update(k.arrays)
        arrays[f"t_{k.name}"] = 32
    return Design(kernels, arrays, {"w"}, io_words=0, io_ports=0)


def test_perfect_nest_flattens_into_the_hoisted_pipeline():
    k = _gemm_like("k0", outer=8, k=16)
    design = _design([k])
    hoisted = {"unroll": {"k0/L2": 1}, "hoist": ["k0/L2"], "partition": {"w": 32, "k0/a0": 32}}
    est = estimate(design, hoisted, PARTS["u280"], P16)
    # one pipeline of 8 * 16 iterations at II=1: (128 - 1) + mid depth 1 + inner depth 3 + log2(32) + 2, plus
    # kernel 2 (fixed-point operator latencies)
    assert est["latency_cycles"] == 127 + 1 + 3 + 5 + 2 + 2
    assert estimate(design, hoisted, PARTS["u280"], Precision())["latency_cycles"] == 127 + 2 + 6 + 5 + 2 + 2
    serial = estimate(design, default_pragmas(design), PARTS["u280"], P16)["latency_cycles"]
    assert est["latency_cycles"] * 10 < serial


def test_dataflow_interval_is_the_largest_stage_and_buffers_double():
    design = _design([_gemm_like("k0", 8, 16), _gemm_like("k1", 2, 16)])
    pragmas = default_pragmas(design)
    seq = estimate(design, pragmas, PARTS["u280"], P16)
    df = estimate(design, pragmas, PARTS["u280"], P16, dataflow=True)
    assert seq["interval_cycles"] == seq["latency_cycles"] == df["latency_cycles"]
    one = estimate(_design([_gemm_like("k0", 8, 16)]), pragmas, PARTS["u280"], P16)["latency_cycles"]
    assert df["interval_cycles"] == one < df["latency_cycles"]


@pytest.mark.parametrize("cap", [10, 40])
def test_search_respects_resource_caps(cap):
    design = _design([_gemm_like("k0", 8, 16), _gemm_like("k1", 4, 16)])
    part = PARTS["u280"]
    free, _ = search_pragmas(design, part, P16, time_limit=2.0)
    capped, info = search_pragmas(design, part, P16, time_limit=2.0, caps={"dsp": cap})
    assert info["caps"] == {"dsp": cap} and info["status"] == "OPTIMAL"
    e_free, e_cap = estimate(design, free, part, P16), estimate(design, capped, part, P16)
    assert e_cap["dsp"] <= cap < e_free["dsp"]
    assert e_cap["latency_cycles"] >= e_free["latency_cycles"]


def test_a_pipelined_nest_unrolls_everything_below():
    from hetc.backends.hls.nest import nest_arrays, nest_latency, nest_resources

    k = _gemm_like("k0", outer=8, k=16)
    top = k.loops[0]
    mid, inner = top.children[0], top.children[0].children[0]
    mid.carried = True  # _gemm_like does not run the IR analysis: the reduction over k, by hand
    inner.depth_reg = 3  # mul 2 + add 1; loads and stores are registers in a fully partitioned nest
    design = _design([k])
    pipe = {**default_pragmas(design), "pipeline": ["k0/L0"], "partition": {"w": 4096, "x": 64, "k0/a0": 32}}
    est = estimate(design, pipe, PARTS["u280"], P16)
    # one iteration of L0 holds 16 * 32 MACs: 512 one-DSP multipliers at 16 bits
    assert nest_resources(top, P16)[0] == 512 == est["dsp"]
    assert nest_arrays(top) == {"x": 16, "w": 512, "k0/a0": 1024}
    # 8 iterations at II = 1; depth = the MAC (3) + an adder tree over k (log2 16 = 4)
    lat = nest_latency(top, pipe["partition"], P16, sizes=design.arrays)
    assert nest_latency(top, {"k0/a0": 16}, P16, sizes=design.arrays) > lat  # half-partitioned: port bound
    assert lat == (8 - 1) + 3 + 4 + 2 and est["latency_cycles"] == lat + 2
    # the search takes a nest when the part allows, and none under a DSP cap below 32
    # (layers, layer.py, off: they would take the kernel whole; tests/unit/test_hls_layers.py covers them)
    free, info = search_pragmas(design, PARTS["u280"], P16, time_limit=2.0, allow_layers=False)
    assert free["pipeline"] and info["nests"] == 2
    assert estimate(design, free, PARTS["u280"], P16)["latency_cycles"] <= est["latency_cycles"]
    capped, _ = search_pragmas(design, PARTS["u280"], P16, time_limit=2.0, caps={"dsp": 20}, allow_layers=False)
    assert capped["pipeline"] == []


def test_dataflow_search_minimizes_the_largest_stage():
    design = _design([_gemm_like("k0", 8, 16), _gemm_like("k1", 2, 16)])
    part = PARTS["u280"]
    df, info = search_pragmas(design, part, P16, time_limit=2.0, caps={"dsp": 40}, dataflow=True)
    e = estimate(design, df, part, P16, dataflow=True)
    assert info["predicted_interval_cycles"] == e["interval_cycles"]
    one = estimate(design, default_pragmas(design), part, P16, dataflow=True)
    assert e["interval_cycles"] < one["interval_cycles"] and e["dsp"] <= 40
