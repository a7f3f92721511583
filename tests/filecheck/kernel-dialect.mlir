// RUN: hetc-opt %s --split-input-file | hetc-opt --split-input-file | filecheck %s

// The kernel dialect (hetc.dialects.kernel): a fused group as a region. It round-trips
// through hetc-opt's parser and printer (kernel-dialect-invalid.mlir: the verifier).

// CHECK: %[[Y:.*]] = "kernel.group"(%x, %w, %b) ({
// CHECK-NEXT: ^bb0(%[[XA:.*]]: tensor<4x8xf32>, %[[WA:.*]]: tensor<8x8xf32>, %[[BA:.*]]: tensor<8xf32>):
// CHECK-NEXT: %[[MM:.*]] = "onnx.MatMul"(%[[XA]], %[[WA]]) {hetc.node = "mm"}
// CHECK-NEXT: %[[MB:.*]] = "onnx.Add"(%[[MM]], %[[BA]]) {hetc.node = "bias"}
// CHECK-NEXT: "kernel.yield"(%[[MB]]) : (tensor<4x8xf32>) -> ()
// CHECK-NEXT: }) {id = 0 : i64, kind = "epilogue", nodes = ["mm", "bias"]} : (tensor<4x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
// CHECK-NEXT: func.return %[[Y]]
func.func @main(%x: tensor<4x8xf32>, %w: tensor<8x8xf32>) -> tensor<4x8xf32> {
  %b = "onnx.Constant"() {value = dense<1.000000e-01> : tensor<8xf32>} : () -> tensor<8xf32>
  %y = "kernel.group"(%x, %w, %b) ({
  ^bb0(%xa: tensor<4x8xf32>, %wa: tensor<8x8xf32>, %ba: tensor<8xf32>):
    %mm = "onnx.MatMul"(%xa, %wa) {hetc.node = "mm"} : (tensor<4x8xf32>, tensor<8x8xf32>) -> tensor<4x8xf32>
    %mb = "onnx.Add"(%mm, %ba) {hetc.node = "bias"} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
    "kernel.yield"(%mb) : (tensor<4x8xf32>) -> ()
  }) {id = 0 : i64, kind = "epilogue", nodes = ["mm", "bias"]} : (tensor<4x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<4x8xf32>
  func.return %y : tensor<4x8xf32>
}

// -----

// A group with two results (a row group whose intermediate is also read outside).
// CHECK: %[[E:.*]], %[[S:.*]] = "kernel.group"(%x, %axes) ({
// CHECK: "kernel.yield"(%{{.*}}, %{{.*}}) : (tensor<4x8xf32>, tensor<4x8xf32>) -> ()
// CHECK-NEXT: }) {id = 3 : i64, kind = "row", nodes = ["exp", "sum", "div"]}
// CHECK-NEXT: func.return %[[S]], %[[E]]
func.func @main(%x: tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  %axes = "onnx.Constant"() {value = dense<-1> : tensor<1xi64>} : () -> tensor<1xi64>
  %e, %s = "kernel.group"(%x, %axes) ({
  ^bb0(%xa: tensor<4x8xf32>, %aa: tensor<1xi64>):
    %ex = "onnx.Exp"(%xa) {hetc.node = "exp"} : (tensor<4x8xf32>) -> tensor<4x8xf32>
    %sum = "onnx.ReduceSum"(%ex, %aa) {hetc.node = "sum"} : (tensor<4x8xf32>, tensor<1xi64>) -> tensor<4x1xf32>
    %sm = "onnx.Div"(%ex, %sum) {hetc.node = "div"} : (tensor<4x8xf32>, tensor<4x1xf32>) -> tensor<4x8xf32>
    "kernel.yield"(%ex, %sm) : (tensor<4x8xf32>, tensor<4x8xf32>) -> ()
  }) {id = 3 : i64, kind = "row", nodes = ["exp", "sum", "div"]} : (tensor<4x8xf32>, tensor<1xi64>) -> (tensor<4x8xf32>, tensor<4x8xf32>)
  func.return %s, %e : tensor<4x8xf32>, tensor<4x8xf32>
}
