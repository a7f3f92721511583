// Known bug, kept as an expected failure: hetc-dce visits blocks outer-first and
// makes a single bottom-up sweep per block, so an op in an outer block whose only
// user is a dead op in a nested region is not erased in the same run (running
// hetc-dce twice removes it). When the pass reaches a fixed point in one run,
// this test XPASSes: drop the XFAIL line then.
// XFAIL: *
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
