"""hetc-opt: xdsl-opt with hetc's dialects, passes and an ONNX frontend.

    hetc-opt model.onnx -p hetc-fold-constants,hetc-dce
    hetc-opt tests/filecheck/hetc-dce.mlir -p hetc-dce
    hetc-opt model.onnx --input-shape x=1x3x224x224 -p 'hetc-decompose{ops=Gemm}'
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import IO

from xdsl.xdsl_opt_main import xDSLOptMain

from hetc.diagnostics import HetcError


def parse_shape_bindings(items: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """`["x=1x3x224x224", "mask=1x16"]` -> {"x": (1, 3, 224, 224), "mask": (1, 16)}."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items:
        name, sep, dims = item.rpartition("=")
        try:
            if not sep or not name:
                raise ValueError
            shapes[name] = tuple(int(d) for d in dims.split("x")) if dims else ()
            if any(d < 0 for d in shapes[name]):
                raise ValueError
        except ValueError:
            raise HetcError(
                f"bad --input-shape '{item}'", hint="write NAME=D0xD1x..., e.g. --input-shape x=1x3x224x224"
            ) from None
    return shapes


class HetcOptMain(xDSLOptMain):
    def register_all_dialects(self) -> None:
        super().register_all_dialects()
        from hetc.dialects.hw import HW
        from hetc.dialects.onnx import ONNX

        self.ctx.register_dialect("onnx", lambda: ONNX)

        def he_dialect():
            from hetc.dialects.he import HE

            return HE

        self.ctx.register_dialect("he", he_dialect)

        def agent_dialect():
            from hetc.dialects.agent import AGENT

            return AGENT

        self.ctx.register_dialect("agent", agent_dialect)

        def sched_dialect():
            from hetc.dialects.sched import SCHED

            return SCHED

        self.ctx.register_dialect("sched", sched_dialect)

        def kernel_dialect():
            from hetc.dialects.kernel import KERNEL

            return KERNEL

        self.ctx.register_dialect("kernel", kernel_dialect)
        # hetc's `hw` (targets, placement) replaces xdsl's CIRCT `hw` of the same name,
        # which hetc does not use; the context has no public way to override a registration.
        self.ctx._registered_dialects.pop("hw", None)
        self.ctx.register_dialect("hw", lambda: HW)

    def register_all_passes(self) -> None:
        super().register_all_passes()
        from hetc.passes import all_passes

        for name, cls in all_passes().items():
            self.register_pass(name, lambda cls=cls: cls)

    def register_all_frontends(self) -> None:
        super().register_all_frontends()

        def parse_onnx(io: IO[bytes]):
            from hetc.frontend.onnx_importer import import_model

            name = self.get_input_name()
            if name == "stdin":
                import onnx

                return import_model(onnx.load_from_string(io.read()), self._shapes(), file="stdin")
            return import_model(name, self._shapes())

        self.available_frontends["onnx"] = parse_onnx

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser) -> None:
        super().register_all_arguments(arg_parser)
        arg_parser.add_argument(
            "--input-shape",
            action="append",
            default=[],
            metavar="NAME=D0xD1x...",
            help="bind a symbolic input shape when reading an .onnx file (repeatable)",
        )
        arg_parser.epilog = (
            "example: hetc-opt model.onnx --input-shape x=1x3x32x32 -p hetc-fold-constants,hetc-dce"
        )
        arg_parser.formatter_class = argparse.RawDescriptionHelpFormatter

    def _shapes(self) -> dict[str, tuple[int, ...]]:
        return parse_shape_bindings(self.args.input_shape)


def main(argv: Sequence[str] | None = None) -> int:
    from xdsl.utils.exceptions import ParseError, VerifyException

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    if debug:
        argv = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--debug"]
    try:
        HetcOptMain(description="hetc-opt: run hetc passes on MLIR text or an ONNX model", args=argv).run()
    except HetcError as err:
        if debug:
            raise
        print(f"hetc-opt: error: {err}", file=sys.stderr)
        return 1
    except ParseError as err:
        if debug:
            raise
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        where, what = (lines[0], lines[-1]) if lines else ("input", "parse error")
        print(f"hetc-opt: error: {where}: cannot parse: {what}", file=sys.stderr)
        return 1
    except (OSError, ValueError, VerifyException) as err:
        if debug:
            raise
        text = f"{err.strerror}: {err.filename}" if isinstance(err, OSError) and err.strerror else str(err)
        print(f"hetc-opt: error: {text}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
