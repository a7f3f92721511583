// RUN: hetc-opt %s -p 'hetc-npu-tile{capacity=4096}' | filecheck %s

// x (1 KiB) @ w (8 KiB) -> y does not fit 4 KiB: the output is cut into 4 column tiles
// of 8; each tile's slice of the weight is folded into a constant of its own, the
// tiles are concatenated back for the Relu, which fits as it is (1 KiB).
// CHECK-LABEL: func.func @main
// CHECK-SAME:    hetc.npu_regions = "{}"
// CHECK:         %{{.*}} = "onnx.Constant"() {value = dense<1.000000e+00> : tensor<64x8xf32>} : () -> tensor<64x8xf32>
// CHECK-NEXT:    %{{.*}} = "onnx.MatMul"(%x, %{{.*}}) {hetc.node = "mm/npu_tile0"} : (tensor<4x64xf32>, tensor<64x8xf32>) -> tensor<4x8xf32>
// CHECK-COUNT-3: "onnx.MatMul"(%x, %{{.*}}) {hetc.node = "mm/npu_tile{{[1-3]}}"}
// CHECK-NOT:     "onnx.MatMul"
// CHECK:         %[[CAT:.*]] = "onnx.Concat"({{.*}}) {axis = 1 : i64, hetc.node = "m/npu_concat{{[0-9]+}}"} : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x32xf32>
// CHECK-NEXT:    "onnx.Relu"(%[[CAT]])
// CHECK:         func.return
func.func @main(%x: tensor<4x64xf32>) -> tensor<4x32xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %w = "onnx.Constant"() {value = dense<1.0> : tensor<64x32xf32>} : () -> tensor<64x32xf32>
  %m = "onnx.MatMul"(%x, %w) {hetc.node = "mm"} : (tensor<4x64xf32>, tensor<64x32xf32>) -> tensor<4x32xf32>
  %y = "onnx.Relu"(%m) {hetc.node = "relu"} : (tensor<4x32xf32>) -> tensor<4x32xf32>
  func.return %y : tensor<4x32xf32>
}
