// RUN: hetc-opt %s -p hetc-lift-narrow-floats | filecheck %s
// The lifted graph still passes shape/type verification, and a second run changes nothing.
// RUN: hetc-opt %s -p hetc-lift-narrow-floats,hetc-verify-shapes | filecheck %s --check-prefix=VERIFIED
// RUN: hetc-opt %s -p hetc-lift-narrow-floats,hetc-lift-narrow-floats | filecheck %s --check-prefix=TWICE
// VERIFIED: builtin.module attributes {hetc.narrow_lifted, hetc.narrow_storage = "f16"}
// TWICE: %round_to_f32 = "onnx.Cast"(%down)
// TWICE-NOT: "onnx.Cast"(%round_to_f32)
// TWICE-NOT: to_f32_to_f32

// Most float bytes are float16: the module records f16 storage for hetc-narrow-storage.
// CHECK: builtin.module attributes {hetc.narrow_lifted, hetc.narrow_storage = "f16"}

// MatMul + Add + Relu: the signature keeps f16, a Cast up after the argument, f32
// weights with the same values, f32 compute, a Cast down before the return.
// CHECK-LABEL: func.func @mlp(%x: tensor<2x3xf16>) -> tensor<2x2xf16> {
// CHECK-NEXT:    %x_to_f32 = "onnx.Cast"(%x) {to = 1 : i64, hetc.node = "x/to_f32"} : (tensor<2x3xf16>) -> tensor<2x3xf32>
// CHECK-NEXT:    %w = "onnx.Constant"() {value = dense<{{\[\[}}5.000000e-01, -2.500000e-01], [1.000000e+00, 2.000000e+00], [3.000000e+00, 6.10351562e-05]]> : tensor<3x2xf32>} : () -> tensor<3x2xf32>
// CHECK-NEXT:    %y = "onnx.MatMul"(%x_to_f32, %w) : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
// CHECK-NEXT:    %r = "onnx.Relu"(%y) : (tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK-NEXT:    %r_to_f16 = "onnx.Cast"(%r) {to = 10 : i64, hetc.node = "r/to_f16"} : (tensor<2x2xf32>) -> tensor<2x2xf16>
// CHECK-NEXT:    func.return %r_to_f16 : tensor<2x2xf16>
func.func @mlp(%x: tensor<2x3xf16>) -> tensor<2x2xf16> {
  %w = "onnx.Constant"() {value = dense<[[0.5, -0.25], [1.0, 2.0], [3.0, 6.103516e-05]]> : tensor<3x2xf16>} : () -> tensor<3x2xf16>
  %y = "onnx.MatMul"(%x, %w) : (tensor<2x3xf16>, tensor<3x2xf16>) -> tensor<2x2xf16>
  %r = "onnx.Relu"(%y) : (tensor<2x2xf16>) -> tensor<2x2xf16>
  func.return %r : tensor<2x2xf16>
}

// A Cast to float16 from float32 is a rounding the model asked for: it stays, and a Cast
// back to f32 feeds its users. A Cast from f16 to f32 is now f32 -> f32 and goes away.
// The f32 output stays f32.
// CHECK-LABEL: func.func @mixed(%x: tensor<4xf16>) -> (tensor<4xf16>, tensor<4xf32>) {
// CHECK-NEXT:    %x_to_f32 = "onnx.Cast"(%x) {to = 1 : i64, hetc.node = "x/to_f32"}
// CHECK-NEXT:    %e = "onnx.Exp"(%x_to_f32) : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:    %down = "onnx.Cast"(%e) {to = 10 : i64, hetc.node = "round"} : (tensor<4xf32>) -> tensor<4xf16>
// CHECK-NEXT:    %round_to_f32 = "onnx.Cast"(%down) {to = 1 : i64, hetc.node = "round/to_f32"} : (tensor<4xf16>) -> tensor<4xf32>
// CHECK-NEXT:    %s = "onnx.Add"(%round_to_f32, %x_to_f32) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:    %s_to_f16 = "onnx.Cast"(%s) {to = 10 : i64, hetc.node = "s/to_f16"} : (tensor<4xf32>) -> tensor<4xf16>
// CHECK-NEXT:    func.return %s_to_f16, %e : tensor<4xf16>, tensor<4xf32>
func.func @mixed(%x: tensor<4xf16>) -> (tensor<4xf16>, tensor<4xf32>) {
  %up = "onnx.Cast"(%x) {to = 1 : i64} : (tensor<4xf16>) -> tensor<4xf32>
  %e = "onnx.Exp"(%up) : (tensor<4xf32>) -> tensor<4xf32>
  %down = "onnx.Cast"(%e) {to = 10 : i64, "hetc.node" = "round"} : (tensor<4xf32>) -> tensor<4xf16>
  %s = "onnx.Add"(%down, %x) : (tensor<4xf16>, tensor<4xf16>) -> tensor<4xf16>
  func.return %s, %e : tensor<4xf16>, tensor<4xf32>
}

