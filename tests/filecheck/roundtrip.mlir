// Parse -> print -> parse -> print of the onnx dialect's text form.
// RUN: hetc-opt %s | hetc-opt | filecheck %s
// The printed form is a fixed point: printing it again changes nothing.
// RUN: hetc-opt %s > %t.1.mlir && hetc-opt %t.1.mlir > %t.2.mlir && diff %t.1.mlir %t.2.mlir
// The IR is well typed, too.
// RUN: hetc-opt %s -p hetc-verify-shapes | filecheck %s

// Constants of every common element type, splats, 0-d, empty and hex-form data.
// CHECK-LABEL: func.func @constants(
// CHECK-NEXT:    %f = "onnx.Constant"() {value = dense<{{\[\[}}1.000000e+00, -2.500000e+00], [0.000000e+00, 3.250000e+00]]> : tensor<2x2xf32>} : () -> tensor<2x2xf32>
// CHECK-NEXT:    %i = "onnx.Constant"() {value = dense<[1, -2, 9223372036854775807]> : tensor<3xi64>} : () -> tensor<3xi64>
// CHECK-NEXT:    %b = "onnx.Constant"() {value = dense<[true, false]> : tensor<2xi1>} : () -> tensor<2xi1>
// CHECK-NEXT:    %u = "onnx.Constant"() {value = dense<[0, 255]> : tensor<2xui8>} : () -> tensor<2xui8>
// CHECK-NEXT:    %h = "onnx.Constant"() {value = dense<[1.500000e+00, -2.000000e+00]> : tensor<2xf16>} : () -> tensor<2xf16>
// CHECK-NEXT:    %s = "onnx.Constant"() {value = dense<5.000000e-01> : tensor<f32>} : () -> tensor<f32>
// CHECK-NEXT:    %x = "onnx.Constant"() {value = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT:    %d = "onnx.Constant"() {value = dense<[1.000000e-300, 2.000000e+00]> : tensor<2xf64>} : () -> tensor<2xf64>
// CHECK-NEXT:    %n = "onnx.Constant"() {value = dense<[-7, 7]> : tensor<2xi32>} : () -> tensor<2xi32>
// CHECK-NEXT:    %e = "onnx.Constant"() {value = dense<> : tensor<0xi64>} : () -> tensor<0xi64>
// CHECK-NEXT:    %t = "onnx.Constant"() {value = dense<true> : tensor<2x2xi1>} : () -> tensor<2x2xi1>
// CHECK-NEXT:    func.return %f, %i, %b, %u, %h, %s, %x, %d, %n, %e, %t :
func.func @constants() -> (tensor<2x2xf32>, tensor<3xi64>, tensor<2xi1>, tensor<2xui8>, tensor<2xf16>, tensor<f32>, tensor<4xf32>, tensor<2xf64>, tensor<2xi32>, tensor<0xi64>, tensor<2x2xi1>) {
  %f = "onnx.Constant"() {value = dense<[[1.0, -2.5], [0.0, 3.25]]> : tensor<2x2xf32>} : () -> tensor<2x2xf32>
  %i = "onnx.Constant"() {value = dense<[1, -2, 9223372036854775807]> : tensor<3xi64>} : () -> tensor<3xi64>
  %b = "onnx.Constant"() {value = dense<[true, false]> : tensor<2xi1>} : () -> tensor<2xi1>
  %u = "onnx.Constant"() {value = dense<[0, 255]> : tensor<2xui8>} : () -> tensor<2xui8>
  %h = "onnx.Constant"() {value = dense<[1.5, -2.0]> : tensor<2xf16>} : () -> tensor<2xf16>
  %s = "onnx.Constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
  %x = "onnx.Constant"() {value = dense<"0x0000803F000000400000404000008040"> : tensor<4xf32>} : () -> tensor<4xf32>
  %d = "onnx.Constant"() {value = dense<[1.0e-300, 2.0]> : tensor<2xf64>} : () -> tensor<2xf64>
  %n = "onnx.Constant"() {value = dense<[-7, 7]> : tensor<2xi32>} : () -> tensor<2xi32>
  %e = "onnx.Constant"() {value = dense<> : tensor<0xi64>} : () -> tensor<0xi64>
  %t = "onnx.Constant"() {value = dense<true> : tensor<2x2xi1>} : () -> tensor<2x2xi1>
  func.return %f, %i, %b, %u, %h, %s, %x, %d, %n, %e, %t : tensor<2x2xf32>, tensor<3xi64>, tensor<2xi1>, tensor<2xui8>, tensor<2xf16>, tensor<f32>, tensor<4xf32>, tensor<2xf64>, tensor<2xi32>, tensor<0xi64>, tensor<2x2xi1>
}

