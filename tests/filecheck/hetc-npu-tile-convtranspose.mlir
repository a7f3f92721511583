// RUN: hetc-opt %s -p 'hetc-npu-tile{capacity=8192}' | filecheck %s

// A stride-2 3x3 ConvTranspose (pads 1, output_padding 1) to one channel: the output
// channel cannot be cut, so output rows are. Each tile of 8 rows reads the input rows
// its outputs need (a strided DMA of the graph input: [0, 5), [4, 9), [8, 13), [12, 16))
// and crops its own full output with pads: [1, 1, 2, 0] inside, [1, 1, 0, 0] at the
// bottom edge, where the original pad_end 1 and output_padding 1 cancel.
// CHECK-LABEL: func.func @main
// CHECK-SAME:    \22x/npu_slice1\22: {\22ends\22: [1, 4, 5, 16], \22starts\22: [0, 0, 0, 0]}
// CHECK-SAME:    \22x/npu_slice4\22: {\22ends\22: [1, 4, 16, 16], \22starts\22: [0, 0, 12, 0]}
// CHECK:         "onnx.ConvTranspose"(%{{.*}}, %w) {output_padding = array<i64: 0, 0>, pads = array<i64: 1, 1, 2, 0>, strides = array<i64: 2, 2>, hetc.node = "up/npu_tile0"} : (tensor<1x4x5x16xf32>, tensor<4x1x3x3xf32>) -> tensor<1x1x8x32xf32>
// CHECK-COUNT-2: "onnx.ConvTranspose"(%{{.*}}, %w) {output_padding = array<i64: 0, 0>, pads = array<i64: 1, 1, 2, 0>
// CHECK:         "onnx.ConvTranspose"(%{{.*}}, %w) {output_padding = array<i64: 0, 0>, pads = array<i64: 1, 1, 0, 0>, strides = array<i64: 2, 2>, hetc.node = "up/npu_tile3"} : (tensor<1x4x4x16xf32>, tensor<4x1x3x3xf32>) -> tensor<1x1x8x32xf32>
// CHECK:         "onnx.Concat"({{.*}}) {axis = 2 : i64, hetc.node = "y/npu_concat5"}
func.func @main(%x: tensor<1x4x16x16xf32>) -> tensor<1x1x32x32xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %w = "onnx.Constant"() {value = dense<1.000000e+00> : tensor<4x1x3x3xf32>} : () -> tensor<4x1x3x3xf32>
  %y = "onnx.ConvTranspose"(%x, %w) {output_padding = array<i64: 1, 1>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>, hetc.node = "up"} : (tensor<1x4x16x16xf32>, tensor<4x1x3x3xf32>) -> tensor<1x1x32x32xf32>
  func.return %y : tensor<1x1x32x32xf32>
}
