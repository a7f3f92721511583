// RUN: hetc-opt %s -p hetc-fold-constants | filecheck %s
// The folded IR still passes shape verification.
// RUN: hetc-opt %s -p hetc-fold-constants,hetc-verify-shapes | filecheck %s --check-prefix=VERIFIED
// VERIFIED: builtin.module

// An op whose inputs are all constants becomes a constant (the inputs are left
// for hetc-dce).
// CHECK-LABEL: func.func @add(
// CHECK-NEXT:    %a = "onnx.Constant"()
// CHECK-NEXT:    %b = "onnx.Constant"()
// CHECK-NEXT:    %c = "onnx.Constant"() {value = dense<[1.500000e+00, 2.250000e+00]> : tensor<2xf32>} : () -> tensor<2xf32>
// CHECK-NEXT:    func.return %c : tensor<2xf32>
func.func @add() -> tensor<2xf32> {
  %a = "onnx.Constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = "onnx.Constant"() {value = dense<[0.5, 0.25]> : tensor<2xf32>} : () -> tensor<2xf32>
  %c = "onnx.Add"(%a, %b) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return %c : tensor<2xf32>
}

// Shape (with start) and Size of a statically shaped value fold although the
// value itself is not constant.
// CHECK-LABEL: func.func @shape_and_size(
// CHECK-NEXT:    %s = "onnx.Constant"() {value = dense<[2, 3, 4]> : tensor<3xi64>} : () -> tensor<3xi64>
// CHECK-NEXT:    %t = "onnx.Constant"() {value = dense<[3, 4]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %u = "onnx.Constant"() {value = dense<3> : tensor<1xi64>} : () -> tensor<1xi64>
// CHECK-NEXT:    %n = "onnx.Constant"() {value = dense<24> : tensor<i64>} : () -> tensor<i64>
// CHECK-NEXT:    func.return %s, %t, %u, %n
func.func @shape_and_size(%x: tensor<2x3x4xf32>) -> (tensor<3xi64>, tensor<2xi64>, tensor<1xi64>, tensor<i64>) {
  %s = "onnx.Shape"(%x) : (tensor<2x3x4xf32>) -> tensor<3xi64>
  %t = "onnx.Shape"(%x) {start = -2 : i64} : (tensor<2x3x4xf32>) -> tensor<2xi64>
  %u = "onnx.Shape"(%x) {start = 1 : i64, end = -1 : i64} : (tensor<2x3x4xf32>) -> tensor<1xi64>
  %n = "onnx.Size"(%x) : (tensor<2x3x4xf32>) -> tensor<i64>
  func.return %s, %t, %u, %n : tensor<3xi64>, tensor<2xi64>, tensor<1xi64>, tensor<i64>
}

// Exporter shape arithmetic (Shape -> Gather -> Concat) folds in one run, leaving
// the Reshape with a constant shape operand.
// CHECK-LABEL: func.func @shape_chain(
// CHECK-NOT:     onnx.Shape"
// CHECK-NOT:     onnx.Gather
// CHECK-NOT:     onnx.Concat
// CHECK:         %c = "onnx.Constant"() {value = dense<[2, -1]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %y = "onnx.Reshape"(%x, %c) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x12xf32>
// CHECK-NEXT:    func.return %y
func.func @shape_chain(%x: tensor<2x3x4xf32>) -> tensor<2x12xf32> {
  %s = "onnx.Shape"(%x) : (tensor<2x3x4xf32>) -> tensor<3xi64>
  %i = "onnx.Constant"() {value = dense<0> : tensor<1xi64>} : () -> tensor<1xi64>
  %d = "onnx.Gather"(%s, %i) {axis = 0 : i64} : (tensor<3xi64>, tensor<1xi64>) -> tensor<1xi64>
  %m = "onnx.Constant"() {value = dense<-1> : tensor<1xi64>} : () -> tensor<1xi64>
  %c = "onnx.Concat"(%d, %m) {axis = 0 : i64} : (tensor<1xi64>, tensor<1xi64>) -> tensor<2xi64>
  %y = "onnx.Reshape"(%x, %c) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x12xf32>
  func.return %y : tensor<2x12xf32>
}

