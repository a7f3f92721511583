"""NumPy semantics of the ONNX signal ops: DFT (opset 20), STFT, HannWindow,
HammingWindow, BlackmanWindow, MelWeightMatrix. Computed in float64 / complex128,
rounded once to the output type.
"""

from __future__ import annotations

import math

import numpy as np

from hetc.backends.numpy.kernels import kernel

def _signal_dtype(code):
    """ONNX TensorProto data type -> numpy dtype (the ones window/mel ops can produce)."""
    table = {
        1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64,
        10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64,
    }
    return np.dtype(table[int(code)])


def _signal_scalar(v, default=None):
    if v is None:
        return default
    a = np.asarray(v).reshape(-1)
    if a.size == 0:
        return default
    return a[0].item()


def _signal_to_complex(x):
    if x.shape[-1] == 1:
        return x[..., 0].astype(np.float64).astype(np.complex128)
    return x[..., 0].astype(np.float64) + 1j * x[..., 1].astype(np.float64)


@kernel
def DFT(input, dft_length=None, axis=None, *, inverse=0, onesided=0):
    r = input.ndim
    ax = int(_signal_scalar(axis, -2))
    if ax < 0:
        ax += r
    z = _signal_to_complex(input)  # drops the trailing complex axis; ax still valid
    n_in = z.shape[ax]
    if inverse and onesided:
        n = int(_signal_scalar(dft_length, 2 * (n_in - 1)))
        y = np.fft.irfft(z, n=n, axis=ax)
        return y[..., None].astype(input.dtype)
    n = int(_signal_scalar(dft_length, n_in))
    if inverse:
        y = np.fft.ifft(z, n=n, axis=ax)
    else:
        y = np.fft.fft(z, n=n, axis=ax)
        if onesided:
            y = np.take(y, np.arange(n // 2 + 1), axis=ax)
    return np.stack([y.real, y.imag], axis=-1).astype(input.dtype)


@kernel
def STFT(signal, frame_step, window=None, frame_length=None, *, onesided=1):
    z = _signal_to_complex(signal)  # (batch, length)
    length = z.shape[1]
    step = int(_signal_scalar(frame_step))
    if frame_length is not None and np.asarray(frame_length).size:
        fl = int(_signal_scalar(frame_length))
    elif window is not None:
        fl = int(window.shape[0])
    else:
        fl = length
    win = np.ones(fl) if window is None else window.astype(np.float64)
    frames = (length - fl) // step + 1
    idx = np.arange(frames)[:, None] * step + np.arange(fl)[None, :]
    fr = z[:, idx] * win  # (batch, frames, fl)
    y = np.fft.fft(fr, axis=-1)
    if onesided:
        y = y[..., : fl // 2 + 1]
    return np.stack([y.real, y.imag], axis=-1).astype(signal.dtype)


def _signal_window(size, periodic, coeffs):
    n = int(_signal_scalar(size))
    denom = n if periodic else n - 1
    k = np.arange(n, dtype=np.float64)
    w = np.zeros(n)
    for m, a in enumerate(coeffs):
        w = w + a * np.cos(2.0 * math.pi * m * k / denom) if denom else w + (a if m == 0 else 0)
    return w


@kernel
def HannWindow(size, *, output_datatype=1, periodic=1):
    w = _signal_window(size, periodic, (0.5, -0.5))
    return w.astype(_signal_dtype(output_datatype))


@kernel
def HammingWindow(size, *, output_datatype=1, periodic=1):
    a0 = 25.0 / 46.0
    w = _signal_window(size, periodic, (a0, -(1.0 - a0)))
    return w.astype(_signal_dtype(output_datatype))


@kernel
def BlackmanWindow(size, *, output_datatype=1, periodic=1):
    w = _signal_window(size, periodic, (0.42, -0.5, 0.08))
    return w.astype(_signal_dtype(output_datatype))


@kernel
def MelWeightMatrix(num_mel_bins, dft_length, sample_rate, lower_edge_hertz, upper_edge_hertz, *,
                    output_datatype=1):
    nm = int(_signal_scalar(num_mel_bins))
    nd = int(_signal_scalar(dft_length))
    sr = float(_signal_scalar(sample_rate))
    lo = float(_signal_scalar(lower_edge_hertz))
    hi = float(_signal_scalar(upper_edge_hertz))
    nbins = nd // 2 + 1
    lo_mel = 2595.0 * math.log10(1.0 + lo / 700.0)
    hi_mel = 2595.0 * math.log10(1.0 + hi / 700.0)
    # Band edges: num_mel_bins + 2 points, step = mel range / (num_mel_bins + 2) (as onnxruntime).
    step = (hi_mel - lo_mel) / (nm + 2)
    mel = lo_mel + step * np.arange(nm + 2, dtype=np.float64)
    hz = 700.0 * (np.power(10.0, mel / 2595.0) - 1.0)
    edges = np.floor((nd + 1) * hz / sr).astype(np.int64)
    out = np.zeros((nbins, nm), dtype=np.float64)
    for i in range(nm):
        a, b, c = int(edges[i]), int(edges[i + 1]), int(edges[i + 2])
        if b == a:
            if 0 <= b < nbins:
                out[b, i] = 1.0
        else:
            for j in range(a, b + 1):
                if 0 <= j < nbins:
                    out[j, i] = (j - a) / (b - a)
        if c > b:
            for j in range(b, c):
                if 0 <= j < nbins:
                    out[j, i] = (c - j) / (c - b)
    return out.astype(_signal_dtype(output_datatype))
