// RUN: hetc-opt %s -p hetc-decompose | filecheck %s
// The decomposed IR still passes shape verification.
// RUN: hetc-opt %s -p hetc-decompose,hetc-verify-shapes | filecheck %s --check-prefix=VERIFIED
// VERIFIED: builtin.module

// Einsum that is a plain float contraction becomes [ReduceSum] [Transpose] [Reshape]
// MatMul [Reshape] [Transpose], so the C target runs it on the GEMM.

// Attention scores: one Transpose of K and a batched MatMul, carrying the node's name.
// CHECK-LABEL: func.func @attention(
// CHECK-NEXT:    %0 = "onnx.Transpose"(%k) {perm = array<i64: 0, 1, 3, 2>, hetc.node = "scores"} : (tensor<2x3x5x8xf32>) -> tensor<2x3x8x5xf32>
// CHECK-NEXT:    %s = "onnx.MatMul"(%q, %0) {hetc.node = "scores"} : (tensor<2x3x4x8xf32>, tensor<2x3x8x5xf32>) -> tensor<2x3x4x5xf32>
// CHECK-NEXT:    func.return %s
func.func @attention(%q: tensor<2x3x4x8xf32>, %k: tensor<2x3x5x8xf32>) -> tensor<2x3x4x5xf32> {
  %s = "onnx.Einsum"(%q, %k) {equation = "bhqd,bhkd->bhqk", hetc.node = "scores"} : (tensor<2x3x4x8xf32>, tensor<2x3x5x8xf32>) -> tensor<2x3x4x5xf32>
  func.return %s : tensor<2x3x4x5xf32>
}

// A transposed result: A @ B then one Transpose (fewer than B^T @ A^T's two).
// CHECK-LABEL: func.func @transposed_product(
// CHECK-NEXT:    %0 = "onnx.MatMul"(%a, %b) : (tensor<3x4xf32>, tensor<4x6xf32>) -> tensor<3x6xf32>
// CHECK-NEXT:    %y = "onnx.Transpose"(%0) {perm = array<i64: 1, 0>} : (tensor<3x6xf32>) -> tensor<6x3xf32>
// CHECK-NEXT:    func.return %y
func.func @transposed_product(%a: tensor<3x4xf32>, %b: tensor<4x6xf32>) -> tensor<6x3xf32> {
  %y = "onnx.Einsum"(%a, %b) {equation = "ij,jk->ki"} : (tensor<3x4xf32>, tensor<4x6xf32>) -> tensor<6x3xf32>
  func.return %y : tensor<6x3xf32>
}

// Several contracted and free labels: grouped into M x K @ K x N by Reshapes.
// CHECK-LABEL: func.func @grouped(
// CHECK:         "onnx.Reshape"(%a, %{{.*}}) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x12xf32>
// CHECK:         "onnx.Transpose"(%b) {perm = array<i64: 0, 1, 3, 2>} : (tensor<3x4x5x6xf32>) -> tensor<3x4x6x5xf32>
// CHECK:         "onnx.Reshape"(%{{.*}}, %{{.*}}) : (tensor<3x4x6x5xf32>, tensor<2xi64>) -> tensor<12x30xf32>
// CHECK:         "onnx.MatMul"(%{{.*}}, %{{.*}}) : (tensor<2x12xf32>, tensor<12x30xf32>) -> tensor<2x30xf32>
// CHECK:         %y = "onnx.Reshape"(%{{.*}}, %{{.*}}) : (tensor<2x30xf32>, tensor<3xi64>) -> tensor<2x6x5xf32>
// CHECK-NEXT:    func.return %y
func.func @grouped(%a: tensor<2x3x4xf32>, %b: tensor<3x4x5x6xf32>) -> tensor<2x6x5xf32> {
  %y = "onnx.Einsum"(%a, %b) {equation = "abc,bcde->aed"} : (tensor<2x3x4xf32>, tensor<3x4x5x6xf32>) -> tensor<2x6x5xf32>
  func.return %y : tensor<2x6x5xf32>
}

