"""NumPy semantics of the ONNX image / spatial-rearrangement ops (opset 28).

Resize, DepthToSpace, SpaceToDepth, GridSample, AffineGrid, RoiAlign, Col2Im,
CenterCropPad. Resize is separable: each resized axis is handled by a 1-D
gather + weighted sum, computed in float64 and rounded once at the end.
"""

from __future__ import annotations

import math

import numpy as np

from hetc.backends.numpy.kernels import kernel


def _image_coord(mode, out_len, in_len, scale, roi_start, roi_end):
    """x_original (float64, shape [out_len]) for every output index along one axis."""
    i = np.arange(out_len, dtype=np.float64)
    if mode == "half_pixel":
        return (i + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = out_len / (in_len * scale)
        center = in_len / 2.0
        offset = center * (1.0 - adjustment)
        return offset + (i + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        if out_len > 1:
            return (i + 0.5) / scale - 0.5
        return np.zeros(out_len)
    if mode == "align_corners":
        # length_resized is the integer output length, as onnxruntime and PyTorch take
        # it (the ONNX reference uses in_len * scale unrounded: the two differ only where
        # that product is not a whole number; see the conformance known failures)
        if out_len > 1:
            return i * (in_len - 1) / (out_len - 1)
        return np.zeros(out_len)
    if mode == "asymmetric":
        return i / scale
    if mode == "tf_crop_and_resize":
        if out_len > 1:
            return roi_start * (in_len - 1) + i * (roi_end - roi_start) * (in_len - 1) / (out_len - 1)
        return np.full(out_len, 0.5 * (roi_start + roi_end) * (in_len - 1))
    raise ValueError(f"unsupported coordinate_transformation_mode {mode}")


def _image_cubic(t, a):
    t = np.abs(t)
    w1 = ((a + 2) * t - (a + 3)) * t * t + 1
    w2 = ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return np.where(t <= 1, w1, np.where(t < 2, w2, 0.0))


def _image_taps(x, in_len, scale, mode, cubic_coeff_a, exclude_outside, antialias):
    """(idx [out, T] int64, w [out, T] float64) for linear / cubic interpolation."""
    if antialias and scale < 1.0:
        radius = 1.0 if mode == "linear" else 2.0
        support = radius / scale
        lo = np.floor(x - support).astype(np.int64) + 1
        n = int(math.ceil(2 * support)) + 2
        idx = lo[:, None] + np.arange(n)[None, :]
        t = (x[:, None] - idx) * scale
        if mode == "linear":
            w = np.maximum(0.0, 1.0 - np.abs(t))
        else:
            w = _image_cubic(t, cubic_coeff_a)
        w = np.where(np.abs(x[:, None] - idx) < support, w, 0.0)
        if exclude_outside:
            w = np.where((idx < 0) | (idx > in_len - 1), 0.0, w)
        s = w.sum(axis=1, keepdims=True)
        w = w / np.where(s == 0, 1.0, s)
        return np.clip(idx, 0, in_len - 1), w
    x0 = np.floor(x)
    frac = x - x0
    x0 = x0.astype(np.int64)
    if mode == "linear":
        idx = np.stack([x0, x0 + 1], axis=1)
        w = np.stack([1.0 - frac, frac], axis=1)
    else:
        idx = np.stack([x0 - 1, x0, x0 + 1, x0 + 2], axis=1)
        d = np.stack([1.0 + frac, frac, 1.0 - frac, 2.0 - frac], axis=1)
        w = _image_cubic(d, cubic_coeff_a)
        if exclude_outside:
            outside = (idx < 0) | (idx > in_len - 1)
            w = np.where(outside, 0.0, w)
            s = w.sum(axis=1, keepdims=True)
            w = w / np.where(s == 0, 1.0, s)
    return np.clip(idx, 0, in_len - 1), w


def _image_nearest(x, in_len, nearest_mode):
    if nearest_mode == "round_prefer_ceil":
        k = np.floor(x + 0.5)
    elif nearest_mode == "floor":
        k = np.floor(x)
    elif nearest_mode == "ceil":
        k = np.ceil(x)
    else:  # round_prefer_floor
        k = np.ceil(x - 0.5)
    return np.clip(k, 0, in_len - 1).astype(np.int64)


def resize_lengths(in_shape, ax, roi_v, scales, sizes, coordinate_transformation_mode, keep_aspect_ratio_policy):
    """Per resized axis: the output length and the scale the coordinate maps use."""
    out_len, scale_of = {}, {}
    if sizes is not None:
        sz = [int(v) for v in np.asarray(sizes).reshape(-1)]
        if keep_aspect_ratio_policy in ("not_larger", "not_smaller"):
            ratios = [sz[k] / in_shape[a] for k, a in enumerate(ax)]
            s = min(ratios) if keep_aspect_ratio_policy == "not_larger" else max(ratios)
            for a in ax:
                out_len[a] = int(math.floor(s * in_shape[a] + 0.5))
                scale_of[a] = s
        else:
            for k, a in enumerate(ax):
                out_len[a] = sz[k]
                scale_of[a] = sz[k] / in_shape[a]
    else:
        sc = [float(v) for v in np.asarray(scales, dtype=np.float32).reshape(-1)]
        for k, a in enumerate(ax):
            scale_of[a] = sc[k]
            factor = 1.0
            if coordinate_transformation_mode == "tf_crop_and_resize" and roi_v is not None:
                factor = roi_v[len(ax) + k] - roi_v[k]
            out_len[a] = int(math.floor(in_shape[a] * factor * sc[k] + 1e-9))
    return out_len, scale_of


def _resize_axis(y, a, n_in, n_out, scale, roi_start, roi_end, *, coordinate_transformation_mode, mode, nearest_mode,
                 cubic_coeff_a, exclude_outside, antialias):
    """`y` resized along axis `a`, and (tf_crop_and_resize) which outputs fall outside
    the input: a bool [n_out], or None."""
    ctm = coordinate_transformation_mode
    x = _image_coord(ctm, n_out, n_in, scale, roi_start, roi_end)
    outside = None
    if ctm == "tf_crop_and_resize":
        bad = (x < 0) | (x > n_in - 1)
        outside = bad if bad.any() else None
    if mode == "nearest":
        return np.take(y, _image_nearest(x, n_in, nearest_mode), axis=a), outside
    idx, w = _image_taps(x, n_in, scale, mode, cubic_coeff_a, exclude_outside, antialias)
    t = idx.shape[1]
    g = np.take(y, idx.reshape(-1), axis=a)
    g = g.reshape(y.shape[:a] + (n_out, t) + y.shape[a + 1:])
    wshape = [1] * (y.ndim + 1)
    wshape[a] = n_out
    wshape[a + 1] = t
    return (g * w.reshape(wshape)).sum(axis=a + 1), outside


def resize_axis_matrix(n_in, n_out, scale, roi_start=0.0, roi_end=1.0, *, antialias=0,
                       coordinate_transformation_mode="half_pixel", cubic_coeff_a=-0.75, exclude_outside=0,
                       mode="nearest", nearest_mode="round_prefer_floor", **_):
    """Resize along one axis as a matrix M [n_out, n_in] (y = M x, float64) and the
    outputs that take extrapolation_value instead (bool [n_out]); every mode is linear
    in X per axis. For compilers that precompute the taps."""
    ctm = coordinate_transformation_mode
    if ctm != "tf_crop_and_resize" and n_out == n_in and scale == 1.0:
        return np.eye(n_in), np.zeros(n_out, bool)
    m, outside = _resize_axis(np.eye(n_in), 0, n_in, n_out, scale, roi_start, roi_end,
                              coordinate_transformation_mode=ctm, mode=mode, nearest_mode=nearest_mode,
                              cubic_coeff_a=cubic_coeff_a, exclude_outside=exclude_outside, antialias=antialias)
    return np.asarray(m, np.float64), (outside if outside is not None else np.zeros(n_out, bool))


@kernel
def Resize(X, roi=None, scales=None, sizes=None, *, antialias=0, axes=None, coordinate_transformation_mode="half_pixel",
           cubic_coeff_a=-0.75, exclude_outside=0, extrapolation_value=0.0, keep_aspect_ratio_policy="stretch",
           mode="nearest", nearest_mode="round_prefer_floor"):
    r = X.ndim
    if axes is None or len(axes) == 0:
        ax = list(range(r))
    else:
        ax = [int(a) + r if int(a) < 0 else int(a) for a in axes]
    ctm = coordinate_transformation_mode
    if scales is not None and np.asarray(scales).size == 0:
        scales = None
    if sizes is not None and np.asarray(sizes).size == 0:
        sizes = None
    roi_v = None
    if roi is not None and np.asarray(roi).size > 0:
        roi_v = np.asarray(roi, dtype=np.float64).reshape(-1)
    in_shape = X.shape
    out_len, scale_of = resize_lengths(in_shape, ax, roi_v, scales, sizes, ctm, keep_aspect_ratio_policy)
    is_float = X.dtype.kind in "fV"  # V: bfloat16 / float8
    y = X.astype(np.float64) if mode != "nearest" else X
    outside_masks = []
    for k, a in enumerate(ax):
        n_in = in_shape[a]
        n_out = out_len[a]
        scale = scale_of[a]
        if ctm != "tf_crop_and_resize" and n_out == n_in and scale == 1.0:
            continue
        rs, re = 0.0, 1.0
        if roi_v is not None and ctm == "tf_crop_and_resize":
            rs, re = roi_v[k], roi_v[len(ax) + k]
        y, bad = _resize_axis(y, a, n_in, n_out, scale, rs, re, coordinate_transformation_mode=ctm, mode=mode,
                              nearest_mode=nearest_mode, cubic_coeff_a=cubic_coeff_a,
                              exclude_outside=exclude_outside, antialias=antialias)
        if bad is not None:
            shp = [1] * r
            shp[a] = n_out
            outside_masks.append(bad.reshape(shp))
    if outside_masks:
        m = outside_masks[0]
        for mm in outside_masks[1:]:
            m = m | mm
        y = np.where(m, extrapolation_value, y)
    if not is_float and y.dtype != X.dtype:
        info = np.iinfo(X.dtype)
        y = np.clip(np.rint(y), info.min, info.max)
    return np.ascontiguousarray(y).astype(X.dtype, copy=False)


@kernel
def DepthToSpace(input, *, blocksize=None, mode="DCR"):
    b, c, h, w = input.shape
    bs = int(blocksize)
    if mode == "CRD":
        t = input.reshape(b, c // (bs * bs), bs, bs, h, w).transpose(0, 1, 4, 2, 5, 3)
    else:
        t = input.reshape(b, bs, bs, c // (bs * bs), h, w).transpose(0, 3, 4, 1, 5, 2)
    return np.ascontiguousarray(t.reshape(b, c // (bs * bs), h * bs, w * bs))


@kernel
def SpaceToDepth(input, *, blocksize=None, mode="DCR"):
    b, c, h, w = input.shape
    bs = int(blocksize)
    t = input.reshape(b, c, h // bs, bs, w // bs, bs)
    if mode == "CRD":
        t = t.transpose(0, 1, 3, 5, 2, 4)
    else:
        t = t.transpose(0, 3, 5, 1, 2, 4)
    return np.ascontiguousarray(t.reshape(b, c * bs * bs, h // bs, w // bs))


def _image_gs_reflect(x, lo2, hi2):
    """Reflect coordinates into [lo2/2, hi2/2] (PyTorch grid_sample semantics)."""
    if lo2 == hi2:
        return np.zeros_like(x)
    mn = lo2 / 2.0
    span = (hi2 - lo2) / 2.0
    x = np.abs(x - mn)
    extra = np.fmod(x, span)
    flips = np.floor(x / span)
    return np.where(np.fmod(flips, 2) == 0, extra + mn, span - extra + mn)


def _image_gs_pad(x, size, padding_mode, align_corners):
    if padding_mode == "border":
        return np.clip(x, 0, size - 1)
    if padding_mode == "reflection":
        if align_corners:
            x = _image_gs_reflect(x, 0, 2 * (size - 1))
        else:
            x = _image_gs_reflect(x, -1, 2 * size - 1)
        return np.clip(x, 0, size - 1)
    return x


@kernel
def GridSample(X, grid, *, align_corners=0, mode="linear", padding_mode="zeros"):
    n, c = X.shape[:2]
    sp = X.shape[2:]
    r = len(sp)
    acc = np.float64
    g = grid.astype(acc)
    out_sp = g.shape[1:-1]
    p = int(np.prod(out_sp))
    g = g.reshape(n, p, r)
    xf = X.astype(acc).reshape(n, c, -1)
    # grid's last axis lists coordinates innermost-first: (x=W, y=H, z=D).
    per_axis = []
    for a in range(r):
        size = sp[a]
        u = g[:, :, r - 1 - a]
        if align_corners:
            coord = (u + 1) / 2 * (size - 1)
        else:
            coord = ((u + 1) * size - 1) / 2
        if mode == "cubic":
            x0 = np.floor(coord)
            t = coord - x0
            taps = []
            for k, dist in zip((-1, 0, 1, 2), (1 + t, t, 1 - t, 2 - t)):
                w = _image_cubic(dist, -0.75)
                pos = x0 + k
                if padding_mode == "zeros":
                    ok = (pos >= 0) & (pos <= size - 1)
                    taps.append((np.clip(pos, 0, size - 1).astype(np.int64), w * ok))
                else:
                    pp = _image_gs_pad(pos, size, padding_mode, align_corners)
                    taps.append((np.clip(pp, 0, size - 1).astype(np.int64), w))
            per_axis.append(taps)
            continue
        coord = _image_gs_pad(coord, size, padding_mode, align_corners)
        if mode == "nearest":
            pos = np.rint(coord)
            ok = (pos >= 0) & (pos <= size - 1)
            per_axis.append([(np.clip(pos, 0, size - 1).astype(np.int64), ok.astype(acc))])
        else:
            x0 = np.floor(coord)
            t = coord - x0
            taps = []
            for pos, w in ((x0, 1 - t), (x0 + 1, t)):
                ok = (pos >= 0) & (pos <= size - 1)
                taps.append((np.clip(pos, 0, size - 1).astype(np.int64), w * ok))
            per_axis.append(taps)
    y = np.zeros((n, c, p), dtype=acc)
    strides = [int(np.prod(sp[a + 1:])) for a in range(r)]
    for combo in np.ndindex(*[len(t) for t in per_axis]):
        flat = np.zeros((n, p), dtype=np.int64)
        w = np.ones((n, p), dtype=acc)
        for a in range(r):
            idx, wa = per_axis[a][combo[a]]
            flat = flat + idx * strides[a]
            w = w * wa
        vals = np.take_along_axis(xf, np.broadcast_to(flat[:, None, :], (n, c, p)), axis=2)
        y += vals * w[:, None, :]
    return y.reshape((n, c) + tuple(out_sp)).astype(X.dtype)


@kernel
def AffineGrid(theta, size, *, align_corners=0):
    sz = [int(v) for v in np.asarray(size).reshape(-1)]
    n = sz[0]
    sp = sz[2:]
    r = len(sp)
    acc = np.float64
    lines = []
    for L in sp:
        if align_corners:
            lines.append(np.linspace(-1.0, 1.0, L) if L > 1 else np.zeros(L))
        else:
            lines.append((2.0 * np.arange(L) + 1.0) / L - 1.0)
    mesh = np.meshgrid(*lines, indexing="ij")  # mesh[a] varies along spatial axis a
    # Homogeneous base coordinates ordered (x=W, y=H, z=D, 1).
    base = np.stack([mesh[r - 1 - a] for a in range(r)] + [np.ones(tuple(sp))], axis=-1).reshape(-1, r + 1)
    th = theta.astype(acc)
    out = np.einsum("pk,nik->npi", base, th)
    return out.reshape((n,) + tuple(sp) + (r,)).astype(theta.dtype)


def _image_roi_axis(start, length, out, grid, size, legacy):
    """Separable RoiAlign sampling along one axis: (low, high, w_low, w_high) per sample, [out*grid]."""
    bin_sz = length / out
    k = np.arange(out * grid)
    ph = k // grid
    iy = k % grid
    y = start + ph * bin_sz + (iy + 0.5) * bin_sz / grid
    bad = (y < -1.0) | (y > size)
    y = np.maximum(y, 0.0)
    low = np.floor(y).astype(np.int64)
    high = low + 1
    edge = low >= size - 1
    low = np.where(edge, size - 1, low)
    high = np.where(edge, size - 1, high)
    y = np.where(edge, low.astype(np.float64), y)
    ly = y - low
    hy = 1.0 - ly
    hy = np.where(bad, 0.0, hy)
    ly = np.where(bad, 0.0, ly)
    low = np.where(bad, 0, low)
    high = np.where(bad, 0, high)
    return low, high, hy, ly


@kernel
def RoiAlign(X, rois, batch_indices, *, coordinate_transformation_mode="half_pixel", mode="avg", output_height=1,
             output_width=1, sampling_ratio=0, spatial_scale=1.0):
    n, c, h, w = X.shape
    oh, ow = int(output_height), int(output_width)
    nr = rois.shape[0]
    acc = np.float64
    xf = X.astype(acc)
    legacy = coordinate_transformation_mode != "half_pixel"
    off = 0.0 if legacy else 0.5
    y = np.zeros((nr, c, oh, ow), dtype=acc)
    for i in range(nr):
        b = int(batch_indices[i])
        x1, y1, x2, y2 = (float(v) * spatial_scale - off for v in rois[i])
        rw = x2 - x1
        rh = y2 - y1
        if legacy:
            rw = max(rw, 1.0)
            rh = max(rh, 1.0)
        gh = int(sampling_ratio) if sampling_ratio > 0 else int(math.ceil(rh / oh))
        gw = int(sampling_ratio) if sampling_ratio > 0 else int(math.ceil(rw / ow))
        yl, yh, wyl, wyh = _image_roi_axis(y1, rh, oh, gh, h, legacy)
        xl, xh, wxl, wxh = _image_roi_axis(x1, rw, ow, gw, w, legacy)
        img = xf[b]
        if mode == "max":
            parts = []
            for yi, wy in ((yl, wyl), (yh, wyh)):
                for xi, wx in ((xl, wxl), (xh, wxh)):
                    parts.append(img[:, yi[:, None], xi[None, :]] * (wy[:, None] * wx[None, :]))
            m = np.maximum(np.maximum(parts[0], parts[1]), np.maximum(parts[2], parts[3]))
            m = m.reshape(c, oh, gh, ow, gw)
            y[i] = m.max(axis=(2, 4))
        else:
            ay = np.zeros((oh * gh, h), dtype=acc)
            ax_ = np.zeros((ow * gw, w), dtype=acc)
            rows = np.arange(oh * gh)
            cols = np.arange(ow * gw)
            np.add.at(ay, (rows, yl), wyl)
            np.add.at(ay, (rows, yh), wyh)
            np.add.at(ax_, (cols, xl), wxl)
            np.add.at(ax_, (cols, xh), wxh)
            ay = ay.reshape(oh, gh, h).sum(axis=1) / max(gh, 1)
            ax_ = ax_.reshape(ow, gw, w).sum(axis=1) / max(gw, 1)
            if gh * gw == 0:
                continue
            y[i] = np.einsum("ph,chw,qw->cpq", ay, img, ax_)
    return y.astype(X.dtype)


@kernel
def Col2Im(input, image_shape, block_shape, *, dilations=None, pads=None, strides=None):
    img = [int(v) for v in np.asarray(image_shape).reshape(-1)]
    blk = [int(v) for v in np.asarray(block_shape).reshape(-1)]
    r = len(img)
    dl = [int(d) for d in dilations] if dilations else [1] * r
    st = [int(s) for s in strides] if strides else [1] * r
    pp = [int(p) for p in pads] if pads else [0] * (2 * r)
    n = input.shape[0]
    kk = int(np.prod(blk))
    c = input.shape[1] // kk
    nb = [(img[i] + pp[i] + pp[r + i] - ((blk[i] - 1) * dl[i] + 1)) // st[i] + 1 for i in range(r)]
    cols = input.reshape((n, c, kk) + tuple(nb))
    padded = [img[i] + pp[i] + pp[r + i] for i in range(r)]
    buf = np.zeros((n, c) + tuple(padded), dtype=input.dtype)
    for t, kidx in enumerate(np.ndindex(*blk)):
        sl = tuple(slice(kidx[i] * dl[i], kidx[i] * dl[i] + (nb[i] - 1) * st[i] + 1, st[i]) for i in range(r))
        buf[(slice(None), slice(None)) + sl] += cols[:, :, t]
    crop = tuple(slice(pp[i], pp[i] + img[i]) for i in range(r))
    return np.ascontiguousarray(buf[(slice(None), slice(None)) + crop])


@kernel
def CenterCropPad(input_data, shape, *, axes=None):
    r = input_data.ndim
    tgt = [int(v) for v in np.asarray(shape).reshape(-1)]
    ax = list(range(r)) if not axes else [int(a) + r if int(a) < 0 else int(a) for a in axes]
    out_shape = list(input_data.shape)
    src = [slice(None)] * r
    dst = [slice(None)] * r
    for k, a in enumerate(ax):
        n_in = input_data.shape[a]
        n_out = tgt[k]
        out_shape[a] = n_out
        if n_out <= n_in:
            s = (n_in - n_out) // 2
            src[a] = slice(s, s + n_out)
        else:
            s = (n_out - n_in) // 2
            dst[a] = slice(s, s + n_in)
    y = np.zeros(out_shape, dtype=input_data.dtype)
    y[tuple(dst)] = input_data[tuple(src)]
    return y
