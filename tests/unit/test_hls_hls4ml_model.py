"""The analytic model of hls4ml's io_parallel designs (benchmarks/hls_vs_hls4ml.py's other column)."""

from hetc.backends.hls.estimate import Precision
from hetc.backends.hls.hls4ml_model import design_estimate, layer_estimate

P16 = Precision.parse("ap_fixed<16,6>")


def test_dense_reuse_divides_multipliers_and_adds_cycles():
    one = layer_estimate({"class_name": "Dense", "n_in": 16, "n_out": 64, "reuse_factor": 1}, P16)
    four = layer_estimate({"class_name": "Dense", "n_in": 16, "n_out": 64, "reuse_factor": 4}, P16)
    assert one["mults"] == 1024 and four["mults"] == 256
    assert one["dsp"] == 1024 and four["dsp"] == 256  # 16-bit operands: one DSP each
    assert four["latency"] - one["latency"] == 3 and four["interval"] == 4
    assert one["bram"] == 0  # R = 1: weights are constants in logic


def test_narrow_multipliers_go_to_luts():
    narrow = layer_estimate({"class_name": "Dense", "n_in": 8, "n_out": 8, "reuse_factor": 1},
                            Precision.parse("ap_fixed<8,3>"))
    assert narrow["dsp"] == 0 and narrow["lut"] > 64 * 8


def test_conv_interval_is_partitions_times_reuse_and_design_sums_latency():
    conv = {"class_name": "Conv2D", "n_chan": 1, "n_filt": 4, "filt_height": 3, "filt_width": 3, "out_height": 12,
            "out_width": 12, "n_partitions": 144, "reuse_factor": 2}
    c = layer_estimate(conv, P16)
    assert c["interval"] == 288 and c["mults"] == 18
    relu = {"class_name": "Activation", "n_in": 576}
    d = design_estimate([{"class_name": "Input"}, conv, relu], P16, 200)
    assert d["latency_cycles"] == c["latency"] + 1 and d["interval_cycles"] == 288 and d["dsp"] == c["dsp"]
