"""NumPy semantics of the ONNX recurrent ops RNN, GRU, LSTM (opset 22+).

Shared conventions: directions forward / reverse / bidirectional (forward first),
layout 0 ([seq, batch, ...]) or 1 ([batch, seq, ...]), per-batch sequence_lens
(steps past a sequence's length output zeros and leave its state untouched; the
reverse direction starts at each sequence's own last step), activations with
activation_alpha / activation_beta consumed in order by the activations that take
them, and clip applied to gate pre-activations.
"""

from __future__ import annotations

import numpy as np

from hetc.backends.numpy.kernels import kernel


def _rnn_act_params(name):
    """Activation name -> (number of parameters, default alpha, default beta)."""
    table = {
        "relu": (0, None, None),
        "tanh": (0, None, None),
        "sigmoid": (0, None, None),
        "affine": (2, 1.0, 0.0),
        "leakyrelu": (1, 0.01, None),
        "thresholdedrelu": (1, 1.0, None),
        "scaledtanh": (2, 1.0, 1.0),
        "hardsigmoid": (2, 0.2, 0.5),
        "elu": (1, 1.0, None),
        "softsign": (0, None, None),
        "softplus": (0, None, None),
    }
    return table[name.lower()]


def _rnn_act(name, x, alpha, beta):
    n = name.lower()
    if n == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if n == "tanh":
        return np.tanh(x)
    if n == "relu":
        return np.maximum(x, 0)
    if n == "affine":
        return alpha * x + beta
    if n == "leakyrelu":
        return np.where(x >= 0, x, alpha * x)
    if n == "thresholdedrelu":
        return np.where(x > alpha, x, 0).astype(x.dtype)
    if n == "scaledtanh":
        return alpha * np.tanh(beta * x)
    if n == "hardsigmoid":
        return np.clip(alpha * x + beta, 0, 1)
    if n == "elu":
        return np.where(x >= 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1))
    if n == "softsign":
        return x / (1 + np.abs(x))
    if n == "softplus":
        return np.logaddexp(0, x).astype(x.dtype)
    raise ValueError(f"unsupported RNN activation {name}")


def _rnn_acts(activations, alphas, betas, defaults, num_dir, dtype):
    """List (per direction) of lists of (name, alpha, beta)."""
    names = list(activations) if activations else []
    per = len(defaults)
    if not names:
        names = list(defaults) * num_dir
    elif len(names) == per and num_dir == 2:
        names = names * 2
    alphas = list(alphas) if alphas else []
    betas = list(betas) if betas else []
    ai = bi = 0
    out = []
    for nm in names:
        cnt, da, db = _rnn_act_params(nm)
        a, b = da, db
        if cnt >= 1:
            if ai < len(alphas):
                a = alphas[ai]
                ai += 1
        if cnt >= 2:
            if bi < len(betas):
                b = betas[bi]
                bi += 1
        a = None if a is None else dtype.type(a)
        b = None if b is None else dtype.type(b)
        out.append((nm, a, b))
    return [out[d * per:(d + 1) * per] for d in range(num_dir)]


def _rnn_prepare(X, W, R, B, sequence_lens, initial_h, initial_c, direction, layout, hidden_size, gates):
    acc = np.dtype(np.float32) if X.dtype.itemsize < 4 else X.dtype
    x = X.astype(acc, copy=False)
    if layout == 1:
        x = np.swapaxes(x, 0, 1)
    seq, batch = x.shape[:2]
    num_dir = W.shape[0]
    hs = int(hidden_size) if hidden_size else R.shape[-1]
    if B is None:
        b = np.zeros((num_dir, 2 * gates * hs), dtype=acc)
    else:
        b = B.astype(acc, copy=False)
    if sequence_lens is None:
        lens = np.full((batch,), seq, dtype=np.int64)
    else:
        lens = np.asarray(sequence_lens).astype(np.int64).reshape(batch)

    def state(s):
        if s is None:
            return np.zeros((num_dir, batch, hs), dtype=acc)
        s = s.astype(acc, copy=False)
        return np.swapaxes(s, 0, 1) if layout == 1 else s

    return acc, x, seq, batch, num_dir, hs, b, lens, state(initial_h), state(initial_c)


def _rnn_steps(direction, d, seq):
    reverse = direction == "reverse" or (direction == "bidirectional" and d == 1)
    return range(seq - 1, -1, -1) if reverse else range(seq)


def _rnn_finish(Y, Yh, Yc, layout, dtype):
    # Y: [seq, num_dir, batch, hidden]; Yh/Yc: [num_dir, batch, hidden]
    if layout == 1:
        Y = np.transpose(Y, (2, 0, 1, 3))
        Yh = np.swapaxes(Yh, 0, 1)
        if Yc is not None:
            Yc = np.swapaxes(Yc, 0, 1)
    res = [np.ascontiguousarray(Y).astype(dtype, copy=False), np.ascontiguousarray(Yh).astype(dtype, copy=False)]
    if Yc is not None:
        res.append(np.ascontiguousarray(Yc).astype(dtype, copy=False))
    return tuple(res)


def _rnn_clip(v, clip):
    if clip is None:
        return v
    return np.clip(v, -clip, clip)


