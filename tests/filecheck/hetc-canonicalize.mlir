// RUN: hetc-opt %s -p hetc-canonicalize | filecheck %s
// The result must still pass shape verification.
// RUN: hetc-opt %s -p hetc-canonicalize,hetc-verify-shapes | filecheck %s --check-prefix=VERIFIED
// VERIFIED: builtin.module

// Identity is replaced by its input.
// CHECK-LABEL: func.func @identity(
// CHECK-NEXT:    %z = "onnx.Relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    func.return %z
func.func @identity(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %y = "onnx.Identity"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %z = "onnx.Relu"(%y) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %z : tensor<2x3xf32>
}

// Cast / CastLike to the type the value already has disappear; a real Cast stays.
// CHECK-LABEL: func.func @cast(
// CHECK-NEXT:    %b = "onnx.Cast"(%x) {to = 10 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf16>
// CHECK-NEXT:    func.return %x, %b, %x : tensor<2x3xf32>, tensor<2x3xf16>, tensor<2x3xf32>
func.func @cast(%x: tensor<2x3xf32>, %l: tensor<1xf32>) -> (tensor<2x3xf32>, tensor<2x3xf16>, tensor<2x3xf32>) {
  %a = "onnx.Cast"(%x) {to = 1 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %b = "onnx.Cast"(%x) {to = 10 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf16>
  %c = "onnx.CastLike"(%x, %l) : (tensor<2x3xf32>, tensor<1xf32>) -> tensor<2x3xf32>
  func.return %a, %b, %c : tensor<2x3xf32>, tensor<2x3xf16>, tensor<2x3xf32>
}

// A real CastLike becomes a Cast to the like-input's element type, keeping saturate.
// CHECK-LABEL: func.func @castlike(
// CHECK-NEXT:    %y = "onnx.Cast"(%x) {to = 17 : i64, saturate = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf8E4M3FN>
// CHECK-NEXT:    func.return %y
func.func @castlike(%x: tensor<2x3xf32>, %l: tensor<0xf8E4M3FN>) -> tensor<2x3xf8E4M3FN> {
  %y = "onnx.CastLike"(%x, %l) {saturate = 0 : i64} : (tensor<2x3xf32>, tensor<0xf8E4M3FN>) -> tensor<2x3xf8E4M3FN>
  func.return %y : tensor<2x3xf8E4M3FN>
}

// Expand to the same shape disappears (even with a non-constant shape); a real
// broadcast stays.
// CHECK-LABEL: func.func @expand(
// CHECK-NEXT:    %t = "onnx.Constant"() {value = dense<[4, 2, 3]> : tensor<3xi64>} : () -> tensor<3xi64>
// CHECK-NEXT:    %b = "onnx.Expand"(%x, %t) : (tensor<2x3xf32>, tensor<3xi64>) -> tensor<4x2x3xf32>
// CHECK-NEXT:    func.return %x, %b : tensor<2x3xf32>, tensor<4x2x3xf32>
func.func @expand(%x: tensor<2x3xf32>, %s: tensor<2xi64>) -> (tensor<2x3xf32>, tensor<4x2x3xf32>) {
  %a = "onnx.Expand"(%x, %s) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  %t = "onnx.Constant"() {value = dense<[4, 2, 3]> : tensor<3xi64>} : () -> tensor<3xi64>
  %b = "onnx.Expand"(%x, %t) : (tensor<2x3xf32>, tensor<3xi64>) -> tensor<4x2x3xf32>
  func.return %a, %b : tensor<2x3xf32>, tensor<4x2x3xf32>
}

// Dropout without training_mode is inference: the identity.
// CHECK-LABEL: func.func @dropout_inference(
// CHECK-NEXT:    func.return %x : tensor<2x3xf32>
func.func @dropout_inference(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %y = "onnx.Dropout"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// training_mode = constant false, mask result present but unused: still the identity.
// (The now-dead constants are left for hetc-dce.)
// CHECK-LABEL: func.func @dropout_training_false(
// CHECK-NOT:     onnx.Dropout
// CHECK:         func.return %x : tensor<2x3xf32>
func.func @dropout_training_false(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %r = "onnx.Constant"() {value = dense<5.000000e-01> : tensor<f32>} : () -> tensor<f32>
  %t = "onnx.Constant"() {value = dense<false> : tensor<i1>} : () -> tensor<i1>
  %y, %m = "onnx.Dropout"(%x, %r, %t) : (tensor<2x3xf32>, tensor<f32>, tensor<i1>) -> (tensor<2x3xf32>, tensor<2x3xi1>)
  func.return %y : tensor<2x3xf32>
}

// Not rewritten: the mask is used.
// CHECK-LABEL: func.func @dropout_mask_used(
// CHECK-NEXT:    %y, %m = "onnx.Dropout"(%x) : (tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xi1>)
// CHECK-NEXT:    func.return %y, %m
func.func @dropout_mask_used(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xi1>) {
  %y, %m = "onnx.Dropout"(%x) : (tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xi1>)
  func.return %y, %m : tensor<2x3xf32>, tensor<2x3xi1>
}

// Not rewritten: training_mode is not known at compile time.
// CHECK-LABEL: func.func @dropout_training_unknown(
// CHECK-NEXT:    %n = "onnx.NoValue"() : () -> none
// CHECK-NEXT:    %y = "onnx.Dropout"(%x, %n, %t) : (tensor<2x3xf32>, none, tensor<i1>) -> tensor<2x3xf32>
// CHECK-NEXT:    func.return %y
func.func @dropout_training_unknown(%x: tensor<2x3xf32>, %t: tensor<i1>) -> tensor<2x3xf32> {
  %n = "onnx.NoValue"() : () -> none
  %y = "onnx.Dropout"(%x, %n, %t) : (tensor<2x3xf32>, none, tensor<i1>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// Not rewritten: training_mode is constant true.
// CHECK-LABEL: func.func @dropout_training_true(
// CHECK:         %y = "onnx.Dropout"(%x, %n, %t)
// CHECK-NEXT:    func.return %y
func.func @dropout_training_true(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %n = "onnx.NoValue"() : () -> none
  %t = "onnx.Constant"() {value = dense<true> : tensor<i1>} : () -> tensor<i1>
  %y = "onnx.Dropout"(%x, %n, %t) : (tensor<2x3xf32>, none, tensor<i1>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// Concat of one input is that input; of two it stays.
// CHECK-LABEL: func.func @concat_single(
// CHECK-NEXT:    func.return %x : tensor<2x3xf32>
func.func @concat_single(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %y = "onnx.Concat"(%x) {axis = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// CHECK-LABEL: func.func @concat_two(
// CHECK-NEXT:    %y = "onnx.Concat"(%x, %x) {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
// CHECK-NEXT:    func.return %y
func.func @concat_two(%x: tensor<2x3xf32>) -> tensor<4x3xf32> {
  %y = "onnx.Concat"(%x, %x) {axis = 0 : i64} : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<4x3xf32>
  func.return %y : tensor<4x3xf32>
}

// Squeeze / Unsqueeze / Flatten become Reshape to a constant shape; the node name
// moves to the Reshape.
// CHECK-LABEL: func.func @squeeze(
// CHECK-NEXT:    %ax = "onnx.Constant"() {value = dense<[0, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %shape = "onnx.Constant"() {value = dense<3> : tensor<1xi64>} : () -> tensor<1xi64>
// CHECK-NEXT:    %y = "onnx.Reshape"(%x, %shape) {hetc.node = "sq"} : (tensor<1x3x1xf32>, tensor<1xi64>) -> tensor<3xf32>
// CHECK-NEXT:    func.return %y
func.func @squeeze(%x: tensor<1x3x1xf32>) -> tensor<3xf32> {
  %ax = "onnx.Constant"() {value = dense<[0, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
  %y = "onnx.Squeeze"(%x, %ax) {hetc.node = "sq"} : (tensor<1x3x1xf32>, tensor<2xi64>) -> tensor<3xf32>
  func.return %y : tensor<3xf32>
}

// CHECK-LABEL: func.func @unsqueeze(
// CHECK-NOT:     onnx.Unsqueeze
// CHECK:         %shape = "onnx.Constant"() {value = dense<[1, 3]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %y = "onnx.Reshape"(%x, %shape) : (tensor<3xf32>, tensor<2xi64>) -> tensor<1x3xf32>
// CHECK-NEXT:    func.return %y
func.func @unsqueeze(%x: tensor<3xf32>) -> tensor<1x3xf32> {
  %ax = "onnx.Constant"() {value = dense<0> : tensor<1xi64>} : () -> tensor<1xi64>
  %y = "onnx.Unsqueeze"(%x, %ax) : (tensor<3xf32>, tensor<1xi64>) -> tensor<1x3xf32>
  func.return %y : tensor<1x3xf32>
}

// CHECK-LABEL: func.func @flatten(
// CHECK-NEXT:    %shape = "onnx.Constant"() {value = dense<[2, 12]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %y = "onnx.Reshape"(%x, %shape) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x12xf32>
// CHECK-NEXT:    func.return %y
func.func @flatten(%x: tensor<2x3x4xf32>) -> tensor<2x12xf32> {
  %y = "onnx.Flatten"(%x) {axis = 1 : i64} : (tensor<2x3x4xf32>) -> tensor<2x12xf32>
  func.return %y : tensor<2x12xf32>
}

// A zero-sized target needs allowzero = 1, or the 0 would mean "copy the input dim".
// CHECK-LABEL: func.func @unsqueeze_zero(
// CHECK:         %shape = "onnx.Constant"() {value = dense<[0, 1, 3]> : tensor<3xi64>} : () -> tensor<3xi64>
// CHECK-NEXT:    %y = "onnx.Reshape"(%x, %shape) {allowzero = 1 : i64} : (tensor<0x3xf32>, tensor<3xi64>) -> tensor<0x1x3xf32>
// CHECK-NEXT:    func.return %y
func.func @unsqueeze_zero(%x: tensor<0x3xf32>) -> tensor<0x1x3xf32> {
  %ax = "onnx.Constant"() {value = dense<1> : tensor<1xi64>} : () -> tensor<1xi64>
  %y = "onnx.Unsqueeze"(%x, %ax) : (tensor<0x3xf32>, tensor<1xi64>) -> tensor<0x1x3xf32>
  func.return %y : tensor<0x1x3xf32>
}

// Reshape to the shape the input already has disappears.
// CHECK-LABEL: func.func @reshape_same(
// CHECK-NEXT:    func.return %x : tensor<2x3xf32>
func.func @reshape_same(%x: tensor<2x3xf32>, %s: tensor<2xi64>) -> tensor<2x3xf32> {
  %y = "onnx.Reshape"(%x, %s) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// A run-time shape operand is replaced by the static result shape.
// CHECK-LABEL: func.func @reshape_runtime_shape(
// CHECK-NEXT:    %shape = "onnx.Constant"() {value = dense<[3, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %y = "onnx.Reshape"(%x, %shape) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<3x2xf32>
// CHECK-NEXT:    func.return %y
func.func @reshape_runtime_shape(%x: tensor<2x3xf32>, %s: tensor<2xi64>) -> tensor<3x2xf32> {
  %y = "onnx.Reshape"(%x, %s) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<3x2xf32>
  func.return %y : tensor<3x2xf32>
}

// So is a constant shape with -1 in it.
// CHECK-LABEL: func.func @reshape_minus_one(
// CHECK-NEXT:    %s = "onnx.Constant"() {value = dense<[-1, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %shape = "onnx.Constant"() {value = dense<[3, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %y = "onnx.Reshape"(%x, %shape) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<3x2xf32>
// CHECK-NEXT:    func.return %y
func.func @reshape_minus_one(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %s = "onnx.Constant"() {value = dense<[-1, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
  %y = "onnx.Reshape"(%x, %s) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<3x2xf32>
  func.return %y : tensor<3x2xf32>
}

// Not rewritten: the Reshape is already canonical.
// CHECK-LABEL: func.func @reshape_canonical(
// CHECK-NEXT:    %s = "onnx.Constant"() {value = dense<[3, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %y = "onnx.Reshape"(%x, %s) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<3x2xf32>
// CHECK-NEXT:    func.return %y
func.func @reshape_canonical(%x: tensor<2x3xf32>) -> tensor<3x2xf32> {
  %s = "onnx.Constant"() {value = dense<[3, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
  %y = "onnx.Reshape"(%x, %s) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<3x2xf32>
  func.return %y : tensor<3x2xf32>
}

// Reshape of Reshape reads the original input (the inner one is left for hetc-dce).
// CHECK-LABEL: func.func @reshape_reshape(
// CHECK:         %shape = "onnx.Constant"() {value = dense<[4, 6]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %b = "onnx.Reshape"(%x, %shape) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<4x6xf32>
// CHECK-NEXT:    func.return %b
func.func @reshape_reshape(%x: tensor<2x3x4xf32>) -> tensor<4x6xf32> {
  %s1 = "onnx.Constant"() {value = dense<[6, 4]> : tensor<2xi64>} : () -> tensor<2xi64>
  %a = "onnx.Reshape"(%x, %s1) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<6x4xf32>
  %s2 = "onnx.Constant"() {value = dense<[4, 6]> : tensor<2xi64>} : () -> tensor<2xi64>
  %b = "onnx.Reshape"(%a, %s2) : (tensor<6x4xf32>, tensor<2xi64>) -> tensor<4x6xf32>
  func.return %b : tensor<4x6xf32>
}

// Flatten, then Reshape back to the input shape: the Flatten becomes a Reshape,
// Reshape-of-Reshape collapses, and the collapsed Reshape to the same shape goes,
// all in one run (the pass iterates to a fixed point).
// CHECK-LABEL: func.func @round_trip_shape(
// CHECK-NOT:     onnx.Flatten
// CHECK:         %f = "onnx.Reshape"(%x, %shape) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<1x6xf32>
// CHECK-NOT:     onnx.Reshape
// CHECK:         func.return %x : tensor<2x3xf32>
func.func @round_trip_shape(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %f = "onnx.Flatten"(%x) {axis = 0 : i64} : (tensor<2x3xf32>) -> tensor<1x6xf32>
  %s = "onnx.Constant"() {value = dense<[2, 3]> : tensor<2xi64>} : () -> tensor<2xi64>
  %y = "onnx.Reshape"(%f, %s) : (tensor<1x6xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// An identity permutation disappears.
// CHECK-LABEL: func.func @transpose_identity(
// CHECK-NEXT:    func.return %x : tensor<2x3xf32>
func.func @transpose_identity(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %y = "onnx.Transpose"(%x) {perm = array<i64: 0, 1>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// Two Transposes that compose to the identity: the outer use reads %x.
// CHECK-LABEL: func.func @transpose_cancel(
// CHECK-NEXT:    %a = "onnx.Transpose"(%x) {perm = array<i64: 1, 2, 0>}
// CHECK-NEXT:    func.return %x : tensor<2x3x4xf32>
func.func @transpose_cancel(%x: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
  %a = "onnx.Transpose"(%x) {perm = array<i64: 1, 2, 0>} : (tensor<2x3x4xf32>) -> tensor<3x4x2xf32>
  %b = "onnx.Transpose"(%a) {perm = array<i64: 2, 0, 1>} : (tensor<3x4x2xf32>) -> tensor<2x3x4xf32>
  func.return %b : tensor<2x3x4xf32>
}

// Without perm, Transpose reverses the axes: twice is the identity.
// CHECK-LABEL: func.func @transpose_default_cancel(
// CHECK-NEXT:    %a = "onnx.Transpose"(%x) : (tensor<2x3xf32>) -> tensor<3x2xf32>
// CHECK-NEXT:    func.return %x : tensor<2x3xf32>
func.func @transpose_default_cancel(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %a = "onnx.Transpose"(%x) : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %b = "onnx.Transpose"(%a) : (tensor<3x2xf32>) -> tensor<2x3xf32>
  func.return %b : tensor<2x3xf32>
}

// Composing to a non-identity: one Transpose of %x with perm[i] = inner[outer[i]].
// CHECK-LABEL: func.func @transpose_compose(
// CHECK-NEXT:    %a = "onnx.Transpose"(%x) {perm = array<i64: 1, 0, 2>} : (tensor<2x3x4xf32>) -> tensor<3x2x4xf32>
// CHECK-NEXT:    %b = "onnx.Transpose"(%x) {perm = array<i64: 2, 1, 0>} : (tensor<2x3x4xf32>) -> tensor<4x3x2xf32>
// CHECK-NEXT:    func.return %b
func.func @transpose_compose(%x: tensor<2x3x4xf32>) -> tensor<4x3x2xf32> {
  %a = "onnx.Transpose"(%x) {perm = array<i64: 1, 0, 2>} : (tensor<2x3x4xf32>) -> tensor<3x2x4xf32>
  %b = "onnx.Transpose"(%a) {perm = array<i64: 2, 0, 1>} : (tensor<3x2x4xf32>) -> tensor<4x3x2xf32>
  func.return %b : tensor<4x3x2xf32>
}

// Not rewritten: a lone non-identity Transpose.
// CHECK-LABEL: func.func @transpose_single(
// CHECK-NEXT:    %a = "onnx.Transpose"(%x) {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
// CHECK-NEXT:    func.return %a
func.func @transpose_single(%x: tensor<2x3x4xf32>) -> tensor<4x2x3xf32> {
  %a = "onnx.Transpose"(%x) {perm = array<i64: 2, 0, 1>} : (tensor<2x3x4xf32>) -> tensor<4x2x3xf32>
  func.return %a : tensor<4x2x3xf32>
}

// Nothing is rewritten when the result is unused (removing it is hetc-dce's job).
// CHECK-LABEL: func.func @unused(
// CHECK-NEXT:    %y = "onnx.Identity"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    func.return %x
func.func @unused(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %y = "onnx.Identity"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %x : tensor<2x3xf32>
}

// GELU's erf form as torch.nn.GELU exports it: one Gelu (the written-out ops are left
// for hetc-dce).
// CHECK-LABEL: func.func @gelu_torch(
// CHECK:         %y = "onnx.Gelu"(%x) : (tensor<2x8xf32>) -> tensor<2x8xf32>
// CHECK-NEXT:    func.return %y
func.func @gelu_torch(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %s = "onnx.Constant"() {value = dense<1.41421354> : tensor<f32>} : () -> tensor<f32>
  %one = "onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %h = "onnx.Constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
  %d = "onnx.Div"(%x, %s) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %e = "onnx.Erf"(%d) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %a = "onnx.Add"(%e, %one) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %m = "onnx.Mul"(%x, %a) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = "onnx.Mul"(%m, %h) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  func.return %y : tensor<2x8xf32>
}

// The other order (0.5 * x first, x * (1 / sqrt 2), 1 + erf): one Gelu too.
// CHECK-LABEL: func.func @gelu_hf(
// CHECK:         %y = "onnx.Gelu"(%x) : (tensor<2x8xf32>) -> tensor<2x8xf32>
// CHECK-NEXT:    func.return %y
func.func @gelu_hf(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %r = "onnx.Constant"() {value = dense<0.707106769> : tensor<f32>} : () -> tensor<f32>
  %one = "onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %h = "onnx.Constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
  %hx = "onnx.Mul"(%h, %x) : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %d = "onnx.Mul"(%x, %r) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %e = "onnx.Erf"(%d) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %a = "onnx.Add"(%one, %e) : (tensor<f32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = "onnx.Mul"(%hx, %a) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  func.return %y : tensor<2x8xf32>
}

// Not GELU: another constant (0.4), or an intermediate (the erf) read elsewhere too.
// CHECK-LABEL: func.func @not_gelu(
// CHECK-NOT:     onnx.Gelu
// CHECK:         func.return %y, %y2, %e2
func.func @not_gelu(%x: tensor<2x8xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>) {
  %s = "onnx.Constant"() {value = dense<1.41421354> : tensor<f32>} : () -> tensor<f32>
  %one = "onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %h = "onnx.Constant"() {value = dense<0.4> : tensor<f32>} : () -> tensor<f32>
  %h5 = "onnx.Constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
  %d = "onnx.Div"(%x, %s) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %e = "onnx.Erf"(%d) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %a = "onnx.Add"(%e, %one) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %m = "onnx.Mul"(%x, %a) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y = "onnx.Mul"(%m, %h) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %d2 = "onnx.Div"(%x, %s) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %e2 = "onnx.Erf"(%d2) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %a2 = "onnx.Add"(%e2, %one) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %m2 = "onnx.Mul"(%x, %a2) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %y2 = "onnx.Mul"(%m2, %h5) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  func.return %y, %y2, %e2 : tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>
}

// GPT-2's gelu_new (the tanh form) as Hugging Face exports it: Gelu, approximate = "tanh".
// CHECK-LABEL: func.func @gelu_tanh(
// CHECK:         %y = "onnx.Gelu"(%x) {approximate = "tanh"} : (tensor<2x8xf32>) -> tensor<2x8xf32>
// CHECK-NEXT:    func.return %y
func.func @gelu_tanh(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %h = "onnx.Constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
  %three = "onnx.Constant"() {value = dense<3.0> : tensor<f32>} : () -> tensor<f32>
  %k = "onnx.Constant"() {value = dense<0.044715> : tensor<f32>} : () -> tensor<f32>
  %c = "onnx.Constant"() {value = dense<0.797884583> : tensor<f32>} : () -> tensor<f32>
  %one = "onnx.Constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %hx = "onnx.Mul"(%x, %h) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %p = "onnx.Pow"(%x, %three) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %kp = "onnx.Mul"(%p, %k) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %s = "onnx.Add"(%x, %kp) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  %cs = "onnx.Mul"(%s, %c) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %t = "onnx.Tanh"(%cs) : (tensor<2x8xf32>) -> tensor<2x8xf32>
  %a = "onnx.Add"(%t, %one) : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xf32>
  %y = "onnx.Mul"(%hx, %a) : (tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  func.return %y : tensor<2x8xf32>
}

// An activation of a Reshape nothing else reads goes before it (next to its producer, so
// that it can fuse into that GEMM's store); a Reshape read twice stays where it is.
// CHECK-LABEL: func.func @activation_before_reshape(
// CHECK:         %{{.*}} = "onnx.Gelu"(%x) {approximate = "tanh"} : (tensor<6x8xf32>) -> tensor<6x8xf32>
// CHECK:         %y = "onnx.Reshape"(%{{.*}}, %{{.*}}) : (tensor<6x8xf32>, tensor<3xi64>) -> tensor<2x3x8xf32>
// CHECK:         %z = "onnx.Relu"(%r2) : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
// CHECK-NEXT:    func.return %y, %z, %r2
func.func @activation_before_reshape(%x: tensor<6x8xf32>, %w: tensor<6x8xf32>) -> (tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>) {
  %s = "onnx.Constant"() {value = dense<[2, 3, 8]> : tensor<3xi64>} : () -> tensor<3xi64>
  %r = "onnx.Reshape"(%x, %s) : (tensor<6x8xf32>, tensor<3xi64>) -> tensor<2x3x8xf32>
  %y = "onnx.Gelu"(%r) {approximate = "tanh"} : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  %r2 = "onnx.Reshape"(%w, %s) : (tensor<6x8xf32>, tensor<3xi64>) -> tensor<2x3x8xf32>
  %z = "onnx.Relu"(%r2) : (tensor<2x3x8xf32>) -> tensor<2x3x8xf32>
  func.return %y, %z, %r2 : tensor<2x3x8xf32>, tensor<2x3x8xf32>, tensor<2x3x8xf32>
}
