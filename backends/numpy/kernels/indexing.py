"""NumPy semantics of the ONNX gather/scatter/slice ops (opset 28)."""

from __future__ import annotations

import numpy as np

from hetc.backends.numpy.kernels import kernel


def _ix_norm(idx, dim):
    """Negative indices count from the end of an axis of size ``dim``."""
    idx = np.asarray(idx).astype(np.int64)
    return np.where(idx < 0, idx + dim, idx)


def _ix_reduce_into(out, index, updates, reduction):
    """out[index] = f(out[index], updates), applied once per update (duplicates accumulate)."""
    if reduction == "none":
        out[index] = updates
        return out
    ufuncs = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}
    if reduction not in ufuncs:
        raise ValueError(f"unknown scatter reduction {reduction!r}")
    with np.errstate(all="ignore"):
        ufuncs[reduction].at(out, index, updates)
    return out


@kernel
def Gather(data, indices, axis=0):
    x = np.asarray(data)
    axis = int(axis) % x.ndim
    return np.take(x, _ix_norm(indices, x.shape[axis]), axis=axis)


@kernel
def GatherElements(data, indices, axis=0):
    x = np.asarray(data)
    axis = int(axis) % x.ndim
    return np.take_along_axis(x, _ix_norm(indices, x.shape[axis]), axis=axis)


@kernel
def GatherND(data, indices, batch_dims=0):
    x = np.asarray(data)
    ind = np.asarray(indices).astype(np.int64)
    b = int(batch_dims)
    batch_shape = x.shape[:b]
    nb = int(np.prod(batch_shape, dtype=np.int64))
    xr = x.reshape((nb,) + x.shape[b:])
    ir = ind.reshape((nb,) + ind.shape[b:])
    k = ind.shape[-1]
    mid = ir.shape[1:-1]
    bi = np.arange(nb).reshape((nb,) + (1,) * len(mid))
    key = (bi,) + tuple(_ix_norm(ir[..., j], xr.shape[1 + j]) for j in range(k))
    out = xr[key]
    return np.ascontiguousarray(out.reshape(batch_shape + mid + x.shape[b + k:]))


def _ix_scatter_elements(data, indices, updates, axis, reduction):
    x = np.asarray(data)
    upd = np.asarray(updates)
    axis = int(axis) % x.ndim
    ind = _ix_norm(indices, x.shape[axis])
    grid = list(np.indices(ind.shape, sparse=True))
    grid[axis] = ind
    out = np.array(x, copy=True)
    return _ix_reduce_into(out, tuple(grid), upd.astype(x.dtype, copy=False), reduction)


@kernel
def ScatterElements(data, indices, updates, axis=0, reduction="none"):
    return _ix_scatter_elements(data, indices, updates, axis, reduction)


@kernel
def Scatter(data, indices, updates, axis=0):
    return _ix_scatter_elements(data, indices, updates, axis, "none")


@kernel
def ScatterND(data, indices, updates, reduction="none"):
    x = np.asarray(data)
    ind = np.asarray(indices).astype(np.int64)
    upd = np.asarray(updates).astype(x.dtype, copy=False)
    k = ind.shape[-1]
    key = tuple(_ix_norm(ind[..., j], x.shape[j]) for j in range(k))
    out = np.array(x, copy=True)
    return _ix_reduce_into(out, key, upd, reduction)


@kernel
def Slice(data, starts, ends, axes=None, steps=None):
    x = np.asarray(data)
    st = [int(v) for v in np.asarray(starts).reshape(-1)]
    en = [int(v) for v in np.asarray(ends).reshape(-1)]
    ax = list(range(len(st))) if axes is None else [int(v) for v in np.asarray(axes).reshape(-1)]
    sp = [1] * len(st) if steps is None else [int(v) for v in np.asarray(steps).reshape(-1)]
    sl = [slice(None)] * x.ndim
    for s, e, a, step in zip(st, en, ax, sp):
        a = a % x.ndim
        dim = x.shape[a]
        if s < 0:
            s += dim
        if e < 0:
            e += dim
        if step > 0:
            s = min(max(s, 0), dim)
            e = min(max(e, 0), dim)
            sl[a] = slice(s, e, step)
        elif step < 0:
            s = min(max(s, 0), dim - 1)
            e = min(max(e, -1), dim - 1)
            sl[a] = slice(s, None if e < 0 else e, step)
        else:
            raise ValueError("Slice: step 0")
    return np.array(x[tuple(sl)], copy=True)


@kernel
def TensorScatter(past_cache, update, write_indices=None, mode="linear", axis=-2):
    cache = np.asarray(past_cache)
    upd = np.asarray(update)
    axis = int(axis) % cache.ndim
    out = np.array(cache, copy=True)
    out_v = np.moveaxis(out, axis, 1)
    upd_v = np.moveaxis(upd, axis, 1)
    max_len = cache.shape[axis]
    seq = upd.shape[axis]
    batch = cache.shape[0]
    w = np.zeros(batch, dtype=np.int64) if write_indices is None else np.asarray(write_indices).reshape(-1)
    for b in range(batch):
        pos = int(w[b]) + np.arange(seq)
        if mode == "circular":
            pos = pos % max_len
        out_v[b, pos] = upd_v[b]
    return out
