"""hetc: a compiler for heterogeneous machines, on xDSL.

    import hetc
    sess = hetc.compile("model.onnx", target="numpy", input_shapes={"x": (1, 3, 224, 224)})
    outs = sess.run({"x": x})
"""

__version__ = "0.1.0"

from hetc.api import Session, build, compile  # noqa: E402
from hetc.diagnostics import HetcError, UnsupportedError  # noqa: E402
from hetc import he  # noqa: E402  (hetc.he: modular arithmetic, NTT, polymul)

__all__ = ["HetcError", "Session", "UnsupportedError", "build", "compile", "he", "__version__"]
