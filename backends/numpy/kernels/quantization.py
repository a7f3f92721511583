"""NumPy semantics of the ONNX linear quantization ops (opset 28):
QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear."""

from __future__ import annotations

import numpy as np

from hetc.backends.numpy.kernels import kernel
from hetc.backends.numpy.kernels.elementwise import _ew_cast, _ew_is_float, _ew_onnx_dtype


def _q_int_range(dt):
    """(lowest, highest) of an integer quantized dtype, incl. ml_dtypes int4/int2."""
    dt = np.dtype(dt)
    small = {"int4": (-8, 7), "uint4": (0, 15), "int2": (-2, 1), "uint2": (0, 3)}
    if dt.name in small:
        return small[dt.name]
    info = np.iinfo(dt)
    return int(info.min), int(info.max)


def _q_broadcast_param(p, x, axis, block_size):
    """Reshape/expand a scale or zero point so it broadcasts against ``x``."""
    p = np.asarray(p)
    if p.ndim == 0 or (p.ndim == 1 and p.size == 1 and not block_size):
        return p.reshape(())
    axis = int(axis) % x.ndim
    if block_size and block_size > 0:
        rep = np.repeat(p, int(block_size), axis=axis)
        return np.take(rep, np.arange(x.shape[axis]), axis=axis)
    if p.ndim == 1:
        shape = [1] * x.ndim
        shape[axis] = p.shape[0]
        return p.reshape(shape)
    return p


@kernel
def QuantizeLinear(x, y_scale, y_zero_point=None, axis=1, block_size=0, output_dtype=0,
                   precision=0, saturate=1):
    xa = np.asarray(x)
    scale = np.asarray(y_scale)
    if y_zero_point is not None:
        out_dt = np.asarray(y_zero_point).dtype
    elif output_dtype:
        out_dt = _ew_onnx_dtype(output_dtype)
    else:
        out_dt = np.dtype(np.uint8)
    if precision:
        work = _ew_onnx_dtype(precision)
    elif _ew_is_float(scale.dtype) and scale.dtype.itemsize >= 2 and scale.dtype.name != "float8_e8m0fnu":
        work = scale.dtype
    else:
        work = np.dtype(np.float32)
    s = _q_broadcast_param(scale, xa, axis, block_size).astype(work)
    with np.errstate(all="ignore"):
        q = xa.astype(work) / s
    if y_zero_point is not None:
        zp = _q_broadcast_param(np.asarray(y_zero_point), xa, axis, block_size)
    else:
        zp = np.zeros((), dtype=out_dt)
    if _ew_is_float(out_dt):
        y = q.astype(np.float32) + zp.astype(np.float32)
        return _ew_cast(y, out_dt, saturate)
    lo, hi = _q_int_range(out_dt)
    with np.errstate(all="ignore"):
        y = np.rint(q.astype(np.float64)) + zp.astype(np.float64)
    y = np.clip(y, lo, hi)
    return y.astype(np.int64).astype(out_dt)


@kernel
def DequantizeLinear(x, x_scale, x_zero_point=None, axis=1, block_size=0, output_dtype=0):
    xa = np.asarray(x)
    scale = np.asarray(x_scale)
    out_dt = _ew_onnx_dtype(output_dtype) if output_dtype else scale.dtype
    if out_dt.name == "float8_e8m0fnu":
        out_dt = np.dtype(np.float32)
    s = _q_broadcast_param(scale, xa, axis, block_size)
    if _ew_is_float(xa.dtype):
        v = xa.astype(np.float32)
        if x_zero_point is not None:
            v = v - _q_broadcast_param(x_zero_point, xa, axis, block_size).astype(np.float32)
    else:
        v = xa.astype(np.int64)
        if x_zero_point is not None:
            v = v - _q_broadcast_param(x_zero_point, xa, axis, block_size).astype(np.int64)
    with np.errstate(all="ignore"):
        return np.asarray(v.astype(out_dt) * s.astype(np.float32).astype(out_dt)).astype(out_dt)


@kernel
def DynamicQuantizeLinear(x):
    xa = np.asarray(x, dtype=np.float32)
    qmin, qmax = np.float32(0), np.float32(255)
    lo = np.float32(min(0.0, float(xa.min()))) if xa.size else np.float32(0)
    hi = np.float32(max(0.0, float(xa.max()))) if xa.size else np.float32(0)
    scale = np.float32((hi - lo) / (qmax - qmin))
    if scale == 0:
        return (np.zeros(xa.shape, dtype=np.uint8), np.array(scale, dtype=np.float32),
                np.array(0, dtype=np.uint8))
    zp = np.rint(np.clip(qmin - lo / scale, qmin, qmax)).astype(np.uint8)
    y = np.clip(np.rint(xa / scale) + np.float32(zp), qmin, qmax).astype(np.uint8)
    return y, np.array(scale, dtype=np.float32), np.array(zp, dtype=np.uint8)
