// Well-typed IR passes through hetc-verify-shapes unchanged.
// RUN: sed -n '/^\/\/ case: ok$/,/^\/\/ end$/p' %s | hetc-opt -p hetc-verify-shapes | filecheck %s
//
// Each ill-typed case is cut out of this file on its own: the pass stops at the
// first error, so every failing case needs its own hetc-opt run.
// RUN: sed -n '/^\/\/ case: bad-add-broadcast$/,/^\/\/ end$/p' %s | not hetc-opt -p hetc-verify-shapes 2>&1 | filecheck %s --check-prefix=ERR-ADD
// RUN: sed -n '/^\/\/ case: bad-matmul-elem$/,/^\/\/ end$/p' %s | not hetc-opt -p hetc-verify-shapes 2>&1 | filecheck %s --check-prefix=ERR-MM-TYPE
// RUN: sed -n '/^\/\/ case: bad-matmul-dims$/,/^\/\/ end$/p' %s | not hetc-opt -p hetc-verify-shapes 2>&1 | filecheck %s --check-prefix=ERR-MM-DIMS
// RUN: sed -n '/^\/\/ case: bad-reshape-const$/,/^\/\/ end$/p' %s | not hetc-opt -p hetc-verify-shapes 2>&1 | filecheck %s --check-prefix=ERR-RESHAPE
// RUN: sed -n '/^\/\/ case: bad-dynamic$/,/^\/\/ end$/p' %s | not hetc-opt -p hetc-verify-shapes 2>&1 | filecheck %s --check-prefix=ERR-DYN
// RUN: sed -n '/^\/\/ case: bad-mixed-types$/,/^\/\/ end$/p' %s | not hetc-opt -p hetc-verify-shapes 2>&1 | filecheck %s --check-prefix=ERR-MIXED
// RUN: sed -n '/^\/\/ case: bad-topk-indices$/,/^\/\/ end$/p' %s | not hetc-opt -p hetc-verify-shapes 2>&1 | filecheck %s --check-prefix=ERR-TOPK

// case: ok
// CHECK-LABEL: func.func @ok(
// CHECK-NEXT:    %s = "onnx.Add"(%a, %b) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %m = "onnx.MatMul"(%s, %w) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
// CHECK-NEXT:    %n = "onnx.NoValue"() : () -> none
// CHECK-NEXT:    %g = "onnx.Gemm"(%a, %w, %n) {alpha = 2.000000e+00 : f32, transB = 0 : i64} : (tensor<2x3xf32>, tensor<3x4xf32>, none) -> tensor<2x4xf32>
// CHECK-NEXT:    %shape = "onnx.Constant"() {value = dense<[4, -1]> : tensor<2xi64>} : () -> tensor<2xi64>
// CHECK-NEXT:    %r = "onnx.Reshape"(%w, %shape) : (tensor<3x4xf32>, tensor<2xi64>) -> tensor<4x3xf32>
// CHECK-NEXT:    %k = "onnx.Constant"() {value = dense<2> : tensor<1xi64>} : () -> tensor<1xi64>
// CHECK-NEXT:    %v, %i = "onnx.TopK"(%s, %k) {axis = 1 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> (tensor<2x2xf32>, tensor<2x2xi64>)
// CHECK-NEXT:    %c = "onnx.Conv"(%img, %filt) {kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x4x4xf32>
// CHECK-NEXT:    %eq = "onnx.Equal"(%i, %k) : (tensor<2x2xi64>, tensor<1xi64>) -> tensor<2x2xi1>
// CHECK-NEXT:    func.return %m, %g, %r, %v, %c, %eq
func.func @ok(%a: tensor<2x3xf32>, %b: tensor<3xf32>, %w: tensor<3x4xf32>, %img: tensor<1x3x8x8xf32>, %filt: tensor<4x3x3x3xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>, tensor<4x3xf32>, tensor<2x2xf32>, tensor<1x4x4x4xf32>, tensor<2x2xi1>) {
  %s = "onnx.Add"(%a, %b) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  %m = "onnx.MatMul"(%s, %w) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %n = "onnx.NoValue"() : () -> none
  %g = "onnx.Gemm"(%a, %w, %n) {alpha = 2.0 : f32, transB = 0 : i64} : (tensor<2x3xf32>, tensor<3x4xf32>, none) -> tensor<2x4xf32>
  %shape = "onnx.Constant"() {value = dense<[4, -1]> : tensor<2xi64>} : () -> tensor<2xi64>
  %r = "onnx.Reshape"(%w, %shape) : (tensor<3x4xf32>, tensor<2xi64>) -> tensor<4x3xf32>
  %k = "onnx.Constant"() {value = dense<2> : tensor<1xi64>} : () -> tensor<1xi64>
  %v, %i = "onnx.TopK"(%s, %k) {axis = 1 : i64} : (tensor<2x3xf32>, tensor<1xi64>) -> (tensor<2x2xf32>, tensor<2x2xi64>)
  %c = "onnx.Conv"(%img, %filt) {kernel_shape = array<i64: 3, 3>, pads = array<i64: 1, 1, 1, 1>, strides = array<i64: 2, 2>} : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x4x4xf32>
  %eq = "onnx.Equal"(%i, %k) : (tensor<2x2xi64>, tensor<1xi64>) -> tensor<2x2xi1>
  func.return %m, %g, %r, %v, %c, %eq : tensor<2x4xf32>, tensor<2x4xf32>, tensor<4x3xf32>, tensor<2x2xf32>, tensor<1x4x4x4xf32>, tensor<2x2xi1>
}
// end