// An output that is an explicit rounding returns the rounded f16 value itself (no
// f16 -> f32 -> f16 round trip); a Cast of a value to its own type is a copy: the
// argument itself is returned.
// CHECK-LABEL: func.func @rounded_output(%x: tensor<4xf32>, %h: tensor<4xf16>) -> (tensor<4xf16>, tensor<4xf16>) {
// CHECK-NEXT:    %r = "onnx.Cast"(%x) {to = 10 : i64} : (tensor<4xf32>) -> tensor<4xf16>
// CHECK-NEXT:    func.return %r, %h : tensor<4xf16>, tensor<4xf16>
func.func @rounded_output(%x: tensor<4xf32>, %h: tensor<4xf16>) -> (tensor<4xf16>, tensor<4xf16>) {
  %r = "onnx.Cast"(%x) {to = 10 : i64} : (tensor<4xf32>) -> tensor<4xf16>
  %c = "onnx.Cast"(%h) {to = 10 : i64} : (tensor<4xf16>) -> tensor<4xf16>
  func.return %r, %c : tensor<4xf16>, tensor<4xf16>
}

// Type-naming attributes follow the values: ConstantOfShape's value, EyeLike's dtype,
// RandomNormalLike's dtype; CastLike to f16 becomes a rounding Cast (its like-operand,
// read for its type only, loses its Cast up); integer values are untouched.
// CHECK-LABEL: func.func @attrs(%x: tensor<3x3xf16>, %l: tensor<1xf16>) -> (tensor<2x3xf16>, tensor<3x3xf16>, tensor<3x3xf16>, tensor<3x3xi32>, tensor<3x3xf16>) {
// CHECK-NEXT:    %x_to_f32 = "onnx.Cast"(%x)
// CHECK-NEXT:    %shape = "onnx.Constant"()
// CHECK-NEXT:    %z = "onnx.ConstantOfShape"(%shape) {value = dense<1.500000e+00> : tensor<1xf32>} : (tensor<2xi64>) -> tensor<2x3xf32>
// CHECK-NEXT:    %e = "onnx.EyeLike"(%x_to_f32) {dtype = 1 : i64} : (tensor<3x3xf32>) -> tensor<3x3xf32>
// CHECK-NEXT:    %n = "onnx.RandomNormalLike"(%x_to_f32) {dtype = 1 : i64, seed = 1.000000e+00 : f32} : (tensor<3x3xf32>) -> tensor<3x3xf32>
// CHECK-NEXT:    %i = "onnx.Cast"(%x_to_f32) {to = 6 : i64} : (tensor<3x3xf32>) -> tensor<3x3xi32>
// CHECK-NEXT:    %cl = "onnx.Cast"(%i) {to = 10 : i64} : (tensor<3x3xi32>) -> tensor<3x3xf16>
// CHECK-NEXT:    %z_to_f16 = "onnx.Cast"(%z) {to = 10 : i64, hetc.node = "z/to_f16"}
// CHECK:         func.return %z_to_f16, %e_to_f16, %n_to_f16, %i, %cl :
func.func @attrs(%x: tensor<3x3xf16>, %l: tensor<1xf16>) -> (tensor<2x3xf16>, tensor<3x3xf16>, tensor<3x3xf16>, tensor<3x3xi32>, tensor<3x3xf16>) {
  %shape = "onnx.Constant"() {value = dense<[2, 3]> : tensor<2xi64>} : () -> tensor<2xi64>
  %z = "onnx.ConstantOfShape"(%shape) {value = dense<1.5> : tensor<1xf16>} : (tensor<2xi64>) -> tensor<2x3xf16>
  %e = "onnx.EyeLike"(%x) {dtype = 10 : i64} : (tensor<3x3xf16>) -> tensor<3x3xf16>
  %n = "onnx.RandomNormalLike"(%x) {dtype = 10 : i64, seed = 1.0 : f32} : (tensor<3x3xf16>) -> tensor<3x3xf16>
  %i = "onnx.Cast"(%x) {to = 6 : i64} : (tensor<3x3xf16>) -> tensor<3x3xi32>
  %cl = "onnx.CastLike"(%i, %l) : (tensor<3x3xi32>, tensor<1xf16>) -> tensor<3x3xf16>
  func.return %z, %e, %n, %i, %cl : tensor<2x3xf16>, tensor<3x3xf16>, tensor<3x3xf16>, tensor<3x3xi32>, tensor<3x3xf16>
}

