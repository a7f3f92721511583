// RUN: hetc-opt %s -p hetc-decompose | filecheck %s
// The decomposed IR still passes shape verification.
// RUN: hetc-opt %s -p hetc-decompose,hetc-verify-shapes | filecheck %s --check-prefix=VERIFIED
// VERIFIED: builtin.module
// The ops option picks what to decompose.
// RUN: hetc-opt %s -p 'hetc-decompose{ops=Softmax}' | filecheck %s --check-prefix=ONLY-SOFTMAX

// Plain Gemm is a MatMul carrying the node's name.
// CHECK-LABEL: func.func @gemm_plain(
// CHECK-NEXT:    %y = "onnx.MatMul"(%a, %b) {hetc.node = "g0"} : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    func.return %y
// ONLY-SOFTMAX-LABEL: func.func @gemm_plain(
// ONLY-SOFTMAX-NEXT:    "onnx.Gemm"
func.func @gemm_plain(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %y = "onnx.Gemm"(%a, %b) {hetc.node = "g0"} : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  func.return %y : tensor<2x4xf32>
}

// transA / transB / alpha / beta / C: Transpose, Transpose, MatMul, Mul alpha,
// Mul C by beta, Add.
// CHECK-LABEL: func.func @gemm_full(
// CHECK-NEXT:    %0 = "onnx.Transpose"(%a) {perm = array<i64: 1, 0>} : (tensor<3x2xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %1 = "onnx.Transpose"(%b) {perm = array<i64: 1, 0>} : (tensor<4x3xf32>) -> tensor<3x4xf32>
// CHECK-NEXT:    %2 = "onnx.MatMul"(%0, %1) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    %alpha = "onnx.Constant"() {value = dense<2.000000e+00> : tensor<f32>} : () -> tensor<f32>
// CHECK-NEXT:    %3 = "onnx.Mul"(%2, %alpha) : (tensor<2x4xf32>, tensor<f32>) -> tensor<2x4xf32>
// CHECK-NEXT:    %beta = "onnx.Constant"() {value = dense<5.000000e-01> : tensor<f32>} : () -> tensor<f32>
// CHECK-NEXT:    %4 = "onnx.Mul"(%c, %beta) : (tensor<4xf32>, tensor<f32>) -> tensor<4xf32>
// CHECK-NEXT:    %y = "onnx.Add"(%3, %4) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    func.return %y
func.func @gemm_full(%a: tensor<3x2xf32>, %b: tensor<4x3xf32>, %c: tensor<4xf32>) -> tensor<2x4xf32> {
  %y = "onnx.Gemm"(%a, %b, %c) {alpha = 2.0 : f32, beta = 0.5 : f32, transA = 1 : i64, transB = 1 : i64} : (tensor<3x2xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  func.return %y : tensor<2x4xf32>
}

// beta = 1: C is added as is; an absent C (NoValue) or beta = 0 adds nothing.
// CHECK-LABEL: func.func @gemm_bias(
// CHECK-NEXT:    %0 = "onnx.MatMul"(%a, %b) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    %y = "onnx.Add"(%0, %c) : (tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    %n = "onnx.NoValue"() : () -> none
// CHECK-NEXT:    %z = "onnx.MatMul"(%a, %b) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    %w = "onnx.MatMul"(%a, %b) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    func.return %y, %z, %w
func.func @gemm_bias(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>, %c: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) {
  %y = "onnx.Gemm"(%a, %b, %c) : (tensor<2x3xf32>, tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %n = "onnx.NoValue"() : () -> none
  %z = "onnx.Gemm"(%a, %b, %n) : (tensor<2x3xf32>, tensor<3x4xf32>, none) -> tensor<2x4xf32>
  %w = "onnx.Gemm"(%a, %b, %c) {beta = 0.0 : f32} : (tensor<2x3xf32>, tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %y, %z, %w : tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>
}

// LayerNormalization over axes 1..2: (x - mean) / sqrt(var + eps) * scale + bias.
// CHECK-LABEL: func.func @layernorm(
// CHECK-NEXT:    %axes = "onnx.Constant"() {value = dense<[1, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %0 = "onnx.ReduceMean"(%x, %axes) {keepdims = 1 : i64, hetc.node = "ln"} : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x1x1xf32>
// CHECK-NEXT:    %1 = "onnx.Sub"(%x, %0) {hetc.node = "ln"} : (tensor<2x3x4xf32>, tensor<2x1x1xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    %2 = "onnx.Mul"(%1, %1) {hetc.node = "ln"} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    %3 = "onnx.ReduceMean"(%2, %axes) {keepdims = 1 : i64, hetc.node = "ln"} : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x1x1xf32>
// CHECK-NEXT:    %eps = "onnx.Constant"() {value = dense<1.000000e-03> : tensor<f32>} : () -> tensor<f32>
// CHECK-NEXT:    %4 = "onnx.Add"(%3, %eps) {hetc.node = "ln"} : (tensor<2x1x1xf32>, tensor<f32>) -> tensor<2x1x1xf32>
// CHECK-NEXT:    %5 = "onnx.Sqrt"(%4) {hetc.node = "ln"} : (tensor<2x1x1xf32>) -> tensor<2x1x1xf32>
// CHECK-NEXT:    %6 = "onnx.Div"(%1, %5) {hetc.node = "ln"} : (tensor<2x3x4xf32>, tensor<2x1x1xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    %7 = "onnx.Mul"(%6, %s) {hetc.node = "ln"} : (tensor<2x3x4xf32>, tensor<3x4xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    %y = "onnx.Add"(%7, %b) {hetc.node = "ln"} : (tensor<2x3x4xf32>, tensor<3x4xf32>) -> tensor<2x3x4xf32>
// CHECK-NEXT:    func.return %y
func.func @layernorm(%x: tensor<2x3x4xf32>, %s: tensor<3x4xf32>, %b: tensor<3x4xf32>) -> tensor<2x3x4xf32> {
  %y = "onnx.LayerNormalization"(%x, %s, %b) {axis = 1 : i64, epsilon = 1.0e-3 : f32, hetc.node = "ln"} : (tensor<2x3x4xf32>, tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<2x3x4xf32>
  func.return %y : tensor<2x3x4xf32>
}

// Default axis -1, no bias, unused Mean output: decomposed, without the final Add.
// CHECK-LABEL: func.func @layernorm_no_bias(
// CHECK-NEXT:    %axes = "onnx.Constant"() {value = dense<1> : tensor<1xi64>} : () -> tensor<1xi64>
// CHECK-NEXT:    "onnx.ReduceMean"(%x, %axes) {keepdims = 1 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x1xf32>
// CHECK:         %eps = "onnx.Constant"() {value = dense<1.000000e-05> : tensor<f32>}
// CHECK:         %y = "onnx.Mul"(%{{.*}}, %s) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    func.return %y
func.func @layernorm_no_bias(%x: tensor<2x3xf32>, %s: tensor<3xf32>) -> tensor<2x3xf32> {
  %y, %mean = "onnx.LayerNormalization"(%x, %s) : (tensor<2x3xf32>, tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2x1xf32>)
  func.return %y : tensor<2x3xf32>
}

// Not rewritten: the Mean output is used.
// CHECK-LABEL: func.func @layernorm_mean_used(
// CHECK-NEXT:    %y, %mean = "onnx.LayerNormalization"(%x, %s) : (tensor<2x3xf32>, tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2x1xf32>)
// CHECK-NEXT:    func.return %y, %mean
func.func @layernorm_mean_used(%x: tensor<2x3xf32>, %s: tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2x1xf32>) {
  %y, %mean = "onnx.LayerNormalization"(%x, %s) : (tensor<2x3xf32>, tensor<3xf32>) -> (tensor<2x3xf32>, tensor<2x1xf32>)
  func.return %y, %mean : tensor<2x3xf32>, tensor<2x1xf32>
}

// Not rewritten: fp16 LayerNormalization computes in fp32 (stash_type).
// CHECK-LABEL: func.func @layernorm_f16(
// CHECK-NEXT:    %y = "onnx.LayerNormalization"(%x, %s) : (tensor<2x3xf16>, tensor<3xf16>) -> tensor<2x3xf16>
// CHECK-NEXT:    func.return %y
func.func @layernorm_f16(%x: tensor<2x3xf16>, %s: tensor<3xf16>) -> tensor<2x3xf16> {
  %y = "onnx.LayerNormalization"(%x, %s) : (tensor<2x3xf16>, tensor<3xf16>) -> tensor<2x3xf16>
  func.return %y : tensor<2x3xf16>
}

// Softmax over axis 0: exp(x - max) / sum.
// CHECK-LABEL: func.func @softmax(
// CHECK-NEXT:    %axes = "onnx.Constant"() {value = dense<0> : tensor<1xi64>} : () -> tensor<1xi64>
// CHECK-NEXT:    %0 = "onnx.ReduceMax"(%x, %axes) {keepdims = 1 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<1x3xf32>
// CHECK-NEXT:    %1 = "onnx.Sub"(%x, %0) : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %2 = "onnx.Exp"(%1) : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %3 = "onnx.ReduceSum"(%2, %axes) {keepdims = 1 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<1x3xf32>
// CHECK-NEXT:    %y = "onnx.Div"(%2, %3) : (tensor<2x3xf32>, tensor<1x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    func.return %y
// ONLY-SOFTMAX-LABEL: func.func @softmax(
// ONLY-SOFTMAX-NOT:     "onnx.Softmax"
// ONLY-SOFTMAX:         "onnx.Div"
func.func @softmax(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %y = "onnx.Softmax"(%x) {axis = 0 : i64} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// LogSoftmax (default axis -1): (x - max) - log(sum(exp(x - max))).
// CHECK-LABEL: func.func @log_softmax(
// CHECK-NEXT:    %axes = "onnx.Constant"() {value = dense<1> : tensor<1xi64>} : () -> tensor<1xi64>
// CHECK-NEXT:    %0 = "onnx.ReduceMax"(%x, %axes) {keepdims = 1 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x1xf32>
// CHECK-NEXT:    %1 = "onnx.Sub"(%x, %0) : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %2 = "onnx.Exp"(%1) : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %3 = "onnx.ReduceSum"(%2, %axes) {keepdims = 1 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<2x1xf32>
// CHECK-NEXT:    %4 = "onnx.Log"(%3) : (tensor<2x1xf32>) -> tensor<2x1xf32>
// CHECK-NEXT:    %y = "onnx.Sub"(%1, %4) : (tensor<2x3xf32>, tensor<2x1xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    func.return %y
// ONLY-SOFTMAX-LABEL: func.func @log_softmax(
// ONLY-SOFTMAX-NEXT:    "onnx.LogSoftmax"
func.func @log_softmax(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %y = "onnx.LogSoftmax"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// BatchNormalization with constant statistics: x * a + b per channel, with
// a = scale / sqrt(var + eps) = [2/2, 3/2] and b = bias - mean * a = [-1, -2],
// shaped Cx1x1 to broadcast over NCHW.
// CHECK-LABEL: func.func @batchnorm(
// CHECK:         %bn_scale = "onnx.Constant"() {value = dense<{{\[\[\[}}1.000000e+00]], {{\[\[}}1.500000e+00]]]> : tensor<2x1x1xf32>} : () -> tensor<2x1x1xf32>
// CHECK-NEXT:    %0 = "onnx.Mul"(%x, %bn_scale) {hetc.node = "bn"} : (tensor<1x2x2x2xf32>, tensor<2x1x1xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NEXT:    %bn_shift = "onnx.Constant"() {value = dense<{{\[\[\[}}-1.000000e+00]], {{\[\[}}-2.000000e+00]]]> : tensor<2x1x1xf32>} : () -> tensor<2x1x1xf32>
// CHECK-NEXT:    %y = "onnx.Add"(%0, %bn_shift) {hetc.node = "bn"} : (tensor<1x2x2x2xf32>, tensor<2x1x1xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NEXT:    func.return %y
// ONLY-SOFTMAX-LABEL: func.func @batchnorm(
// ONLY-SOFTMAX:         "onnx.BatchNormalization"
func.func @batchnorm(%x: tensor<1x2x2x2xf32>) -> tensor<1x2x2x2xf32> {
  %s = "onnx.Constant"() {value = dense<[2.0, 3.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = "onnx.Constant"() {value = dense<[0.0, 1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %m = "onnx.Constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %v = "onnx.Constant"() {value = dense<[3.0, 3.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %y = "onnx.BatchNormalization"(%x, %s, %b, %m, %v) {epsilon = 1.0 : f32, hetc.node = "bn"} : (tensor<1x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  func.return %y : tensor<1x2x2x2xf32>
}

// On N x C input the per-channel constants are plain C vectors.
// CHECK-LABEL: func.func @batchnorm_2d(
// CHECK:         %bn_scale = "onnx.Constant"() {value = dense<[1.000000e+00, 1.500000e+00]> : tensor<2xf32>} : () -> tensor<2xf32>
// CHECK-NEXT:    %0 = "onnx.Mul"(%x, %bn_scale) : (tensor<3x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT:    %bn_shift = "onnx.Constant"() {value = dense<[-1.000000e+00, -2.000000e+00]> : tensor<2xf32>} : () -> tensor<2xf32>
// CHECK-NEXT:    %y = "onnx.Add"(%0, %bn_shift) : (tensor<3x2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT:    func.return %y
func.func @batchnorm_2d(%x: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %s = "onnx.Constant"() {value = dense<[2.0, 3.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = "onnx.Constant"() {value = dense<[0.0, 1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %m = "onnx.Constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %v = "onnx.Constant"() {value = dense<[3.0, 3.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %y = "onnx.BatchNormalization"(%x, %s, %b, %m, %v) {epsilon = 1.0 : f32} : (tensor<3x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<3x2xf32>
  func.return %y : tensor<3x2xf32>
}

// Runtime statistics: a = scale / sqrt(var + eps) on the C vectors, then
// (x - mean) * a + bias with the vectors reshaped to Cx1x1.
// CHECK-LABEL: func.func @batchnorm_runtime_stats(
// CHECK-NEXT:    %eps = "onnx.Constant"() {value = dense<1.000000e-05> : tensor<f32>}
// CHECK-NEXT:    %0 = "onnx.Add"(%v, %eps) : (tensor<2xf32>, tensor<f32>) -> tensor<2xf32>
// CHECK-NEXT:    %1 = "onnx.Sqrt"(%0) : (tensor<2xf32>) -> tensor<2xf32>
// CHECK-NEXT:    %2 = "onnx.Div"(%s, %1) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
// CHECK-NEXT:    %shape = "onnx.Constant"() {value = dense<[2, 1, 1]> : tensor<3xi64>}
// CHECK-NEXT:    %3 = "onnx.Reshape"(%m, %shape) : (tensor<2xf32>, tensor<3xi64>) -> tensor<2x1x1xf32>
// CHECK-NEXT:    %4 = "onnx.Sub"(%x, %3) : (tensor<1x2x2x2xf32>, tensor<2x1x1xf32>) -> tensor<1x2x2x2xf32>
// CHECK:         %5 = "onnx.Reshape"(%2, %{{.*}}) : (tensor<2xf32>, tensor<3xi64>) -> tensor<2x1x1xf32>
// CHECK-NEXT:    %6 = "onnx.Mul"(%4, %5) : (tensor<1x2x2x2xf32>, tensor<2x1x1xf32>) -> tensor<1x2x2x2xf32>
// CHECK:         %7 = "onnx.Reshape"(%b, %{{.*}}) : (tensor<2xf32>, tensor<3xi64>) -> tensor<2x1x1xf32>
// CHECK-NEXT:    %y = "onnx.Add"(%6, %7) : (tensor<1x2x2x2xf32>, tensor<2x1x1xf32>) -> tensor<1x2x2x2xf32>
// CHECK-NEXT:    func.return %y
// CHECK-NOT:     onnx.BatchNormalization
func.func @batchnorm_runtime_stats(%x: tensor<1x2x2x2xf32>, %s: tensor<2xf32>, %b: tensor<2xf32>, %m: tensor<2xf32>, %v: tensor<2xf32>) -> tensor<1x2x2x2xf32> {
  %y = "onnx.BatchNormalization"(%x, %s, %b, %m, %v) : (tensor<1x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x2x2xf32>
  func.return %y : tensor<1x2x2x2xf32>
}

// Training mode: statistics of the batch (over all axes but 1); the running mean
// and var outputs are input * momentum + batch statistic * (1 - momentum).
// CHECK-LABEL: func.func @batchnorm_training(
// CHECK:         %axes = "onnx.Constant"() {value = dense<[0, 2, 3]> : tensor<3xi64>}
// CHECK-NEXT:    %0 = "onnx.ReduceMean"(%x, %axes) {keepdims = 1 : i64} : (tensor<1x2x2x2xf32>, tensor<3xi64>) -> tensor<1x2x1x1xf32>
// CHECK-NEXT:    %1 = "onnx.Sub"(%x, %0)
// CHECK-NEXT:    %2 = "onnx.Mul"(%1, %1)
// CHECK-NEXT:    %3 = "onnx.ReduceMean"(%2, %axes) {keepdims = 1 : i64} : (tensor<1x2x2x2xf32>, tensor<3xi64>) -> tensor<1x2x1x1xf32>
// CHECK-NEXT:    %4 = "onnx.Add"(%3, %eps)
// CHECK-NEXT:    %5 = "onnx.Sqrt"(%4)
// CHECK-NEXT:    %6 = "onnx.Div"(%1, %5)
// CHECK:         %y = "onnx.Add"
// CHECK:         %8 = "onnx.Reshape"(%0, %{{.*}}) : (tensor<1x2x1x1xf32>, tensor<1xi64>) -> tensor<2xf32>
// CHECK-NEXT:    %momentum = "onnx.Constant"() {value = dense<7.500000e-01> : tensor<f32>}
// CHECK-NEXT:    %9 = "onnx.Mul"(%m, %momentum)
// CHECK-NEXT:    %one_minus_momentum = "onnx.Constant"() {value = dense<2.500000e-01> : tensor<f32>}
// CHECK-NEXT:    %10 = "onnx.Mul"(%8, %one_minus_momentum)
// CHECK-NEXT:    %rm = "onnx.Add"(%9, %10) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
// CHECK:         %11 = "onnx.Reshape"(%3, %{{.*}}) : (tensor<1x2x1x1xf32>, tensor<1xi64>) -> tensor<2xf32>
// CHECK:         %rv = "onnx.Add"
// CHECK-NEXT:    func.return %y, %rm, %rv
func.func @batchnorm_training(%x: tensor<1x2x2x2xf32>) -> (tensor<1x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>) {
  %s = "onnx.Constant"() {value = dense<[2.0, 3.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = "onnx.Constant"() {value = dense<[0.0, 1.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %m = "onnx.Constant"() {value = dense<[1.0, 2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %v = "onnx.Constant"() {value = dense<[3.0, 3.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %y, %rm, %rv = "onnx.BatchNormalization"(%x, %s, %b, %m, %v) {training_mode = 1 : i64, momentum = 0.75 : f32} : (tensor<1x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>, tensor<2xf32>) -> (tensor<1x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>)
  func.return %y, %rm, %rv : tensor<1x2x2x2xf32>, tensor<2xf32>, tensor<2xf32>
}

// Not rewritten: float16 with runtime statistics (computed in float32 by the op).
// CHECK-LABEL: func.func @batchnorm_runtime_f16(
// CHECK-NEXT:    %y = "onnx.BatchNormalization"
// CHECK-NEXT:    func.return %y
func.func @batchnorm_runtime_f16(%x: tensor<1x2x2x2xf16>, %s: tensor<2xf16>, %b: tensor<2xf16>, %m: tensor<2xf16>, %v: tensor<2xf16>) -> tensor<1x2x2x2xf16> {
  %y = "onnx.BatchNormalization"(%x, %s, %b, %m, %v) : (tensor<1x2x2x2xf16>, tensor<2xf16>, tensor<2xf16>, tensor<2xf16>, tensor<2xf16>) -> tensor<1x2x2x2xf16>
  func.return %y : tensor<1x2x2x2xf16>
}

// Ops outside the default set (MatMul, Relu) are left alone.
// CHECK-LABEL: func.func @untouched(
// CHECK-NEXT:    %m = "onnx.MatMul"(%a, %b) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    %r = "onnx.Relu"(%m) : (tensor<2x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    func.return %r
func.func @untouched(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xf32> {
  %m = "onnx.MatMul"(%a, %b) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %r = "onnx.Relu"(%m) : (tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %r : tensor<2x4xf32>
}

// InstanceNormalization with constant scale/bias: statistics over the spatial axes,
// then per-channel constants shaped [C, 1, 1].
// CHECK-LABEL: func.func @instance_norm(
// CHECK:         %[[AXES:.*]] = "onnx.Constant"() {value = dense<[2, 3]> : tensor<2xi64>}
// CHECK:         %[[MEAN:.*]] = "onnx.ReduceMean"(%x, %[[AXES]]) {keepdims = 1 : i64{{.*}}} : (tensor<1x2x3x3xf32>, tensor<2xi64>) -> tensor<1x2x1x1xf32>
// CHECK:         "onnx.Sub"(%x, %[[MEAN]])
// CHECK:         "onnx.Sqrt"
// CHECK:         "onnx.Div"
// CHECK:         "onnx.Constant"() {value = dense<[[[2.000000e+00]], [[3.000000e+00]]]> : tensor<2x1x1xf32>}
// CHECK:         "onnx.Mul"
// CHECK:         "onnx.Add"
// CHECK-NOT:     onnx.InstanceNormalization
func.func @instance_norm(%x: tensor<1x2x3x3xf32>) -> tensor<1x2x3x3xf32> {
  %s = "onnx.Constant"() {value = dense<[2.0, 3.0]> : tensor<2xf32>} : () -> tensor<2xf32>
  %b = "onnx.Constant"() {value = dense<[0.5, -0.5]> : tensor<2xf32>} : () -> tensor<2xf32>
  %y = "onnx.InstanceNormalization"(%x, %s, %b) {epsilon = 1.000000e-05 : f32} : (tensor<1x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
  func.return %y : tensor<1x2x3x3xf32>
}

// Runtime scale/bias: the same, with the parameters reshaped to [C, 1, 1].
// CHECK-LABEL: func.func @instance_norm_runtime_scale(
// CHECK:         %6 = "onnx.Div"
// CHECK-NEXT:    %shape = "onnx.Constant"() {value = dense<[2, 1, 1]> : tensor<3xi64>}
// CHECK-NEXT:    %7 = "onnx.Reshape"(%s, %shape) : (tensor<2xf32>, tensor<3xi64>) -> tensor<2x1x1xf32>
// CHECK-NEXT:    %8 = "onnx.Mul"(%6, %7) : (tensor<1x2x3x3xf32>, tensor<2x1x1xf32>) -> tensor<1x2x3x3xf32>
// CHECK:         %9 = "onnx.Reshape"(%b, %{{.*}}) : (tensor<2xf32>, tensor<3xi64>) -> tensor<2x1x1xf32>
// CHECK-NEXT:    %y = "onnx.Add"(%8, %9)
// CHECK-NOT:     onnx.InstanceNormalization
func.func @instance_norm_runtime_scale(%x: tensor<1x2x3x3xf32>, %s: tensor<2xf32>, %b: tensor<2xf32>) -> tensor<1x2x3x3xf32> {
  %y = "onnx.InstanceNormalization"(%x, %s, %b) : (tensor<1x2x3x3xf32>, tensor<2xf32>, tensor<2xf32>) -> tensor<1x2x3x3xf32>
  func.return %y : tensor<1x2x3x3xf32>
}

// GroupNormalization: N x C x D viewed as N x groups x (C / groups * D), normalized
// over the last axis, viewed back, then per-channel scale and bias as [C, 1].
// CHECK-LABEL: func.func @group_norm(
// CHECK-NEXT:    %shape = "onnx.Constant"() {value = dense<[2, 2, 6]> : tensor<3xi64>}
// CHECK-NEXT:    %0 = "onnx.Reshape"(%x, %shape) {hetc.node = "gn"} : (tensor<2x4x3xf32>, tensor<3xi64>) -> tensor<2x2x6xf32>
// CHECK-NEXT:    %axes = "onnx.Constant"() {value = dense<2> : tensor<1xi64>}
// CHECK-NEXT:    %1 = "onnx.ReduceMean"(%0, %axes) {keepdims = 1 : i64, hetc.node = "gn"} : (tensor<2x2x6xf32>, tensor<1xi64>) -> tensor<2x2x1xf32>
// CHECK:         %7 = "onnx.Div"(%2, %6) {hetc.node = "gn"} : (tensor<2x2x6xf32>, tensor<2x2x1xf32>) -> tensor<2x2x6xf32>
// CHECK-NEXT:    %shape_1 = "onnx.Constant"() {value = dense<[2, 4, 3]> : tensor<3xi64>}
// CHECK-NEXT:    %8 = "onnx.Reshape"(%7, %shape_1) {hetc.node = "gn"} : (tensor<2x2x6xf32>, tensor<3xi64>) -> tensor<2x4x3xf32>
// CHECK-NEXT:    %shape_2 = "onnx.Constant"() {value = dense<[4, 1]> : tensor<2xi64>}
// CHECK-NEXT:    %9 = "onnx.Reshape"(%s, %shape_2) {hetc.node = "gn"} : (tensor<4xf32>, tensor<2xi64>) -> tensor<4x1xf32>
// CHECK-NEXT:    %10 = "onnx.Mul"(%8, %9) {hetc.node = "gn"} : (tensor<2x4x3xf32>, tensor<4x1xf32>) -> tensor<2x4x3xf32>
// CHECK:         %y = "onnx.Add"(%10, %{{.*}}) {hetc.node = "gn"} : (tensor<2x4x3xf32>, tensor<4x1xf32>) -> tensor<2x4x3xf32>
// CHECK-NEXT:    func.return %y
func.func @group_norm(%x: tensor<2x4x3xf32>, %s: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<2x4x3xf32> {
  %y = "onnx.GroupNormalization"(%x, %s, %b) {num_groups = 2 : i64, hetc.node = "gn"} : (tensor<2x4x3xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<2x4x3xf32>
  func.return %y : tensor<2x4x3xf32>
}
