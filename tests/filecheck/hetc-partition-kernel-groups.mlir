// RUN: not env HETC_PROFILE=/nonexistent hetc-opt %s -p 'hetc-fuse{mode=greedy},hetc-place{devices=cpu scheduler=heft},hetc-partition' 2>&1 | filecheck %s

// hetc-place prices ops one by one and hetc-partition outlines runs of them; each
// partition's target then runs hetc-fuse on its own ops. A module fused first holds
// kernel.group regions that no placement covers: hetc-partition says so by name
// (hetc-partition.mlir: the normal order).
// CHECK: hetc-opt: error: hetc-partition: @main holds kernel.group 0 (mm, bias, relu): hetc-fuse ran before partitioning
// CHECK-NEXT: hint: run hetc-place and hetc-partition before hetc-fuse
func.func @main(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %b = "onnx.Constant"() {value = dense<1.000000e-01> : tensor<8xf32>} : () -> tensor<8xf32>
  %mm = "onnx.MatMul"(%x, %w) {hetc.node = "mm"} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
  %mb = "onnx.Add"(%mm, %b) {hetc.node = "bias"} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  %r = "onnx.Relu"(%mb) {hetc.node = "relu"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
  func.return %r : tensor<4x8xf32>
}