@kernel
def RNN(X, W, R, B=None, sequence_lens=None, initial_h=None, *, activation_alpha=None, activation_beta=None,
        activations=None, clip=None, direction="forward", hidden_size=None, layout=0):
    acc, x, seq, batch, nd, hs, b, lens, h0, _ = _rnn_prepare(
        X, W, R, B, sequence_lens, initial_h, None, direction, layout, hidden_size, 1)
    acts = _rnn_acts(activations, activation_alpha, activation_beta, ["Tanh"], nd, acc)
    Y = np.zeros((seq, nd, batch, hs), dtype=acc)
    Yh = np.zeros((nd, batch, hs), dtype=acc)
    for d in range(nd):
        w = W[d].astype(acc, copy=False)
        r = R[d].astype(acc, copy=False)
        xw = x @ w.T + (b[d, :hs] + b[d, hs:])
        h = h0[d].copy()
        f = acts[d][0]
        for t in _rnn_steps(direction, d, seq):
            act = (t < lens)[:, None]
            hn = _rnn_act(f[0], _rnn_clip(xw[t] + h @ r.T, clip), f[1], f[2])
            h = np.where(act, hn, h)
            Y[t, d] = np.where(act, hn, 0)
        Yh[d] = h
    return _rnn_finish(Y, Yh, None, layout, X.dtype)


@kernel
def GRU(X, W, R, B=None, sequence_lens=None, initial_h=None, *, activation_alpha=None, activation_beta=None,
        activations=None, clip=None, direction="forward", hidden_size=None, layout=0, linear_before_reset=0):
    acc, x, seq, batch, nd, hs, b, lens, h0, _ = _rnn_prepare(
        X, W, R, B, sequence_lens, initial_h, None, direction, layout, hidden_size, 3)
    acts = _rnn_acts(activations, activation_alpha, activation_beta, ["Sigmoid", "Tanh"], nd, acc)
    Y = np.zeros((seq, nd, batch, hs), dtype=acc)
    Yh = np.zeros((nd, batch, hs), dtype=acc)
    for d in range(nd):
        w = W[d].astype(acc, copy=False)
        r = R[d].astype(acc, copy=False)
        wb = b[d, :3 * hs]
        rb = b[d, 3 * hs:]
        xw = x @ w.T + wb  # [seq, batch, 3*hs], gates z, r, h
        rz, rr, rh = r[:hs], r[hs:2 * hs], r[2 * hs:]
        rbz, rbr, rbh = rb[:hs], rb[hs:2 * hs], rb[2 * hs:]
        f, g = acts[d]
        h = h0[d].copy()
        for t in _rnn_steps(direction, d, seq):
            act = (t < lens)[:, None]
            xz, xr, xh = xw[t, :, :hs], xw[t, :, hs:2 * hs], xw[t, :, 2 * hs:]
            z = _rnn_act(f[0], _rnn_clip(xz + h @ rz.T + rbz, clip), f[1], f[2])
            rg = _rnn_act(f[0], _rnn_clip(xr + h @ rr.T + rbr, clip), f[1], f[2])
            if linear_before_reset:
                pre = xh + rg * (h @ rh.T + rbh)
            else:
                pre = xh + (rg * h) @ rh.T + rbh
            hh = _rnn_act(g[0], _rnn_clip(pre, clip), g[1], g[2])
            hn = (1 - z) * hh + z * h
            h = np.where(act, hn, h)
            Y[t, d] = np.where(act, hn, 0)
        Yh[d] = h
    return _rnn_finish(Y, Yh, None, layout, X.dtype)


@kernel
def LSTM(X, W, R, B=None, sequence_lens=None, initial_h=None, initial_c=None, P=None, *, activation_alpha=None,
         activation_beta=None, activations=None, clip=None, direction="forward", hidden_size=None, input_forget=0,
         layout=0):
    acc, x, seq, batch, nd, hs, b, lens, h0, c0 = _rnn_prepare(
        X, W, R, B, sequence_lens, initial_h, initial_c, direction, layout, hidden_size, 4)
    acts = _rnn_acts(activations, activation_alpha, activation_beta, ["Sigmoid", "Tanh", "Tanh"], nd, acc)
    Y = np.zeros((seq, nd, batch, hs), dtype=acc)
    Yh = np.zeros((nd, batch, hs), dtype=acc)
    Yc = np.zeros((nd, batch, hs), dtype=acc)
    for d in range(nd):
        w = W[d].astype(acc, copy=False)
        r = R[d].astype(acc, copy=False)
        xw = x @ w.T + (b[d, :4 * hs] + b[d, 4 * hs:])  # gates i, o, f, c
        if P is not None:
            p = P[d].astype(acc, copy=False)
            pi, po, pf = p[:hs], p[hs:2 * hs], p[2 * hs:]
        else:
            pi = po = pf = None
        f, g, hact = acts[d]
        h = h0[d].copy()
        c = c0[d].copy()
        for t in _rnn_steps(direction, d, seq):
            act = (t < lens)[:, None]
            gates = xw[t] + h @ r.T
            gi, go, gf, gc = gates[:, :hs], gates[:, hs:2 * hs], gates[:, 2 * hs:3 * hs], gates[:, 3 * hs:]
            if pi is not None:
                gi = gi + pi * c
                gf = gf + pf * c
            i = _rnn_act(f[0], _rnn_clip(gi, clip), f[1], f[2])
            if input_forget:
                fg = 1 - i
            else:
                fg = _rnn_act(f[0], _rnn_clip(gf, clip), f[1], f[2])
            cc = _rnn_act(g[0], _rnn_clip(gc, clip), g[1], g[2])
            cn = fg * c + i * cc
            if po is not None:
                go = go + po * cn
            o = _rnn_act(f[0], _rnn_clip(go, clip), f[1], f[2])
            hn = o * _rnn_act(hact[0], cn, hact[1], hact[2])
            h = np.where(act, hn, h)
            c = np.where(act, cn, c)
            Y[t, d] = np.where(act, hn, 0)
        Yh[d] = h
        Yc[d] = c
    return _rnn_finish(Y, Yh, Yc, layout, X.dtype)