// Broadcasting 2x3 with 3 gives 2x3, not 2x2.
// case: bad-add-broadcast
// ERR-ADD: hetc-opt: error: node 'add0' (Add): shape/type verification failed: result 0 is declared tensor<2x2xf32> but ONNX infers shape [2, 3]
func.func @bad_add(%a: tensor<2x3xf32>, %b: tensor<3xf32>) -> tensor<2x2xf32> {
  %y = "onnx.Add"(%a, %b) {hetc.node = "add0"} : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x2xf32>
  func.return %y : tensor<2x2xf32>
}
// end

// MatMul's inputs and output share the type variable T.
// case: bad-matmul-elem
// ERR-MM-TYPE: hetc-opt: error: node (MatMul): shape/type verification failed: output 'Y' is tensor(int64) but type T is already tensor(float)
func.func @bad_matmul_elem(%a: tensor<2x3xf32>, %b: tensor<3x4xf32>) -> tensor<2x4xi64> {
  %y = "onnx.MatMul"(%a, %b) : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xi64>
  func.return %y : tensor<2x4xi64>
}
// end

// case: bad-matmul-dims
// ERR-MM-DIMS: hetc-opt: error: node (MatMul): shape/type verification failed: ONNX shape inference rejects the op: {{.*}}Incompatible dimensions for matrix multiplication
func.func @bad_matmul_dims(%a: tensor<2x3xf32>, %b: tensor<4x4xf32>) -> tensor<2x4xf32> {
  %y = "onnx.MatMul"(%a, %b) : (tensor<2x3xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  func.return %y : tensor<2x4xf32>
}
// end

// The constant shape operand takes part in inference: [4, -1] on 3x4 is 4x3.
// case: bad-reshape-const
// ERR-RESHAPE: hetc-opt: error: node (Reshape): shape/type verification failed: result 0 is declared tensor<6x2xf32> but ONNX infers shape [4, 3]
func.func @bad_reshape(%w: tensor<3x4xf32>) -> tensor<6x2xf32> {
  %shape = "onnx.Constant"() {value = dense<[4, -1]> : tensor<2xi64>} : () -> tensor<2xi64>
  %r = "onnx.Reshape"(%w, %shape) : (tensor<3x4xf32>, tensor<2xi64>) -> tensor<6x2xf32>
  func.return %r : tensor<6x2xf32>
}
// end

// case: bad-dynamic
// ERR-DYN: hetc-opt: error: node (Relu): shape/type verification failed: input 'X' is not a statically shaped tensor: tensor<?x3xf32>
func.func @bad_dynamic(%a: tensor<?x3xf32>) -> tensor<?x3xf32> {
  %y = "onnx.Relu"(%a) : (tensor<?x3xf32>) -> tensor<?x3xf32>
  func.return %y : tensor<?x3xf32>
}
// end

// case: bad-mixed-types
// ERR-MIXED: hetc-opt: error: node (Add): shape/type verification failed: input 'B' is tensor(double) but type T is already tensor(float)
func.func @bad_mixed(%a: tensor<2x3xf32>, %b: tensor<2x3xf64>) -> tensor<2x3xf32> {
  %y = "onnx.Add"(%a, %b) : (tensor<2x3xf32>, tensor<2x3xf64>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}
// end

// A fixed output type (TopK's Indices are always int64).
// case: bad-topk-indices
// ERR-TOPK: hetc-opt: error: node (TopK): shape/type verification failed: output 'Indices' has type tensor(int32), not one of ['tensor(int64)']
func.func @bad_topk(%x: tensor<2x3xf32>) -> tensor<2x2xi32> {
  %k = "onnx.Constant"() {value = dense<2> : tensor<1xi64>} : () -> tensor<1xi64>
  %v, %i = "onnx.TopK"(%x, %k) : (tensor<2x3xf32>, tensor<1xi64>) -> (tensor<2x2xf32>, tensor<2x2xi32>)
  func.return %i : tensor<2x2xi32>
}
// end
