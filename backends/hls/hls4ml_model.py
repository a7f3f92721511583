"""An analytic model of hls4ml's io_parallel architecture, for comparing hetc's HLS designs
with hls4ml's on the same models without vendor synthesis.

hls4ml gives no latency or resource numbers without Vitis/Vivado HLS, and neither runs
here. So the comparison puts an estimate of hls4ml's design next to hetc's estimate, both
from the same operator table (`Precision.op_cost`, `array_bram` of `estimate.py`); both
columns are analytic estimates, neither is a synthesis result.

What the model assumes about hls4ml 1.x's io_parallel templates with the Latency strategy
(`nnet_dense_latency.h`, `nnet_conv2d_latency.h`, `nnet_pooling.h`, `nnet_activation.h`):

* the top function is one pipeline (``#pragma HLS PIPELINE``), layers one after another,
  every intermediate array fully partitioned (registers);
* Dense(n_in, n_out) at reuse factor R: ``ceil(n_in * n_out / R)`` multipliers and as many
  adders (``ALLOCATION ... limit=multiplier_limit``), pipelined at II = R; latency
  ``R - 1 + mult + ceil(log2(n_in + 1)) * add + 1`` (an adder tree, one level a cycle, over
  the n_in products and the bias, which initialises the accumulator in
  `nnet_dense_latency.h`: ``acc[iacc] = biases[iacc]; ... acc[jj] += mult[index]``; and the
  output cast); weights are constants folded into logic at R = 1 and block-partitioned
  ROMs of depth R (``array_bram``: LUTRAM while a bank holds <= 1 Kib) at R > 1;
* Conv2D: ``n_partitions`` steps (output pixels / ParallelizationFactor), each pipelined
  at II = R over ``n_pixels * fh * fw * n_chan * n_filt / R`` multipliers; latency
  ``n_partitions * R - 1 + 1 (fill_buffer) + mult + ceil(log2(fh*fw*n_chan + 1)) * add + 1``
  (the bias initialises the accumulator here too, `nnet_conv2d_latency.h`);
* the top: one pipeline (io_parallel's "pipeline" style) with one pipeline control
  (``LOOP_CONTROL``, as hetc's top pipeline); its DATAFLOW style for convolutions is
  estimated the same way (latency: the layers' sum);
* ReLU: one comparator per element, 1 cycle; max pooling: ``pool_h * pool_w - 1``
  comparators per output in a tree, ``ceil(log2(pool_h * pool_w)) + 1`` cycles;
  Reshape/Flatten/Transpose/Input: wiring;
* R > 1: every shared multiplier and adder has an R:1 multiplexer in front of one operand
  (``estimate.mux_lut``, as hetc's layers); at any R a convolution's data buffer
  (``n_pixels * fh * fw * n_chan`` words) is refilled through an ``n_partitions``:1 mux;
* a multiplier takes DSPs (``op_cost("fmul")``: ceil(W/27)*ceil(W/18)) when its operands
  are wider than 10 bits, LUTs (W*W/2) otherwise; the default ``ap_fixed<16,6>`` takes DSPs.

What it leaves out: synthesis folding multiplications by constant weights (zeros, powers of
two) into LUTs or nothing, and register retiming (each makes real designs smaller), and the
write-enable decoders of outputs stored per partition (larger). hetc's estimate leaves out
the same things for its layers (their completely partitioned weights are constants too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from hetc.backends.hls.estimate import LOOP_CONTROL, Precision, array_bram, mux_lut


def _log2(n: int) -> int:
    return math.ceil(math.log2(n)) if n > 1 else 0


def layer_estimate(layer: dict, prec: Precision) -> dict:
    """One hls4ml layer: `layer` holds its class_name and the attributes hls4ml keeps
    (n_in, n_out, reuse_factor, n_chan, n_filt, filt_height, filt_width, out_height,
    out_width, n_partitions, pool_height, pool_width). Returns latency, interval and resources."""
    kind = layer["class_name"]
    rf = max(1, int(layer.get("reuse_factor", 1)))
    w = prec.width
    m_lat, m_dsp, m_lut, m_ff = prec.op_cost("fmul")  # LUTs up to LUT_MULT_MAX_BITS, as for hetc's design
    a_lat, _, a_lut, a_ff = prec.op_cost("fadd")
    c_lut = prec.op_cost("fcmp")[2]
    out = {"name": layer.get("name", kind), "class_name": kind, "latency": 0, "interval": 1,
           "mults": 0, "dsp": 0, "lut": 0, "ff": 0, "bram": 0}
    if kind in ("Dense",):
        n_in, n_out = int(layer["n_in"]), int(layer["n_out"])
        mults = math.ceil(n_in * n_out / rf)
        out["latency"] = rf - 1 + m_lat + _log2(n_in + 1) * a_lat + 1
        out["interval"] = rf
        weights = n_in * n_out
        n_regs = n_out
    elif kind in ("Conv2D", "Conv1D"):
        fh, fw = int(layer.get("filt_height", 1)), int(layer.get("filt_width", 1))
        n_chan, n_filt = int(layer["n_chan"]), int(layer["n_filt"])
        pixels = int(layer.get("out_height", 1)) * int(layer["out_width"])
        parts = int(layer.get("n_partitions", pixels))
        n_pixels = max(1, pixels // parts)
        mult_in = fh * fw * n_chan
        mults = math.ceil(n_pixels * mult_in * n_filt / rf)
        out["latency"] = parts * rf - 1 + 1 + m_lat + _log2(mult_in + 1) * a_lat + 1
        out["interval"] = parts * rf
        weights = mult_in * n_filt
        n_regs = pixels * n_filt + n_pixels * mult_in  # output array and the data buffer
    elif kind in ("Activation", "ReLU"):
        n = int(layer["n_in"])
        out.update(latency=1, lut=n * c_lut, ff=n * w)
        return out
    elif kind in ("Pooling2D", "Pooling1D"):
        area = int(layer.get("pool_height", 1)) * int(layer.get("pool_width", layer.get("pool_height", 1)))
        n = int(layer.get("out_height", 1)) * int(layer.get("out_width", 1)) * int(layer["n_filt"])
        out.update(latency=_log2(area) + 1, interval=rf, lut=n * (area - 1) * c_lut, ff=n * w)
        return out
    else:  # Input, Reshape, Flatten, Transpose: wiring
        return out
    out["mults"] = mults
    out["dsp"] = mults * m_dsp
    # R > 1: each multiplier and adder shared R ways takes one operand through an R:1 mux (hetc's
    # layers pay the same, layer.py); a convolution's data buffer is refilled from n_partitions windows
    out["lut"] = mults * (m_lut + a_lut + 2 * mux_lut(rf, w))
    if kind in ("Conv2D", "Conv1D"):
        out["lut"] += n_pixels * mult_in * mux_lut(parts, w)
    out["ff"] = mults * (m_ff + a_ff) + n_regs * w
    if rf > 1:  # weights in ROMs, one bank per multiplier, R words deep
        b, lut = array_bram(weights, mults, w)
        out["bram"], out["lut"] = b, out["lut"] + lut
    return out


def design_estimate(layers: Iterable[dict], prec: Precision, clock_mhz: float) -> dict:
    """The whole io_parallel design: latency = sum of the layers' (one pipeline, layer after
    layer), interval = the largest layer interval, resources added up."""
    per = [layer_estimate(lay, prec) for lay in layers]
    total = {k: sum(p[k] for p in per) for k in ("latency", "dsp", "lut", "ff", "bram", "mults")}
    total["lut"] += LOOP_CONTROL[2]  # the top pipeline's control (hetc's top pipeline pays the same)
    total["ff"] += LOOP_CONTROL[3]
    return {
        "latency_cycles": int(total["latency"]),
        "interval_cycles": int(max((p["interval"] for p in per), default=1)),
        "dsp": int(total["dsp"]), "bram": int(total["bram"]), "lut": int(total["lut"]), "ff": int(total["ff"]),
        "multipliers": int(total["mults"]),
        "latency_us": round(total["latency"] / clock_mhz, 3),
        "layers": per,
    }