// Element types other than f32: i64 -> bool Cast.
// CHECK-LABEL: func.func @cast_to_bool(
// CHECK:         %b = "onnx.Constant"() {value = dense<[false, true, true]> : tensor<3xi1>} : () -> tensor<3xi1>
// CHECK-NEXT:    func.return %b
func.func @cast_to_bool() -> tensor<3xi1> {
  %a = "onnx.Constant"() {value = dense<[0, 1, 2]> : tensor<3xi64>} : () -> tensor<3xi64>
  %b = "onnx.Cast"(%a) {to = 9 : i64} : (tensor<3xi64>) -> tensor<3xi1>
  func.return %b : tensor<3xi1>
}

// Splat, bool, f16 and wrapping ui8 constants fold with their own element types.
// CHECK-LABEL: func.func @element_types(
// CHECK-DAG:     %b = "onnx.Constant"() {value = dense<[false, true, false]> : tensor<3xi1>} : () -> tensor<3xi1>
// CHECK-DAG:     %d = "onnx.Constant"() {value = dense<8> : tensor<3xi64>} : () -> tensor<3xi64>
// CHECK-DAG:     %h2 = "onnx.Constant"() {value = dense<[2.250000e+00, 4.000000e+00]> : tensor<2xf16>} : () -> tensor<2xf16>
// CHECK-DAG:     %u2 = "onnx.Constant"() {value = dense<[144, 200]> : tensor<2xui8>} : () -> tensor<2xui8>
// CHECK-NOT:     onnx.Not
// CHECK-NOT:     onnx.Add
// CHECK-NOT:     onnx.Mul
// CHECK:         func.return %b, %d, %h2, %u2
func.func @element_types() -> (tensor<3xi1>, tensor<3xi64>, tensor<2xf16>, tensor<2xui8>) {
  %a = "onnx.Constant"() {value = dense<[true, false, true]> : tensor<3xi1>} : () -> tensor<3xi1>
  %b = "onnx.Not"(%a) : (tensor<3xi1>) -> tensor<3xi1>
  %c = "onnx.Constant"() {value = dense<4> : tensor<3xi64>} : () -> tensor<3xi64>
  %d = "onnx.Add"(%c, %c) : (tensor<3xi64>, tensor<3xi64>) -> tensor<3xi64>
  %h = "onnx.Constant"() {value = dense<[1.5, -2.0]> : tensor<2xf16>} : () -> tensor<2xf16>
  %h2 = "onnx.Mul"(%h, %h) : (tensor<2xf16>, tensor<2xf16>) -> tensor<2xf16>
  %u = "onnx.Constant"() {value = dense<[200, 100]> : tensor<2xui8>} : () -> tensor<2xui8>
  %u2 = "onnx.Add"(%u, %u) : (tensor<2xui8>, tensor<2xui8>) -> tensor<2xui8>
  func.return %b, %d, %h2, %u2 : tensor<3xi1>, tensor<3xi64>, tensor<2xf16>, tensor<2xui8>
}

// Integer Div truncates toward zero, as ONNX (not NumPy's floor division) says.
// CHECK-LABEL: func.func @int_div(
// CHECK:         %q = "onnx.Constant"() {value = dense<-3> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    func.return %q
func.func @int_div() -> tensor<2xi64> {
  %a = "onnx.Constant"() {value = dense<[-7, 7]> : tensor<2xi64>} : () -> tensor<2xi64>
  %b = "onnx.Constant"() {value = dense<[2, -2]> : tensor<2xi64>} : () -> tensor<2xi64>
  %q = "onnx.Div"(%a, %b) : (tensor<2xi64>, tensor<2xi64>) -> tensor<2xi64>
  func.return %q : tensor<2xi64>
}

