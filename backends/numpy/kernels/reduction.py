"""NumPy semantics of the ONNX reduction ops (opset 28): Reduce*, ArgMax/ArgMin,
CumSum/CumProd."""

from __future__ import annotations

import numpy as np

from hetc.backends.numpy.kernels import kernel
from hetc.backends.numpy.kernels.elementwise import _ew_is_lowfloat


def _red_axes(data, axes, noop_with_empty_axes):
    """Normalized axes tuple, or None when the op is a no-op (identity)."""
    rank = np.ndim(data)
    if axes is None or np.size(axes) == 0:
        if noop_with_empty_axes:
            return None
        return tuple(range(rank))
    return tuple(sorted({int(a) % rank if rank else 0 for a in np.asarray(axes).reshape(-1)}))


def _red_work(x):
    x = np.asarray(x)
    if _ew_is_lowfloat(x.dtype):
        return x.astype(np.float32), x.dtype
    return x, x.dtype


def _red_finish(y, dt):
    return np.asarray(y).astype(dt, copy=False)


def _red_lowest(dt):
    dt = np.dtype(dt)
    if dt == np.bool_:
        return False
    if dt.kind in "iu":
        return np.iinfo(dt).min
    return -np.inf


def _red_highest(dt):
    dt = np.dtype(dt)
    if dt == np.bool_:
        return True
    if dt.kind in "iu":
        return np.iinfo(dt).max
    return np.inf


def _red_sum(x, ax, keep):
    return np.sum(x, axis=ax, keepdims=keep, dtype=x.dtype)


@kernel
def ReduceSum(data, axes=None, keepdims=1, noop_with_empty_axes=0):
    ax = _red_axes(data, axes, noop_with_empty_axes)
    x, dt = _red_work(data)
    if ax is None:
        return np.array(data, copy=True)
    with np.errstate(all="ignore"):
        return _red_finish(_red_sum(x, ax, bool(keepdims)), dt)


@kernel
def ReduceSumSquare(data, axes=None, keepdims=1, noop_with_empty_axes=0):
    ax = _red_axes(data, axes, noop_with_empty_axes)
    x, dt = _red_work(data)
    with np.errstate(all="ignore"):
        if ax is None:
            return _red_finish(x * x, dt)
        return _red_finish(_red_sum(x * x, ax, bool(keepdims)), dt)


@kernel
def ReduceMean(data, axes=None, keepdims=1, noop_with_empty_axes=0):
    ax = _red_axes(data, axes, noop_with_empty_axes)
    x, dt = _red_work(data)
    if ax is None:
        return np.array(data, copy=True)
    count = 1
    for a in ax:
        count *= x.shape[a]
    with np.errstate(all="ignore"):
        s = _red_sum(x, ax, bool(keepdims))
        if x.dtype.kind in "iu":
            if count == 0:
                return _red_finish(np.zeros_like(s), dt)
            c = np.asarray(count, dtype=x.dtype)
            q = np.floor_divide(s, c)
            q = np.where((s < 0) & (q * c != s), q + 1, q)  # truncate toward zero
            return _red_finish(q, dt)
        return _red_finish(s / np.asarray(count, dtype=x.dtype), dt)


@kernel
def ReduceMax(data, axes=None, keepdims=1, noop_with_empty_axes=0):
    ax = _red_axes(data, axes, noop_with_empty_axes)
    x, dt = _red_work(data)
    if ax is None:
        return np.array(data, copy=True)
    init = _red_lowest(x.dtype)
    return _red_finish(np.max(x, axis=ax, keepdims=bool(keepdims), initial=init), dt)


@kernel
def ReduceMin(data, axes=None, keepdims=1, noop_with_empty_axes=0):
    ax = _red_axes(data, axes, noop_with_empty_axes)
    x, dt = _red_work(data)
    if ax is None:
        return np.array(data, copy=True)
    init = _red_highest(x.dtype)
    return _red_finish(np.min(x, axis=ax, keepdims=bool(keepdims), initial=init), dt)


@kernel
def ReduceProd(data, axes=None, keepdims=1, noop_with_empty_axes=0):
    ax = _red_axes(data, axes, noop_with_empty_axes)
    x, dt = _red_work(data)
    if ax is None:
        return np.array(data, copy=True)
    with np.errstate(all="ignore"):
        return _red_finish(np.prod(x, axis=ax, keepdims=bool(keepdims), dtype=x.dtype), dt)