// Attribute kinds: INT, FLOAT, STRING, INTS, FLOATS, TENSOR, and our own dotted
// `hetc.node`; a NoValue for an absent optional input (Conv's B, Resize's roi).
// CHECK-LABEL: func.func @attributes(
// CHECK-NEXT:    %n = "onnx.NoValue"() : () -> none
// CHECK-NEXT:    %c = "onnx.Conv"(%x, %w, %n) {auto_pad = "NOTSET", dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, hetc.node = "conv/0"} : (tensor<1x3x4x4xf32>, tensor<2x3x3x3xf32>, none) -> tensor<1x2x2x2xf32>
// CHECK-NEXT:    %sc = "onnx.Constant"() {value = dense<[1.000000e+00, 1.000000e+00, 2.000000e+00, 2.000000e+00]> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT:    %r = "onnx.Resize"(%x, %n, %sc) {mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor", cubic_coeff_a = -7.500000e-01 : f32} : (tensor<1x3x4x4xf32>, none, tensor<4xf32>) -> tensor<1x3x8x8xf32>
// CHECK-NEXT:    %k = "onnx.ConstantOfShape"(%s) {value = dense<1.500000e+00> : tensor<1xf32>} : (tensor<2xi64>) -> tensor<2x3xf32>
// CHECK-NEXT:    %l = "onnx.LeakyRelu"(%x) {alpha = 1.000000e-02 : f32} : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
// CHECK-NEXT:    func.return %c, %r, %k, %l :
func.func @attributes(%x: tensor<1x3x4x4xf32>, %w: tensor<2x3x3x3xf32>, %s: tensor<2xi64>) -> (tensor<1x2x2x2xf32>, tensor<1x3x8x8xf32>, tensor<2x3xf32>, tensor<1x3x4x4xf32>) {
  %n = "onnx.NoValue"() : () -> none
  %c = "onnx.Conv"(%x, %w, %n) {auto_pad = "NOTSET", dilations = array<i64: 1, 1>, group = 1 : i64, kernel_shape = array<i64: 3, 3>, pads = array<i64: 0, 0, 0, 0>, strides = array<i64: 1, 1>, hetc.node = "conv/0"} : (tensor<1x3x4x4xf32>, tensor<2x3x3x3xf32>, none) -> tensor<1x2x2x2xf32>
  %sc = "onnx.Constant"() {value = dense<[1.0, 1.0, 2.0, 2.0]> : tensor<4xf32>} : () -> tensor<4xf32>
  %r = "onnx.Resize"(%x, %n, %sc) {mode = "nearest", coordinate_transformation_mode = "asymmetric", nearest_mode = "floor", cubic_coeff_a = -0.75 : f32} : (tensor<1x3x4x4xf32>, none, tensor<4xf32>) -> tensor<1x3x8x8xf32>
  %k = "onnx.ConstantOfShape"(%s) {value = dense<1.5> : tensor<1xf32>} : (tensor<2xi64>) -> tensor<2x3xf32>
  %l = "onnx.LeakyRelu"(%x) {alpha = 0.01 : f32} : (tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
  func.return %c, %r, %k, %l : tensor<1x2x2x2xf32>, tensor<1x3x8x8xf32>, tensor<2x3xf32>, tensor<1x3x4x4xf32>
}

// Multi-result ops. LSTM also has STRINGS (ArrayAttr of StringAttr), FLOATS
// (including an empty one) and five NoValue operands.
// CHECK-LABEL: func.func @multi_result(
// CHECK-NEXT:    %n = "onnx.NoValue"() : () -> none
// CHECK-NEXT:    %y, %yh, %yc = "onnx.LSTM"(%x, %w, %r, %n, %n, %n, %n, %n) {hidden_size = 4 : i64, direction = "forward", activations = ["Sigmoid", "Tanh", "Tanh"], activation_alpha = array<f32: 1.000000e+00, 5.000000e-01>, activation_beta = array<f32>, clip = 1.000000e+01 : f32} : (tensor<5x2x3xf32>, tensor<1x16x3xf32>, tensor<1x16x4xf32>, none, none, none, none, none) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>)
// CHECK-NEXT:    %k = "onnx.Constant"() {value = dense<2> : tensor<1xi64>} : () -> tensor<1xi64>
// CHECK-NEXT:    %tv, %ti = "onnx.TopK"(%v, %k) {axis = -1 : i64, largest = 1 : i64, sorted = 1 : i64} : (tensor<2x6xf32>, tensor<1xi64>) -> (tensor<2x2xf32>, tensor<2x2xi64>)
// CHECK-NEXT:    func.return %y, %yh, %yc, %tv, %ti :
func.func @multi_result(%x: tensor<5x2x3xf32>, %w: tensor<1x16x3xf32>, %r: tensor<1x16x4xf32>, %v: tensor<2x6xf32>) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<2x2xf32>, tensor<2x2xi64>) {
  %n = "onnx.NoValue"() : () -> none
  %y, %yh, %yc = "onnx.LSTM"(%x, %w, %r, %n, %n, %n, %n, %n) {hidden_size = 4 : i64, direction = "forward", activations = ["Sigmoid", "Tanh", "Tanh"], activation_alpha = array<f32: 1.0, 0.5>, activation_beta = array<f32>, clip = 10.0 : f32} : (tensor<5x2x3xf32>, tensor<1x16x3xf32>, tensor<1x16x4xf32>, none, none, none, none, none) -> (tensor<5x1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>)
  %k = "onnx.Constant"() {value = dense<2> : tensor<1xi64>} : () -> tensor<1xi64>
  %tv, %ti = "onnx.TopK"(%v, %k) {axis = -1 : i64, largest = 1 : i64, sorted = 1 : i64} : (tensor<2x6xf32>, tensor<1xi64>) -> (tensor<2x2xf32>, tensor<2x2xi64>)
  func.return %y, %yh, %yc, %tv, %ti : tensor<5x1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<2x2xf32>, tensor<2x2xi64>
}

// Results with no name print as numbered values and survive the round trip.
// CHECK-LABEL: func.func @anonymous(
// CHECK-NEXT:    %0 = "onnx.Relu"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
// CHECK-NEXT:    %1 = "onnx.Neg"(%0) : (tensor<2xf32>) -> tensor<2xf32>
// CHECK-NEXT:    func.return %1
func.func @anonymous(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "onnx.Relu"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "onnx.Neg"(%0) : (tensor<2xf32>) -> tensor<2xf32>
  func.return %1 : tensor<2xf32>
}
