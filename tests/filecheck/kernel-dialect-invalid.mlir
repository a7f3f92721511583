// RUN: hetc-opt %s --split-input-file --verify-diagnostics | filecheck %s

// The kernel dialect's verifier: a kernel.group is closed (ops inside use only block
// arguments or values defined inside), its block arguments match its operands, its
// kernel.yield its results, and its kind is one hetc-fuse forms.

// Not closed: the bias Add reads %b from outside instead of a block argument.
// CHECK: kernel.group 0: onnx.Add (bias) uses a value defined outside the group; pass it as an operand of the kernel.group (a block argument)
func.func @main(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %b = "onnx.Constant"() {value = dense<1.000000e-01> : tensor<8xf32>} : () -> tensor<8xf32>
  %y = "kernel.group"(%x, %w) ({
  ^bb0(%xa: tensor<4x8xf32>, %wa: tensor<8x8xf32>):
    %mm = "onnx.MatMul"(%xa, %wa) {hetc.node = "mm"} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %mb = "onnx.Add"(%mm, %b) {hetc.node = "bias"} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    "kernel.yield"(%mb) : (tensor<4x8xf32>) -> ()
  }) {id = 0 : i64, kind = "epilogue", nodes = ["mm", "bias"]} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  func.return %y : tensor<4x8xf32>
}

// -----

// CHECK: kernel.group 1: block argument 0 is tensor<4x4xf32>, its operand tensor<4x8xf32>
func.func @main(%x: tensor<4x8xf32>) -> tensor<4x4xf32> {
  %y = "kernel.group"(%x) ({
  ^bb0(%xa: tensor<4x4xf32>):
    %r = "onnx.Relu"(%xa) : (tensor<4x4xf32>) -> tensor<4x4xf32>
    "kernel.yield"(%r) : (tensor<4x4xf32>) -> ()
  }) {id = 1 : i64, kind = "row", nodes = ["relu"]} : (tensor<4x8xf32>) -> tensor<4x4xf32>
  func.return %y : tensor<4x4xf32>
}

// -----

// CHECK: kernel.group 2: kernel.yield's types do not match the results
func.func @main(%x: tensor<4x8xf32>) -> tensor<4x4xf32> {
  %y = "kernel.group"(%x) ({
  ^bb0(%xa: tensor<4x8xf32>):
    %r = "onnx.Relu"(%xa) : (tensor<4x8xf32>) -> tensor<4x8xf32>
    "kernel.yield"(%r) : (tensor<4x8xf32>) -> ()
  }) {id = 2 : i64, kind = "row", nodes = ["relu"]} : (tensor<4x8xf32>) -> tensor<4x4xf32>
  func.return %y : tensor<4x4xf32>
}

// -----

// CHECK: kernel.group 3: unknown kind 'tiled' (epilogue, row, attention)
func.func @main(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %y = "kernel.group"(%x) ({
  ^bb0(%xa: tensor<4x8xf32>):
    %r = "onnx.Relu"(%xa) : (tensor<4x8xf32>) -> tensor<4x8xf32>
    "kernel.yield"(%r) : (tensor<4x8xf32>) -> ()
  }) {id = 3 : i64, kind = "tiled", nodes = ["relu"]} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  func.return %y : tensor<4x8xf32>
}