@kernel
def ReduceL1(data, axes=None, keepdims=1, noop_with_empty_axes=0):
    ax = _red_axes(data, axes, noop_with_empty_axes)
    x, dt = _red_work(data)
    with np.errstate(all="ignore"):
        if ax is None:
            return _red_finish(np.abs(x), dt)
        return _red_finish(_red_sum(np.abs(x), ax, bool(keepdims)), dt)


@kernel
def ReduceL2(data, axes=None, keepdims=1, noop_with_empty_axes=0):
    ax = _red_axes(data, axes, noop_with_empty_axes)
    x, dt = _red_work(data)
    with np.errstate(all="ignore"):
        if ax is None:
            return _red_finish(np.abs(x), dt)
        if x.dtype.kind in "iu":
            s = _red_sum(x * x, ax, bool(keepdims)).astype(np.float64)
            return _red_finish(np.trunc(np.sqrt(s)), dt)
        return _red_finish(np.sqrt(_red_sum(x * x, ax, bool(keepdims))), dt)


@kernel
def ReduceLogSum(data, axes=None, keepdims=1, noop_with_empty_axes=0):
    ax = _red_axes(data, axes, noop_with_empty_axes)
    x, dt = _red_work(data)
    with np.errstate(all="ignore"):
        if ax is None:
            return _red_finish(np.log(x), dt)
        s = _red_sum(x, ax, bool(keepdims))
        if x.dtype.kind in "iu":
            return _red_finish(np.trunc(np.log(s.astype(np.float64))), dt)
        return _red_finish(np.log(s), dt)


@kernel
def ReduceLogSumExp(data, axes=None, keepdims=1, noop_with_empty_axes=0):
    ax = _red_axes(data, axes, noop_with_empty_axes)
    x, dt = _red_work(data)
    if x.dtype.kind in "iu":
        x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        if ax is None:
            return _red_finish(x, dt)
        m = np.max(x, axis=ax, keepdims=True, initial=-np.inf)
        m = np.where(np.isfinite(m), m, np.zeros((), dtype=x.dtype))
        s = np.sum(np.exp(x - m), axis=ax, keepdims=True)
        y = np.log(s) + m
        if not keepdims:
            y = np.squeeze(y, axis=ax)
        if dt.kind in "iu":
            y = np.trunc(y)
        return _red_finish(y, dt)


def _red_arg(data, axis, keepdims, select_last_index, fn):
    x = np.asarray(data)
    if _ew_is_lowfloat(x.dtype):
        x = x.astype(np.float32)
    axis = int(axis) % x.ndim
    if select_last_index:
        n = x.shape[axis]
        idx = n - 1 - fn(np.flip(x, axis=axis), axis=axis)
    else:
        idx = fn(x, axis=axis)
    idx = np.asarray(idx, dtype=np.int64)
    if keepdims:
        idx = np.expand_dims(idx, axis)
    return idx


@kernel
def ArgMax(data, axis=0, keepdims=1, select_last_index=0):
    return _red_arg(data, axis, keepdims, select_last_index, np.argmax)


@kernel
def ArgMin(data, axis=0, keepdims=1, select_last_index=0):
    return _red_arg(data, axis, keepdims, select_last_index, np.argmin)


def _red_cumulative(x, axis, exclusive, reverse, fn, identity):
    x = np.asarray(x)
    dt = x.dtype
    work = x.astype(np.float32) if _ew_is_lowfloat(dt) else x
    if work.ndim == 0:
        work = work.reshape(1)
    ax = int(np.asarray(axis).reshape(-1)[0]) % work.ndim
    if reverse:
        work = np.flip(work, axis=ax)
    if exclusive:
        pad_shape = list(work.shape)
        pad_shape[ax] = 1
        first = np.full(pad_shape, identity, dtype=work.dtype)
        n = work.shape[ax]
        work = np.concatenate([first, np.take(work, np.arange(max(n - 1, 0)), axis=ax)], axis=ax)
    with np.errstate(all="ignore"):
        y = fn(work, axis=ax, dtype=work.dtype)
    if reverse:
        y = np.flip(y, axis=ax)
    return np.ascontiguousarray(y).reshape(x.shape).astype(dt, copy=False)


@kernel
def CumSum(x, axis, exclusive=0, reverse=0):
    return _red_cumulative(x, axis, exclusive, reverse, np.cumsum, 0)


@kernel
def CumProd(x, axis, exclusive=0, reverse=0):
    return _red_cumulative(x, axis, exclusive, reverse, np.cumprod, 1)
