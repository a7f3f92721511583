"""NumPy semantics of the ONNX tensor-manipulation ops (opset 28)."""

from __future__ import annotations

import math

import numpy as np

from hetc.backends.numpy.kernels import kernel
from hetc.backends.numpy.kernels.elementwise import _ew_is_lowfloat, _ew_onnx_dtype


def _tn_ints(v):
    """A 1-D int tensor (or scalar, or list) as a list of Python ints."""
    return [int(a) for a in np.asarray(v).reshape(-1)]


def _tn_zero(dt):
    dt = np.dtype(dt)
    if dt == object:
        return ""
    return np.zeros((), dtype=dt)


@kernel
def Reshape(data, shape, allowzero=0):
    x = np.asarray(data)
    dims = _tn_ints(shape)
    if not allowzero:
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    if -1 in dims:
        known = 1
        for d in dims:
            if d != -1:
                known *= d
        dims[dims.index(-1)] = x.size // known if known else 0
    return np.array(x.reshape(dims), copy=True)


@kernel
def Transpose(data, perm=None):
    x = np.asarray(data)
    if perm is None:
        perm = list(range(x.ndim))[::-1]
    return np.ascontiguousarray(np.transpose(x, [int(p) for p in perm]))


@kernel
def Concat(*inputs, axis=None):
    arrs = [np.asarray(a) for a in inputs]
    return np.concatenate(arrs, axis=int(axis))


@kernel
def Split(input, split=None, axis=0, num_outputs=None):
    x = np.asarray(input)
    axis = int(axis) % x.ndim
    dim = x.shape[axis]
    if split is not None:
        sizes = _tn_ints(split)
    else:
        n = int(num_outputs)
        chunk = -(-dim // n)
        sizes = [chunk] * (n - 1) + [dim - chunk * (n - 1)]
        sizes = [max(s, 0) for s in sizes]
    outs = []
    start = 0
    for s in sizes:
        idx = [slice(None)] * x.ndim
        idx[axis] = slice(start, start + s)
        outs.append(np.array(x[tuple(idx)], copy=True))
        start += s
    return tuple(outs)


@kernel
def Squeeze(data, axes=None):
    x = np.asarray(data)
    if axes is None or np.size(axes) == 0:
        return np.array(np.squeeze(x), copy=True)
    ax = tuple(sorted({a % x.ndim for a in _tn_ints(axes)}))
    return np.array(np.squeeze(x, axis=ax), copy=True)


@kernel
def Unsqueeze(data, axes):
    x = np.asarray(data)
    ax = _tn_ints(axes)
    out_rank = x.ndim + len(ax)
    ax = sorted(a % out_rank for a in ax)
    shape = list(x.shape)
    for a in ax:
        shape.insert(a, 1)
    return np.array(x.reshape(shape), copy=True)


@kernel
def Flatten(input, axis=1):
    x = np.asarray(input)
    axis = int(axis)
    if axis < 0:
        axis += x.ndim
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    inner = int(np.prod(x.shape[axis:], dtype=np.int64))
    return np.array(x.reshape(outer, inner), copy=True)


@kernel
def Expand(input, shape):
    x = np.asarray(input)
    target = np.broadcast_shapes(x.shape, tuple(_tn_ints(shape)))
    return np.array(np.broadcast_to(x, target), copy=True)


@kernel
def Tile(input, repeats):
    return np.tile(np.asarray(input), _tn_ints(repeats))


@kernel
def Pad(data, pads, constant_value=None, axes=None, mode="constant"):
    x = np.asarray(data)
    rank = x.ndim
    p = _tn_ints(pads)
    ax = list(range(rank)) if axes is None else [a % rank for a in _tn_ints(axes)]
    n = len(ax)
    begin = [0] * rank
    end = [0] * rank
    for i, a in enumerate(ax):
        begin[a] = p[i]
        end[a] = p[i + n]
    # negative pads crop
    crop = tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(zip(begin, end)))
    x = x[crop]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    if mode == "constant":
        if constant_value is None or np.size(constant_value) == 0:
            cv = _tn_zero(x.dtype)
        else:
            cv = np.asarray(constant_value).reshape(-1)[0]
        out = np.empty([s + w0 + w1 for s, (w0, w1) in zip(x.shape, widths)], dtype=x.dtype)
        out[...] = cv
        out[tuple(slice(w0, w0 + s) for s, (w0, _) in zip(x.shape, widths))] = x
        return out
    if mode not in ("reflect", "edge", "wrap"):
        raise ValueError(f"Pad: unknown mode {mode!r}")
    return np.pad(x, widths, mode=mode)


