// hetc-dce reaches a fixed point in one run: an op in an outer block whose only
// user is a dead op in a nested region goes too.
// RUN: hetc-opt %s -p hetc-dce | filecheck %s

// CHECK-LABEL: func.func @outer_feeds_dead_inner(
// CHECK-NOT:     onnx.Relu
// CHECK-NOT:     onnx.Exp
// CHECK:         func.return %r
func.func @outer_feeds_dead_inner(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %a = "onnx.Relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %r = scf.execute_region -> tensor<2x3xf32> {
    %b = "onnx.Exp"(%a) : (tensor<2x3xf32>) -> tensor<2x3xf32>
    scf.yield %x : tensor<2x3xf32>
  }
  func.return %r : tensor<2x3xf32>
}
