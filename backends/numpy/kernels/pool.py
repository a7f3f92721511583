"""NumPy semantics of the ONNX pooling ops (opset 28).

MaxPool, AveragePool, LpPool, GlobalAveragePool, GlobalMaxPool, GlobalLpPool,
MaxUnpool, MaxRoiPool. Any spatial rank; windows are strided views.
"""

from __future__ import annotations

import math

import numpy as np

from hetc.backends.numpy.kernels import kernel
from hetc.backends.numpy.kernels.conv import _conv_pads


def _pool_geometry(in_spatial, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode):
    """Returns (ks, st, dl, begin, end, out): pads actually used and output sizes."""
    r = len(in_spatial)
    ks = [int(k) for k in kernel_shape]
    st = [int(s) for s in strides] if strides else [1] * r
    dl = [int(d) for d in dilations] if dilations else [1] * r
    ek = [(ks[i] - 1) * dl[i] + 1 for i in range(r)]
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = _conv_pads(in_spatial, ks, st, dl, None, auto_pad)
        return ks, st, dl, begin, end, [-(-in_spatial[i] // st[i]) for i in range(r)]
    out = []
    if auto_pad == "VALID" or not pads:
        begin, end = [0] * r, [0] * r
    else:
        pp = [int(p) for p in pads]
        begin, end = pp[:r], pp[r:2 * r]
    for i in range(r):
        span = in_spatial[i] + begin[i] + end[i] - ek[i]
        if ceil_mode:
            o = -(-span // st[i]) + 1
            if (o - 1) * st[i] >= in_spatial[i] + begin[i]:
                o -= 1
        else:
            o = span // st[i] + 1
        out.append(max(o, 0))
    return ks, st, dl, begin, end, out


def _pool_windows(x, ks, st, dl, begin, out, pad_value):
    """Strided view (N, C, *out, *ks) over x padded with pad_value (pads sized to cover every window)."""
    r = len(ks)
    width = [(0, 0), (0, 0)]
    for i in range(r):
        need = (out[i] - 1) * st[i] + (ks[i] - 1) * dl[i] + 1 if out[i] > 0 else 0
        after = max(0, need - begin[i] - x.shape[2 + i])
        width.append((int(begin[i]), int(after)))
    xp = np.pad(x, width, mode="constant", constant_values=pad_value)
    xp = np.ascontiguousarray(xp)
    s = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp,
        shape=tuple(xp.shape[:2]) + tuple(out) + tuple(ks),
        strides=s[:2] + tuple(s[2 + i] * st[i] for i in range(r)) + tuple(s[2 + i] * dl[i] for i in range(r)),
        writeable=False,
    )


def _pool_lowest(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind in "fV":  # V: bfloat16 / float8
        return -np.inf
    return np.iinfo(dtype).min


@kernel
def MaxPool(X, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, pads=None,
            storage_order=0, strides=None):
    r = X.ndim - 2
    insp = list(X.shape[2:])
    ks, st, dl, begin, end, out = _pool_geometry(insp, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
    win = _pool_windows(X, ks, st, dl, begin, out, _pool_lowest(X.dtype))
    kk = int(np.prod(ks))
    flat = win.reshape(tuple(win.shape[:2 + r]) + (kk,))
    arg = np.argmax(flat, axis=-1)
    y = np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0].astype(X.dtype, copy=False)
    # Indices: coordinates in the unpadded input, flattened over the whole tensor.
    kidx = np.unravel_index(arg, ks) if r else ()
    n, c = X.shape[:2]
    grids = np.meshgrid(*[np.arange(o) for o in out], indexing="ij")
    coords = [grids[i] * st[i] - begin[i] + kidx[i] * dl[i] for i in range(r)]
    if storage_order == 1:
        lin = np.zeros(arg.shape, dtype=np.int64)
        mul = 1
        for i in range(r):
            lin = lin + coords[i].astype(np.int64) * mul
            mul *= insp[i]
    else:
        lin = np.zeros(arg.shape, dtype=np.int64)
        for i in range(r):
            lin = lin * insp[i] + coords[i].astype(np.int64)
    sp = int(np.prod(insp))
    base = (np.arange(n, dtype=np.int64)[:, None] * c + np.arange(c, dtype=np.int64)[None, :]) * sp
    ind = lin + base.reshape((n, c) + (1,) * r)
    return y, ind.astype(np.int64)


@kernel
def AveragePool(X, *, auto_pad="NOTSET", ceil_mode=0, count_include_pad=0, dilations=None, kernel_shape=None,
                pads=None, strides=None):
    r = X.ndim - 2
    insp = list(X.shape[2:])
    ks, st, dl, begin, end, out = _pool_geometry(insp, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
    acc = np.float32 if X.dtype.itemsize < 4 else X.dtype
    win = _pool_windows(X.astype(acc, copy=False), ks, st, dl, begin, out, 0)
    axes = tuple(range(2 + r, 2 + 2 * r))
    total = win.sum(axis=axes)
    # Divisor: pool a mask of the positions that count.
    if count_include_pad:
        mask = np.ones((1, 1) + tuple(insp[i] + begin[i] + end[i] for i in range(r)), dtype=acc)
        mwin = _pool_windows(mask, ks, st, dl, [0] * r, out, 0)
    else:
        mask = np.ones((1, 1) + tuple(insp), dtype=acc)
        mwin = _pool_windows(mask, ks, st, dl, begin, out, 0)
    cnt = mwin.sum(axis=axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = total / cnt
    return y.astype(X.dtype, copy=False)


@kernel
def LpPool(X, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, p=2, pads=None, strides=None):
    r = X.ndim - 2
    insp = list(X.shape[2:])
    ks, st, dl, begin, end, out = _pool_geometry(insp, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode)
    acc = np.float32 if X.dtype.itemsize < 4 else X.dtype
    win = _pool_windows(np.abs(X.astype(acc, copy=False)), ks, st, dl, begin, out, 0)
    axes = tuple(range(2 + r, 2 + 2 * r))
    p = float(p)
    y = np.power(np.power(win, p).sum(axis=axes), 1.0 / p)
    return y.astype(X.dtype, copy=False)


@kernel
def GlobalAveragePool(X):
    axes = tuple(range(2, X.ndim))
    acc = np.float32 if X.dtype.itemsize < 4 else X.dtype
    return X.astype(acc, copy=False).mean(axis=axes, keepdims=True).astype(X.dtype, copy=False)


@kernel
def GlobalMaxPool(X):
    axes = tuple(range(2, X.ndim))
    return X.max(axis=axes, keepdims=True)


@kernel
def GlobalLpPool(X, *, p=2):
    axes = tuple(range(2, X.ndim))
    acc = np.float32 if X.dtype.itemsize < 4 else X.dtype
    p = float(p)
    s = np.power(np.abs(X.astype(acc, copy=False)), p).sum(axis=axes, keepdims=True)
    return np.power(s, 1.0 / p).astype(X.dtype, copy=False)


@kernel
def MaxUnpool(X, I, output_shape=None, *, kernel_shape=None, pads=None, strides=None):
    r = X.ndim - 2
    ks = [int(k) for k in kernel_shape]
    st = [int(s) for s in strides] if strides else [1] * r
    pp = [int(v) for v in pads] if pads else [0] * (2 * r)
    if output_shape is not None:
        shape = tuple(int(v) for v in np.asarray(output_shape).reshape(-1))
    else:
        shape = tuple(X.shape[:2]) + tuple(
            (X.shape[2 + i] - 1) * st[i] + ks[i] - pp[i] - pp[r + i] for i in range(r))
    y = np.zeros(int(np.prod(shape)), dtype=X.dtype)
    y[np.asarray(I).reshape(-1).astype(np.int64)] = X.reshape(-1)
    return y.reshape(shape)


@kernel
def MaxRoiPool(X, rois, *, pooled_shape=None, spatial_scale=1.0):
    n, c, h, w = X.shape
    ph, pw = (int(v) for v in pooled_shape)
    nr = rois.shape[0]
    y = np.zeros((nr, c, ph, pw), dtype=X.dtype)

    def rnd(v):  # round half away from zero, like C's round()
        return int(math.floor(v + 0.5)) if v >= 0 else -int(math.floor(-v + 0.5))

    for i in range(nr):
        b = int(rois[i, 0])
        x1 = rnd(float(rois[i, 1]) * spatial_scale)
        y1 = rnd(float(rois[i, 2]) * spatial_scale)
        x2 = rnd(float(rois[i, 3]) * spatial_scale)
        y2 = rnd(float(rois[i, 4]) * spatial_scale)
        rh = max(y2 - y1 + 1, 1)
        rw = max(x2 - x1 + 1, 1)
        bh = rh / ph
        bw = rw / pw
        for a in range(ph):
            hs = min(max(int(math.floor(a * bh)) + y1, 0), h)
            he = min(max(int(math.ceil((a + 1) * bh)) + y1, 0), h)
            for bb in range(pw):
                ws = min(max(int(math.floor(bb * bw)) + x1, 0), w)
                we = min(max(int(math.ceil((bb + 1) * bw)) + x1, 0), w)
                if he <= hs or we <= ws:
                    continue
                y[i, :, a, bb] = X[b, :, hs:he, ws:we].max(axis=(1, 2))
    return y