// An absent optional input (NoValue) does not stop folding.
// CHECK-LABEL: func.func @novalue_input(
// CHECK:         %y = "onnx.Constant"() {value = dense<[-1.000000e+00, 5.000000e-01, 1.000000e+00]> : tensor<3xf32>} : () -> tensor<3xf32>
// CHECK-NEXT:    func.return %y
func.func @novalue_input() -> tensor<3xf32> {
  %a = "onnx.Constant"() {value = dense<[-1.0, 0.5, 7.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %n = "onnx.NoValue"() : () -> none
  %m = "onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %y = "onnx.Clip"(%a, %n, %m) : (tensor<3xf32>, none, tensor<f32>) -> tensor<3xf32>
  func.return %y : tensor<3xf32>
}

// Multi-result op: only used results get a constant, and the op goes.
// CHECK-LABEL: func.func @topk_indices_only(
// CHECK-NOT:     onnx.TopK
// CHECK:         %i = "onnx.Constant"() {value = dense<[0, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    func.return %i
func.func @topk_indices_only() -> tensor<2xi64> {
  %a = "onnx.Constant"() {value = dense<[3.0, 1.0, 2.0]> : tensor<3xf32>} : () -> tensor<3xf32>
  %k = "onnx.Constant"() {value = dense<2> : tensor<1xi64>} : () -> tensor<1xi64>
  %v, %i = "onnx.TopK"(%a, %k) : (tensor<3xf32>, tensor<1xi64>) -> (tensor<2xf32>, tensor<2xi64>)
  func.return %i : tensor<2xi64>
}

// Growing a constant is fine while it stays small.
// CHECK-LABEL: func.func @small_growth(
// CHECK:         %r = "onnx.Constant"() {value = dense<0.000000e+00> : tensor<4xf32>} : () -> tensor<4xf32>
// CHECK-NEXT:    func.return %r
func.func @small_growth() -> tensor<4xf32> {
  %s = "onnx.Constant"() {value = dense<4> : tensor<1xi64>} : () -> tensor<1xi64>
  %r = "onnx.ConstantOfShape"(%s) : (tensor<1xi64>) -> tensor<4xf32>
  func.return %r : tensor<4xf32>
}

// Not folded: one input is not constant.
// CHECK-LABEL: func.func @not_constant(
// CHECK-NEXT:    %a = "onnx.Constant"()
// CHECK-NEXT:    %c = "onnx.Add"(%a, %x) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
// CHECK-NEXT:    func.return %c
func.func @not_constant(%x: tensor<2xf32>) -> tensor<2xf32> {
  %a = "onnx.Constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %c = "onnx.Add"(%a, %x) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  func.return %c : tensor<2xf32>
}

// Not folded: random ops are not functions of their inputs.
// CHECK-LABEL: func.func @random(
// CHECK:         %r = "onnx.RandomUniformLike"(%a) : (tensor<2xf32>) -> tensor<2xf32>
// CHECK-NEXT:    func.return %r
func.func @random() -> tensor<2xf32> {
  %a = "onnx.Constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %r = "onnx.RandomUniformLike"(%a) : (tensor<2xf32>) -> tensor<2xf32>
  func.return %r : tensor<2xf32>
}

// Not folded: the result would grow the weights past the limit (65536 elements).
// CHECK-LABEL: func.func @too_big(
// CHECK:         %r = "onnx.ConstantOfShape"(%s) : (tensor<1xi64>) -> tensor<70000xf32>
// CHECK-NEXT:    func.return %r
func.func @too_big() -> tensor<70000xf32> {
  %s = "onnx.Constant"() {value = dense<70000> : tensor<1xi64>} : () -> tensor<1xi64>
  %r = "onnx.ConstantOfShape"(%s) : (tensor<1xi64>) -> tensor<70000xf32>
  func.return %r : tensor<70000xf32>
}

// Not folded: the kernel's result (int32 for to = INT32) disagrees with the
// declared type, so the op is kept rather than replaced by a mistyped constant.
// CHECK-LABEL: func.func @declared_type_disagrees(
// CHECK:         %b = "onnx.Cast"(%a) {to = 6 : i64} : (tensor<2xf32>) -> tensor<2xi64>
// CHECK-NEXT:    func.return %b
func.func @declared_type_disagrees() -> tensor<2xi64> {
  %a = "onnx.Constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = "onnx.Cast"(%a) {to = 6 : i64} : (tensor<2xf32>) -> tensor<2xi64>
  func.return %b : tensor<2xi64>
}
