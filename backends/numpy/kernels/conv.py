"""NumPy semantics of the ONNX convolution ops (opset 28).

Conv, ConvTranspose, ConvInteger, QLinearConv, DeformConv. Any spatial rank; the
work is done with im2col (strided views) + matmul so large convolutions stay fast.
"""

from __future__ import annotations


import numpy as np

from hetc.backends.numpy.kernels import kernel


def _conv_pads(in_spatial, kernel_shape, strides, dilations, pads, auto_pad):
    """Begin/end pads of a forward convolution (Conv, pools use their own)."""
    r = len(in_spatial)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i in range(r):
            out = -(-in_spatial[i] // strides[i])
            ek = (kernel_shape[i] - 1) * dilations[i] + 1
            total = max(0, (out - 1) * strides[i] + ek - in_spatial[i])
            small = total // 2
            if auto_pad == "SAME_UPPER":
                begin.append(small)
                end.append(total - small)
            else:
                begin.append(total - small)
                end.append(small)
        return begin, end
    if auto_pad == "VALID" or pads is None:
        return [0] * r, [0] * r
    pads = [int(p) for p in pads]
    return pads[:r], pads[r:2 * r]


def _conv_im2col(x, kernel_shape, strides, dilations, begin, end, pad_value=0):
    """Returns (cols, out_spatial): cols has shape (N, C, prod(kernel), prod(out))."""
    r = len(kernel_shape)
    n, c = x.shape[:2]
    if any(begin) or any(end):
        width = [(0, 0), (0, 0)] + [(int(b), int(e)) for b, e in zip(begin, end)]
        x = np.pad(x, width, mode="constant", constant_values=pad_value)
    x = np.ascontiguousarray(x)
    sp = x.shape[2:]
    out = []
    for i in range(r):
        ek = (kernel_shape[i] - 1) * dilations[i] + 1
        out.append(max(0, (sp[i] - ek) // strides[i] + 1))
    st = x.strides
    view = np.lib.stride_tricks.as_strided(
        x,
        shape=(n, c) + tuple(kernel_shape) + tuple(out),
        strides=st[:2]
        + tuple(st[2 + i] * dilations[i] for i in range(r))
        + tuple(st[2 + i] * strides[i] for i in range(r)),
        writeable=False,
    )
    kk = int(np.prod(kernel_shape)) if r else 1
    oo = int(np.prod(out)) if r else 1
    cols = view.reshape(n, c, kk, oo)
    return cols, out


def _conv_core(x, w, b, auto_pad, dilations, group, kernel_shape, pads, strides, acc_dtype, pad_value=0):
    r = x.ndim - 2
    if kernel_shape is None:
        kernel_shape = list(w.shape[2:])
    kernel_shape = [int(k) for k in kernel_shape]
    strides = [int(s) for s in strides] if strides else [1] * r
    dilations = [int(d) for d in dilations] if dilations else [1] * r
    begin, end = _conv_pads(x.shape[2:], kernel_shape, strides, dilations, pads, auto_pad)
    n, c = x.shape[:2]
    m = w.shape[0]
    g = int(group)
    cg = c // g
    mg = m // g
    cols, out = _conv_im2col(x.astype(acc_dtype, copy=False), kernel_shape, strides, dilations, begin, end, pad_value)
    kk = cols.shape[2]
    oo = cols.shape[3]
    cols = cols.reshape(n, g, cg * kk, oo)
    wm = w.astype(acc_dtype, copy=False).reshape(g, mg, cg * kk)
    y = np.matmul(wm[None], cols)  # (n, g, mg, oo)
    y = y.reshape((n, m) + tuple(out))
    if b is not None:
        y = y + b.astype(acc_dtype, copy=False).reshape((1, m) + (1,) * r)
    return y


def _conv_acc_dtype(dt):
    dt = np.dtype(dt)
    if (dt.kind == "f" and dt.itemsize < 4) or dt.kind == "V":  # V: bfloat16 / float8
        return np.float32
    return dt


@kernel
def Conv(X, W, B=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None, strides=None):
    acc = _conv_acc_dtype(X.dtype)
    y = _conv_core(X, W, B, auto_pad, dilations, group, kernel_shape, pads, strides, acc)
    return y.astype(X.dtype, copy=False)


@kernel
def ConvInteger(x, w, x_zero_point=None, w_zero_point=None, *, auto_pad="NOTSET", dilations=None, group=1,
                kernel_shape=None, pads=None, strides=None):
    xi = x.astype(np.int32)
    if x_zero_point is not None:
        xi = xi - np.asarray(x_zero_point).astype(np.int32).reshape(-1)[0]
    wi = w.astype(np.int32)
    if w_zero_point is not None:
        wz = np.asarray(w_zero_point).astype(np.int32)
        if wz.size > 1:
            wz = wz.reshape((-1,) + (1,) * (w.ndim - 1))
        wi = wi - wz
    y = _conv_core(xi, wi, None, auto_pad, dilations, group, kernel_shape, pads, strides, np.int32)
    return y.astype(np.int32, copy=False)


def _conv_requantize(acc, scale, zp, out_dtype):
    """Round half to even, add zero point, saturate to out_dtype."""
    info = np.iinfo(out_dtype)
    q = np.rint(acc) + np.asarray(zp).astype(np.float64)
    return np.clip(q, info.min, info.max).astype(out_dtype)


@kernel
def QLinearConv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B=None, *,
                auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None, strides=None):
    r = x.ndim - 2
    xi = x.astype(np.int32) - np.asarray(x_zero_point).astype(np.int32).reshape(-1)[0]
    wz = np.asarray(w_zero_point).astype(np.int32)
    if wz.size > 1:
        wz = wz.reshape((-1,) + (1,) * (w.ndim - 1))
    else:
        wz = wz.reshape(-1)[0]
    wi = w.astype(np.int32) - wz
    acc = _conv_core(xi, wi, B, auto_pad, dilations, group, kernel_shape, pads, strides, np.int32)
    ws = np.asarray(w_scale).astype(np.float32).reshape(-1)
    if ws.size > 1:
        ws = ws.reshape((1, -1) + (1,) * r)
    else:
        ws = ws[0]
    mult = (np.float32(np.asarray(x_scale).reshape(-1)[0]) * ws / np.float32(np.asarray(y_scale).reshape(-1)[0]))
    mult = np.asarray(mult, dtype=np.float32)
    val = acc.astype(np.float32) * mult
    return _conv_requantize(val, None, np.asarray(y_zero_point).reshape(-1)[0], y_zero_point.dtype)


@kernel
def ConvTranspose(X, W, B=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None,
                  output_padding=None, output_shape=None, pads=None, strides=None):
    r = X.ndim - 2
    acc = _conv_acc_dtype(X.dtype)
    if kernel_shape is None:
        kernel_shape = list(W.shape[2:])
    ks = [int(k) for k in kernel_shape]
    st = [int(s) for s in strides] if strides else [1] * r
    dl = [int(d) for d in dilations] if dilations else [1] * r
    op = [int(p) for p in output_padding] if output_padding else [0] * r
    n, c = X.shape[:2]
    insp = list(X.shape[2:])
    g = int(group)
    cg = c // g
    mg = W.shape[1]
    m = mg * g
    full = [st[i] * (insp[i] - 1) + op[i] + (ks[i] - 1) * dl[i] + 1 for i in range(r)]
    if output_shape is not None and len(output_shape) > 0:
        osh = [int(v) for v in output_shape][-r:]
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        osh = [insp[i] * st[i] for i in range(r)]
    else:
        osh = None
    if osh is not None:
        begin, end = [], []
        for i in range(r):
            total = full[i] - osh[i]
            if auto_pad == "SAME_UPPER":
                begin.append(total // 2)
                end.append(total - total // 2)
            else:
                begin.append(total - total // 2)
                end.append(total // 2)
    elif auto_pad == "VALID" or pads is None:
        begin, end = [0] * r, [0] * r
    else:
        pp = [int(p) for p in pads]
        begin, end = pp[:r], pp[r:2 * r]
    outsp = [full[i] - begin[i] - end[i] for i in range(r)]
    kk = int(np.prod(ks)) if r else 1
    ii = int(np.prod(insp)) if r else 1
    xm = X.astype(acc, copy=False).reshape(n, g, cg, ii)
    wm = W.astype(acc, copy=False).reshape(g, cg, mg * kk)
    # cols[n, g, mg*kk, ii] = sum_c W[g, c, mg*kk] * X[n, g, c, ii]
    cols = np.matmul(np.swapaxes(wm, 1, 2)[None], xm)
    cols = cols.reshape((n, m, kk) + tuple(insp))
    # Scatter-add every kernel tap into the full (uncropped) output.
    buf = np.zeros((n, m) + tuple(full), dtype=acc)
    for t, kidx in enumerate(np.ndindex(*ks)):
        sl = tuple(slice(kidx[i] * dl[i], kidx[i] * dl[i] + (insp[i] - 1) * st[i] + 1, st[i]) for i in range(r))
        buf[(slice(None), slice(None)) + sl] += cols[:, :, t]
    # Crop (or zero-extend where a pad is negative) to the output window.
    y = np.zeros((n, m) + tuple(outsp), dtype=acc)
    src, dst = [], []
    for i in range(r):
        lo = max(begin[i], 0)
        hi = min(begin[i] + outsp[i], full[i])
        src.append(slice(lo, max(lo, hi)))
        dst.append(slice(lo - begin[i], lo - begin[i] + max(0, hi - lo)))
    y[(slice(None), slice(None)) + tuple(dst)] = buf[(slice(None), slice(None)) + tuple(src)]
    if B is not None:
        y = y + B.astype(acc, copy=False).reshape((1, m) + (1,) * r)
    return y.astype(X.dtype, copy=False)


def _conv_bilinear_gather(img, py, px):
    """img (C, H, W); py/px float arrays of the same shape S -> (C,) + S, zero outside."""
    h, w = img.shape[1:]
    y0 = np.floor(py)
    x0 = np.floor(px)
    res = np.zeros((img.shape[0],) + py.shape, dtype=img.dtype)
    for dy in (0, 1):
        for dx in (0, 1):
            yy = y0 + dy
            xx = x0 + dx
            wy = 1.0 - np.abs(py - yy)
            wx = 1.0 - np.abs(px - xx)
            ok = (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)
            yi = np.clip(yy, 0, h - 1).astype(np.int64)
            xi = np.clip(xx, 0, w - 1).astype(np.int64)
            wgt = (wy * wx * ok).astype(img.dtype)
            res += img[:, yi, xi] * wgt
    return res


@kernel
def DeformConv(X, W, offset, B=None, mask=None, *, dilations=None, group=1, kernel_shape=None,
               offset_group=1, pads=None, strides=None):
    # 2-D only (the ONNX spec allows N-D but every producer uses 2-D).
    n, c, h, w = X.shape
    m = W.shape[0]
    ks = [int(k) for k in (kernel_shape if kernel_shape else W.shape[2:])]
    st = [int(s) for s in strides] if strides else [1, 1]
    dl = [int(d) for d in dilations] if dilations else [1, 1]
    pp = [int(p) for p in pads] if pads else [0, 0, 0, 0]
    kh, kw = ks
    oh = (h + pp[0] + pp[2] - ((kh - 1) * dl[0] + 1)) // st[0] + 1
    ow = (w + pp[1] + pp[3] - ((kw - 1) * dl[1] + 1)) // st[1] + 1
    og = int(offset_group)
    g = int(group)
    cog = c // og
    acc = _conv_acc_dtype(X.dtype)
    xf = X.astype(acc)
    off = offset.astype(acc).reshape(n, og, kh, kw, 2, oh, ow)
    if mask is not None:
        msk = mask.astype(acc).reshape(n, og, kh, kw, oh, ow)
    else:
        msk = np.ones((n, og, kh, kw, oh, ow), dtype=acc)
    base_y = (np.arange(oh) * st[0] - pp[0]).astype(acc)
    base_x = (np.arange(ow) * st[1] - pp[1]).astype(acc)
    ky = (np.arange(kh) * dl[0]).astype(acc)
    kx = (np.arange(kw) * dl[1]).astype(acc)
    py0 = ky[:, None, None, None] + base_y[None, None, :, None]  # (kh,1,oh,1)
    px0 = kx[None, :, None, None] + base_x[None, None, None, :]  # (1,kw,1,ow)
    cols = np.zeros((n, c, kh, kw, oh, ow), dtype=acc)
    for b in range(n):
        for o in range(og):
            py = py0 + off[b, o, :, :, 0]
            px = px0 + off[b, o, :, :, 1]
            samp = _conv_bilinear_gather(xf[b, o * cog:(o + 1) * cog], py, px)
            cols[b, o * cog:(o + 1) * cog] = samp * msk[b, o][None]
    cg = c // g
    mg = m // g
    cols = cols.reshape(n, g, cg * kh * kw, oh * ow)
    wm = W.astype(acc).reshape(g, mg, cg * kh * kw)
    y = np.matmul(wm[None], cols).reshape(n, m, oh, ow)
    if B is not None:
        y = y + B.astype(acc).reshape(1, m, 1, 1)
    return y.astype(X.dtype, copy=False)
