// RUN: hetc-opt %s -p 'hetc-choose-layout{layout=nhwc}' | filecheck %s
// RUN: hetc-opt %s -p 'hetc-choose-layout{layout=nchw}' | filecheck %s --check-prefix=NCHW
// RUN: hetc-opt %s -p 'hetc-choose-layout{layout=nhwc},hetc-canonicalize,hetc-dce' | filecheck %s --check-prefix=CLEAN
// The cost model's choice is recorded with both predictions.
// RUN: hetc-opt %s -p hetc-choose-layout | filecheck %s --check-prefix=AUTO
// AUTO: hetc.layout_report = [{layout = "{{NHWC|NCHW}}", ops = 4 : i64, convs = 1 : i64, edge_transposes = 3 : i64, predicted_nchw_ms = {{.*}}, predicted_nhwc_ms = {{.*}}, forced = ""}

// A conv -> per-channel scale -> relu -> max pool region turns channels-last: the input
// is transposed in once, the per-channel constant is re-laid out, ops that take a
// layout say so, and each tensor leaving the region is transposed back once.
// CHECK-LABEL: func.func @main(
// CHECK:         %x_nhwc = "onnx.Transpose"(%x) {perm = array<i64: 0, 2, 3, 1>} : (tensor<1x8x16x16xf32>) -> tensor<1x16x16x8xf32>
// CHECK:         %c = "onnx.Conv"(%x_nhwc, %w, %b) {pads = array<i64: 1, 1, 1, 1>, hetc.node = "conv0", hetc.layout = "NHWC"} : (tensor<1x16x16x8xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<1x16x16x16xf32>
// CHECK:         %s_nhwc = "onnx.Constant"() {value = dense<3.000000e-01> : tensor<1x1x1x16xf32>}
// CHECK-NEXT:    %m = "onnx.Mul"(%c, %s_nhwc) : (tensor<1x16x16x16xf32>, tensor<1x1x1x16xf32>) -> tensor<1x16x16x16xf32>
// CHECK-NEXT:    %r = "onnx.Relu"(%m) : (tensor<1x16x16x16xf32>) -> tensor<1x16x16x16xf32>
// CHECK-NEXT:    %r_1 = "onnx.Transpose"(%r) {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x16x16x16xf32>) -> tensor<1x16x16x16xf32>
// CHECK-NEXT:    %p = "onnx.MaxPool"(%r) {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>, hetc.layout = "NHWC"} : (tensor<1x16x16x16xf32>) -> tensor<1x8x8x16xf32>
// CHECK-NEXT:    %p_1 = "onnx.Transpose"(%p) {perm = array<i64: 0, 3, 1, 2>} : (tensor<1x8x8x16xf32>) -> tensor<1x16x8x8xf32>
// The Flatten outside the region reads the NCHW tensor.
// CHECK-NEXT:    %f = "onnx.Flatten"(%p_1)
// The relu output is also returned: its transposed copy is.
// CHECK:         func.return %f, %r_1

// Forced to NCHW, nothing moves.
// NCHW-NOT:      onnx.Transpose
// NCHW-NOT:      hetc.layout =

// After canonicalize and DCE the old NCHW constant is gone.
// CLEAN-NOT:     tensor<16x1x1xf32>
func.func @main(%x: tensor<1x8x16x16xf32>) -> (tensor<1x1024xf32>, tensor<1x16x16x16xf32>) {
  %w = "onnx.Constant"() {value = dense<1.000000e-01> : tensor<16x8x3x3xf32>} : () -> tensor<16x8x3x3xf32>
  %b = "onnx.Constant"() {value = dense<2.000000e-01> : tensor<16xf32>} : () -> tensor<16xf32>
  %c = "onnx.Conv"(%x, %w, %b) {pads = array<i64: 1, 1, 1, 1>, hetc.node = "conv0"} : (tensor<1x8x16x16xf32>, tensor<16x8x3x3xf32>, tensor<16xf32>) -> tensor<1x16x16x16xf32>
  %s = "onnx.Constant"() {value = dense<3.000000e-01> : tensor<16x1x1xf32>} : () -> tensor<16x1x1xf32>
  %m = "onnx.Mul"(%c, %s) : (tensor<1x16x16x16xf32>, tensor<16x1x1xf32>) -> tensor<1x16x16x16xf32>
  %r = "onnx.Relu"(%m) : (tensor<1x16x16x16xf32>) -> tensor<1x16x16x16xf32>
  %p = "onnx.MaxPool"(%r) {kernel_shape = array<i64: 2, 2>, strides = array<i64: 2, 2>} : (tensor<1x16x16x16xf32>) -> tensor<1x16x8x8xf32>
  %f = "onnx.Flatten"(%p) : (tensor<1x16x8x8xf32>) -> tensor<1x1024xf32>
  func.return %f, %r : tensor<1x1024xf32>, tensor<1x16x16x16xf32>
}

// A convolution whose weights arrive at run time stays NCHW (no region).
// CHECK-LABEL: func.func @runtime_weights(
// CHECK-SAME:    hetc.layout_report = []
// CHECK-NOT:     hetc.layout =
// CHECK:         func.return
func.func @runtime_weights(%x: tensor<1x4x8x8xf32>, %w: tensor<4x4x3x3xf32>) -> tensor<1x4x6x6xf32> {
  %y = "onnx.Conv"(%x, %w) : (tensor<1x4x8x8xf32>, tensor<4x4x3x3xf32>) -> tensor<1x4x6x6xf32>
  func.return %y : tensor<1x4x6x6xf32>
}
