"""The parts of convert-onnx-to-loops, one file per op family."""
