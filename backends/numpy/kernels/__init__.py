"""NumPy semantics of ONNX ops: the oracle every hetc backend is checked against.

Contract (the NumPy emitter and the constant folder both rely on it):

- One function per ONNX op type, named exactly like the op (``Conv``, ``Relu``),
  registered with ``@kernel``. Positional parameters are the op's inputs in schema
  order; an absent optional input is passed as ``None``. Keyword parameters are
  the op's attributes by their ONNX names, with the schema defaults as defaults.
- Attribute values arrive as plain Python values: int, float, str, list[int],
  list[float], list[str]; tensor attributes as ``np.ndarray``.
- An op whose schema declares one output returns one ``np.ndarray``; an op with
  several (or variadic) outputs returns a tuple of all of them. ``Split`` takes
  ``num_outputs`` (the importer always sets it).
- Results keep ONNX dtypes exactly (float32 in, float32 out; int64 indices...).
- The generated module copies each used kernel's source, so kernels may use only
  ``np``, ``math`` and module-level helpers of this package whose names start with
  ``_`` and are unique across the package. No other imports, no hetc imports.
"""

from __future__ import annotations

from typing import Callable

KERNELS: dict[str, Callable] = {}


def kernel(fn: Callable) -> Callable:
    """Register ``fn`` as the NumPy semantics of the ONNX op of the same name."""
    if fn.__name__ in KERNELS:
        raise ValueError(f"duplicate NumPy kernel for ONNX op {fn.__name__}")
    KERNELS[fn.__name__] = fn
    return fn


def _load_all() -> None:
    # Importing the modules runs their @kernel decorators.
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


_load_all()