// BitCast reads bits: its operand goes back to f16 first; its f16 result is returned as is.
// CHECK-LABEL: func.func @bits(%x: tensor<4xf16>) -> (tensor<4xi16>, tensor<4xf16>) {
// CHECK:         %y = "onnx.Neg"(%x_to_f32) : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:    %bits_in0_f16 = "onnx.Cast"(%y) {to = 10 : i64, hetc.node = "bits/in0_f16"} : (tensor<4xf32>) -> tensor<4xf16>
// CHECK-NEXT:    %b = "onnx.BitCast"(%bits_in0_f16) {to = 5 : i64} : (tensor<4xf16>) -> tensor<4xi16>
// CHECK-NEXT:    %f = "onnx.BitCast"(%b) {to = 10 : i64} : (tensor<4xi16>) -> tensor<4xf16>
// CHECK-NEXT:    func.return %b, %f : tensor<4xi16>, tensor<4xf16>
func.func @bits(%x: tensor<4xf16>) -> (tensor<4xi16>, tensor<4xf16>) {
  %y = "onnx.Neg"(%x) : (tensor<4xf16>) -> tensor<4xf16>
  %b = "onnx.BitCast"(%y) {to = 5 : i64} : (tensor<4xf16>) -> tensor<4xi16>
  %f = "onnx.BitCast"(%b) {to = 10 : i64} : (tensor<4xi16>) -> tensor<4xf16>
  func.return %b, %f : tensor<4xi16>, tensor<4xf16>
}

// A Cast to f16 of a value that is already a rounded f16 is a copy, not a second rounding.
// CHECK-LABEL: func.func @copy_after_rounding(%x: tensor<4xf32>) -> tensor<4xf16> {
// CHECK-NEXT:    %a = "onnx.Cast"(%x) {to = 10 : i64} : (tensor<4xf32>) -> tensor<4xf16>
// CHECK-NEXT:    %a_to_f32 = "onnx.Cast"(%a) {to = 1 : i64, hetc.node = "a/to_f32"} : (tensor<4xf16>) -> tensor<4xf32>
// CHECK-NEXT:    %n = "onnx.Neg"(%a_to_f32) : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:    %c = "onnx.Add"(%a_to_f32, %n) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT:    %c_to_f16 = "onnx.Cast"(%c)
// CHECK-NEXT:    func.return %c_to_f16 : tensor<4xf16>
func.func @copy_after_rounding(%x: tensor<4xf32>) -> tensor<4xf16> {
  %a = "onnx.Cast"(%x) {to = 10 : i64} : (tensor<4xf32>) -> tensor<4xf16>
  %n = "onnx.Neg"(%a) : (tensor<4xf16>) -> tensor<4xf16>
  %b = "onnx.Cast"(%a) {to = 10 : i64} : (tensor<4xf16>) -> tensor<4xf16>
  %c = "onnx.Add"(%b, %n) : (tensor<4xf16>, tensor<4xf16>) -> tensor<4xf16>
  func.return %c : tensor<4xf16>
}
