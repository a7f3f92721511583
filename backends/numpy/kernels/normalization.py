"""NumPy semantics of the ONNX normalization ops (opset 28).

BatchNormalization, LayerNormalization, InstanceNormalization, GroupNormalization,
RMSNormalization, LRN, LpNormalization, MeanVarianceNormalization.
Statistics of 16-bit float inputs are computed in float32.
"""

from __future__ import annotations


import numpy as np

from hetc.backends.numpy.kernels import kernel


def _norm_compute_dtype(dt, stash_type=1):
    """dtype the statistics are computed in: float64 for double inputs, else float32
    (stash_type 1, the default) or the input's own type."""
    dt = np.dtype(dt)
    if dt == np.float64 or stash_type == 11:
        return np.dtype(np.float64)
    if stash_type == 1 or dt.itemsize < 4:
        return np.dtype(np.float32)
    return dt


def _norm_stash_dtype(stash_type, fallback):
    """NumPy dtype of an ONNX stash_type (the U type of LayerNormalization's Mean/InvStdDev)."""
    table = {1: np.float32, 10: np.float16, 11: np.float64, 16: np.float32}
    return np.dtype(table.get(int(stash_type), fallback))


@kernel
def BatchNormalization(X, scale, B, input_mean, input_var, *, epsilon=1e-05, momentum=0.9, training_mode=0):
    c = X.shape[1] if X.ndim > 1 else X.shape[0]
    bshape = (1, c) + (1,) * (X.ndim - 2) if X.ndim > 1 else (c,)
    acc = _norm_compute_dtype(X.dtype, 0)
    x = X.astype(acc, copy=False)
    sc = scale.astype(acc, copy=False).reshape(bshape)
    bb = B.astype(acc, copy=False).reshape(bshape)
    if training_mode:
        axes = tuple(i for i in range(X.ndim) if i != 1)
        mean = x.mean(axis=axes)
        var = ((x - mean.reshape(bshape)) ** 2).mean(axis=axes)
        y = (x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + acc.type(epsilon)) * sc + bb
        rm = input_mean.astype(acc) * acc.type(momentum) + mean * (acc.type(1) - acc.type(momentum))
        rv = input_var.astype(acc) * acc.type(momentum) + var * (acc.type(1) - acc.type(momentum))
        return (y.astype(X.dtype, copy=False), rm.astype(input_mean.dtype, copy=False),
                rv.astype(input_var.dtype, copy=False))
    mean = input_mean.astype(acc, copy=False).reshape(bshape)
    var = input_var.astype(acc, copy=False).reshape(bshape)
    y = (x - mean) / np.sqrt(var + acc.type(epsilon)) * sc + bb
    return y.astype(X.dtype, copy=False), input_mean, input_var


@kernel
def LayerNormalization(X, Scale, B=None, *, axis=-1, epsilon=1e-05, stash_type=1):
    r = X.ndim
    ax = axis + r if axis < 0 else axis
    axes = tuple(range(ax, r))
    acc = _norm_compute_dtype(X.dtype, stash_type)
    x = X.astype(acc, copy=False)
    mean = x.mean(axis=axes, keepdims=True)
    d = x - mean
    var = (d * d).mean(axis=axes, keepdims=True)
    inv = acc.type(1) / np.sqrt(var + acc.type(epsilon))
    y = d * inv * Scale.astype(acc, copy=False)
    if B is not None:
        y = y + B.astype(acc, copy=False)
    u = _norm_stash_dtype(stash_type, acc)
    return y.astype(X.dtype, copy=False), mean.astype(u, copy=False), inv.astype(u, copy=False)


@kernel
def InstanceNormalization(input, scale, B, *, epsilon=1e-05):
    x = input
    acc = _norm_compute_dtype(x.dtype, 0)
    xf = x.astype(acc, copy=False)
    axes = tuple(range(2, x.ndim))
    mean = xf.mean(axis=axes, keepdims=True)
    d = xf - mean
    var = (d * d).mean(axis=axes, keepdims=True)
    bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    y = d / np.sqrt(var + acc.type(epsilon)) * scale.astype(acc).reshape(bshape) + B.astype(acc).reshape(bshape)
    return y.astype(x.dtype, copy=False)


@kernel
def GroupNormalization(X, scale, bias, *, epsilon=1e-05, num_groups=None, stash_type=1):
    n, c = X.shape[:2]
    g = int(num_groups)
    acc = _norm_compute_dtype(X.dtype, stash_type)
    xf = X.astype(acc, copy=False).reshape((n, g, -1))
    mean = xf.mean(axis=2, keepdims=True)
    d = xf - mean
    var = (d * d).mean(axis=2, keepdims=True)
    xn = (d / np.sqrt(var + acc.type(epsilon))).reshape(X.shape)
    bshape = (1, c) + (1,) * (X.ndim - 2)
    y = xn * scale.astype(acc).reshape(bshape) + bias.astype(acc).reshape(bshape)
    return y.astype(X.dtype, copy=False)


@kernel
def RMSNormalization(X, scale, *, axis=-1, epsilon=1e-05, stash_type=1):
    r = X.ndim
    ax = axis + r if axis < 0 else axis
    axes = tuple(range(ax, r))
    acc = _norm_compute_dtype(X.dtype, stash_type)
    x = X.astype(acc, copy=False)
    ms = (x * x).mean(axis=axes, keepdims=True)
    inv = acc.type(1) / np.sqrt(ms + acc.type(epsilon))
    y = x * inv * scale.astype(acc, copy=False)
    return y.astype(scale.dtype, copy=False)


@kernel
def LRN(X, *, alpha=0.0001, beta=0.75, bias=1.0, size=None):
    size = int(size)
    c = X.shape[1]
    acc = _norm_compute_dtype(X.dtype, 0)
    x = X.astype(acc, copy=False)
    sq = x * x
    lo = (size - 1) // 2
    hi = size - 1 - lo
    # Channel-window sum via a cumulative sum over the zero-padded channel axis.
    width = [(0, 0), (lo + 1, hi)] + [(0, 0)] * (X.ndim - 2)
    cs = np.cumsum(np.pad(sq, width), axis=1)
    s = cs[:, size:size + c] - cs[:, 0:c]
    y = x / np.power(acc.type(bias) + acc.type(alpha) / acc.type(size) * s, acc.type(beta))
    return y.astype(X.dtype, copy=False)


@kernel
def LpNormalization(input, *, axis=-1, p=2):
    acc = _norm_compute_dtype(input.dtype, 0)
    x = input.astype(acc, copy=False)
    if int(p) == 1:
        nrm = np.abs(x).sum(axis=axis, keepdims=True)
    else:
        nrm = np.sqrt((x * x).sum(axis=axis, keepdims=True))
    safe = np.where(nrm == 0, acc.type(1), nrm)
    y = np.where(nrm == 0, acc.type(0), x / safe)
    return y.astype(input.dtype, copy=False)


@kernel
def MeanVarianceNormalization(X, *, axes=(0, 2, 3)):
    axes = tuple(int(a) for a in axes)
    acc = _norm_compute_dtype(X.dtype, 0)
    x = X.astype(acc, copy=False)
    m = x.mean(axis=axes, keepdims=True)
    var = (x * x).mean(axis=axes, keepdims=True) - m * m
    y = (x - m) / (np.sqrt(var) + acc.type(1e-9))
    return y.astype(X.dtype, copy=False)