@kernel
def Shape(data, end=None, start=0):
    dims = list(np.shape(data))
    r = len(dims)
    s = int(start)
    s = s + r if s < 0 else s
    s = min(max(s, 0), r)
    e = r if end is None else int(end)
    e = e + r if e < 0 else e
    e = min(max(e, 0), r)
    return np.array(dims[s:e], dtype=np.int64)


@kernel
def Size(data):
    return np.array(np.size(data), dtype=np.int64)


@kernel
def ConstantOfShape(input, value=None):
    shape = _tn_ints(input)
    if value is None:
        return np.zeros(shape, dtype=np.float32)
    v = np.asarray(value)
    out = np.empty(shape, dtype=v.dtype)
    out[...] = v.reshape(-1)[0]
    return out


@kernel
def Range(start, limit, delta, stash_type=1):
    s = np.asarray(start)
    dt = s.dtype
    if dt.kind in "iu":
        a, b, d = int(start), int(limit), int(delta)
        n = max(-((a - b) // d), 0)  # ceil((b - a) / d)
        return (np.asarray(a, dtype=np.int64) + np.arange(n, dtype=np.int64) * d).astype(dt)
    work = np.float32 if (_ew_is_lowfloat(dt) and stash_type) else dt
    a = np.asarray(start).astype(work)
    b = np.asarray(limit).astype(work)
    d = np.asarray(delta).astype(work)
    n = max(int(math.ceil(float(b - a) / float(d))), 0)
    return (a + np.arange(n).astype(work) * d).astype(dt)


@kernel
def EyeLike(input, dtype=None, k=0):
    x = np.asarray(input)
    dt = x.dtype if dtype is None else _ew_onnx_dtype(dtype)
    n, m = x.shape
    return np.eye(n, m, k=int(k)).astype(dt)


@kernel
def Trilu(input, k=None, upper=1):
    x = np.asarray(input)
    kk = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    n, m = x.shape[-2], x.shape[-1]
    rows = np.arange(n)[:, None]
    cols = np.arange(m)[None, :]
    keep = (cols - rows >= kk) if upper else (cols - rows <= kk)
    return np.where(keep, x, _tn_zero(x.dtype)).astype(x.dtype, copy=False)


@kernel
def OneHot(indices, depth, values, axis=-1):
    idx = np.asarray(indices)
    if idx.dtype.kind == "f" or _ew_is_lowfloat(idx.dtype):
        idx = np.trunc(idx.astype(np.float64))
    idx = idx.astype(np.int64)
    d = int(np.asarray(depth).reshape(-1)[0])
    vals = np.asarray(values).reshape(-1)
    off, on = vals[0], vals[1]
    rank = idx.ndim + 1
    axis = int(axis) % rank
    idx = np.where(idx < 0, idx + d, idx)
    hot = np.expand_dims(idx, axis)
    shape = [1] * rank
    shape[axis] = d
    positions = np.arange(d, dtype=np.int64).reshape(shape)
    return np.where(hot == positions, on, off).astype(vals.dtype, copy=False)


@kernel
def Constant(value=None, value_float=None, value_floats=None, value_int=None, value_ints=None,
             value_string=None, value_strings=None, sparse_value=None):
    if value is not None:
        return np.array(value, copy=True)
    if value_float is not None:
        return np.array(value_float, dtype=np.float32)
    if value_floats is not None:
        return np.array(value_floats, dtype=np.float32).reshape(-1)
    if value_int is not None:
        return np.array(value_int, dtype=np.int64)
    if value_ints is not None:
        return np.array(value_ints, dtype=np.int64).reshape(-1)
    if value_string is not None:
        out = np.empty((), dtype=object)
        out[()] = value_string
        return out
    if value_strings is not None:
        out = np.empty(len(value_strings), dtype=object)
        out[:] = list(value_strings)
        return out
    raise ValueError("Constant: no value attribute (sparse_value is not supported)")


@kernel
def ReverseSequence(input, sequence_lens, batch_axis=1, time_axis=0):
    x = np.asarray(input)
    out = np.array(x, copy=True)
    lens = _tn_ints(sequence_lens)
    for b, n in enumerate(lens):
        src = [slice(None)] * x.ndim
        dst = [slice(None)] * x.ndim
        src[batch_axis] = b
        dst[batch_axis] = b
        src[time_axis] = slice(n - 1, None, -1) if n > 0 else slice(0, 0)
        dst[time_axis] = slice(0, n)
        out[tuple(dst)] = x[tuple(src)]
    return out


@kernel
def Compress(input, condition, axis=None):
    x = np.asarray(input)
    cond = np.asarray(condition, dtype=np.bool_).reshape(-1)
    if axis is None:
        return np.compress(cond, x.reshape(-1))
    return np.compress(cond, x, axis=int(axis) % x.ndim)


@kernel
def NonZero(X):
    x = np.asarray(X)
    if x.ndim == 0:
        # onnxruntime treats a scalar as shape [1]
        x = x.reshape(1)
    return np.array(np.nonzero(x), dtype=np.int64).reshape(x.ndim, -1)


@kernel
def Unique(X, axis=None, sorted=1):
    x = np.asarray(X)
    if axis is None:
        y, first, inverse, counts = np.unique(
            x.reshape(-1), return_index=True, return_inverse=True, return_counts=True)
        ax = 0
    else:
        ax = int(axis) % x.ndim
        y, first, inverse, counts = np.unique(
            x, axis=ax, return_index=True, return_inverse=True, return_counts=True)
    inverse = np.asarray(inverse).reshape(-1)
    if not sorted:
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        y = np.take(y, order, axis=ax)
        first = first[order]
        counts = counts[order]
        inverse = rank[inverse]
    return (np.asarray(y).astype(x.dtype, copy=False), first.astype(np.int64),
            inverse.astype(np.int64), counts.astype(np.int64))


@kernel
def TopK(X, K, axis=-1, largest=1, sorted=1):
    x = np.asarray(X)
    axis = int(axis) % x.ndim
    k = int(np.asarray(K).reshape(-1)[0])
    work = x.astype(np.float32) if _ew_is_lowfloat(x.dtype) else x
    if largest:
        # stable ascending sort of the flipped axis, reversed: descending values,
        # ties in ascending original index
        n = x.shape[axis]
        order = np.argsort(np.flip(work, axis=axis), axis=axis, kind="stable")
        order = np.flip(n - 1 - order, axis=axis)
    else:
        order = np.argsort(work, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis).astype(np.int64)
    vals = np.take_along_axis(x, idx, axis=axis)
    return np.ascontiguousarray(vals), np.ascontiguousarray(idx)


@kernel
def Dropout(data, ratio=None, training_mode=None, seed=None):
    x = np.asarray(data)
    r = 0.5 if ratio is None else float(np.asarray(ratio))
    training = training_mode is not None and bool(np.asarray(training_mode))
    if not training or r == 0.0:
        return np.array(x, copy=True), np.ones(x.shape, dtype=np.bool_)
    rng = np.random.default_rng(seed)
    mask = rng.uniform(size=x.shape) >= r
    scale = 1.0 / (1.0 - r)
    out = (x.astype(np.float64) * mask * scale).astype(x.dtype)
    return out, mask


@kernel
def BitCast(input, to=None):
    x = np.array(input, copy=True, order="C")
    dt = _ew_onnx_dtype(to)
    if x.dtype.itemsize != dt.itemsize:
        raise ValueError(f"BitCast: {x.dtype} and {dt} differ in width")
    if x.dtype.byteorder == ">":
        x = x.astype(x.dtype.newbyteorder("<"))
    return np.array(x.view(dt.newbyteorder("<") if dt.byteorder not in "|" else dt), dtype=dt)
