"""NumPy semantics of Softmax, LogSoftmax and Hardmax (opset 13+: one axis, default -1)."""

from __future__ import annotations

import numpy as np

from hetc.backends.numpy.kernels import kernel


def _softmax_acc(dt):
    dt = np.dtype(dt)
    return np.dtype(np.float32) if dt.itemsize < 4 else dt


@kernel
def Softmax(input, *, axis=-1):
    x = input.astype(_softmax_acc(input.dtype), copy=False)
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    y = e / np.sum(e, axis=axis, keepdims=True)
    return y.astype(input.dtype, copy=False)


@kernel
def LogSoftmax(input, *, axis=-1):
    x = input.astype(_softmax_acc(input.dtype), copy=False)
    m = np.max(x, axis=axis, keepdims=True)
    d = x - m
    y = d - np.log(np.sum(np.exp(d), axis=axis, keepdims=True))
    return y.astype(input.dtype, copy=False)


@kernel
def Hardmax(input, *, axis=-1):
    ax = axis + input.ndim if axis < 0 else axis
    idx = np.expand_dims(np.argmax(input, axis=ax), ax)
    y = np.zeros(input.shape, dtype=input.dtype)
    np.put_along_axis(y, idx, 1, axis=ax)
    return y