// Implicit output (the inner product is a scalar): 1 x K @ K x 1, reshaped to rank 0.
// CHECK-LABEL: func.func @inner(
// CHECK:         "onnx.MatMul"(%{{.*}}, %{{.*}}) : (tensor<1x5xf64>, tensor<5x1xf64>) -> tensor<1x1xf64>
// CHECK:         %y = "onnx.Reshape"(%{{.*}}, %{{.*}}) : (tensor<1x1xf64>, tensor<0xi64>) -> tensor<f64>
func.func @inner(%a: tensor<5xf64>, %b: tensor<5xf64>) -> tensor<f64> {
  %y = "onnx.Einsum"(%a, %b) {equation = "i,i"} : (tensor<5xf64>, tensor<5xf64>) -> tensor<f64>
  func.return %y : tensor<f64>
}

// One operand: ReduceSum of the dropped labels, then a Transpose.
// CHECK-LABEL: func.func @sum_and_transpose(
// CHECK-NEXT:    %axes = "onnx.Constant"() {value = dense<1> : tensor<1xi64>} : () -> tensor<1xi64>
// CHECK-NEXT:    %0 = "onnx.ReduceSum"(%a, %axes) {keepdims = 0 : i64} : (tensor<2x3x4xf32>, tensor<1xi64>) -> tensor<2x4xf32>
// CHECK-NEXT:    %y = "onnx.Transpose"(%0) {perm = array<i64: 1, 0>} : (tensor<2x4xf32>) -> tensor<4x2xf32>
func.func @sum_and_transpose(%a: tensor<2x3x4xf32>) -> tensor<4x2xf32> {
  %y = "onnx.Einsum"(%a) {equation = "ijk->ki"} : (tensor<2x3x4xf32>) -> tensor<4x2xf32>
  func.return %y : tensor<4x2xf32>
}

// A label only one operand has is summed before the MatMul.
// CHECK-LABEL: func.func @summed_alone(
// CHECK:         "onnx.ReduceSum"(%a, %{{.*}}) {keepdims = 0 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> tensor<3xf32>
// CHECK:         "onnx.MatMul"(%{{.*}}, %b) : (tensor<1x3xf32>, tensor<3x4xf32>) -> tensor<1x4xf32>
func.func @summed_alone(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<4xf32> {
  %y = "onnx.Einsum"(%a, %b) {equation = "ij,jk->k"} : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}

// '->' on a scalar is the operand itself.
// CHECK-LABEL: func.func @scalar(
// CHECK-NEXT:    func.return %a
func.func @scalar(%a: tensor<f32>) -> tensor<f32> {
  %y = "onnx.Einsum"(%a) {equation = "->"} : (tensor<f32>) -> tensor<f32>
  func.return %y : tensor<f32>
}

// Diagonals, integers and three operands stay Einsum (the loop lowering's own nest).
// CHECK-LABEL: func.func @diagonal(
// CHECK-NEXT:    "onnx.Einsum"
func.func @diagonal(%a: tensor<3x5x5xf32>) -> tensor<3x5xf32> {
  %y = "onnx.Einsum"(%a) {equation = "...ii->...i"} : (tensor<3x5x5xf32>) -> tensor<3x5xf32>
  func.return %y : tensor<3x5xf32>
}

// CHECK-LABEL: func.func @integers(
// CHECK-NEXT:    "onnx.Einsum"
func.func @integers(%a: tensor<2x3xi32>, %b: tensor<3x4xi32>) -> tensor<2x4xi32> {
  %y = "onnx.Einsum"(%a, %b) {equation = "ij,jk->ik"} : (tensor<2x3xi32>, tensor<3x4xi32>) -> tensor<2x4xi32>
  func.return %y : tensor<2x4xi32>
}

// CHECK-LABEL: func.func @three(
// CHECK-NEXT:    "onnx.Einsum"
func.func @three(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>, %c: tensor<4x5xf32>) -> tensor<2x5xf32> {
  %y = "onnx.Einsum"(%a, %b, %c) {equation = "ij,jk,kl->il"} : (tensor<2x3xf32>, tensor<3x4xf32>, tensor<4x5xf32>) -> tensor<2x5xf32>
  func.return %y : tensor<2x5xf32>
}
