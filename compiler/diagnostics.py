"""Errors a user can act on: what file, which node, what op, why, and what to do."""

from __future__ import annotations


class HetcError(Exception):
    """A user-facing compile or run error; the CLI prints it without a traceback."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        node: str | None = None,
        op_type: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.node = node
        self.op_type = op_type
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file))
        if self.node is not None or self.op_type:
            label = f"node '{self.node}'" if self.node else "node"
            where.append(f"{label} ({self.op_type})" if self.op_type else label)
        text = (": ".join(where) + ": " if where else "") + self.reason
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def with_file(self, file: str) -> "HetcError":
        if self.file is None:
            self.file = file
            self.args = (self.render(),)
        return self


class UnsupportedError(HetcError):
    """The input is valid ONNX but uses something hetc does not support (yet)."""
