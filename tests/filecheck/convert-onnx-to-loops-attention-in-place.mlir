// RUN: hetc-opt %s -p 'hetc-fuse{mode=greedy},convert-onnx-to-loops{target=gpu}' | filecheck %s

// The GPU form of an attention group absorbs the neighbours the unfused GEMMs absorb, so
// they cost no kernel: K^T (a Transpose of K's last two axes) is read from K in place
// (kT[d, j] as K[j, d]), q * scale (a scalar Mul read only by QK^T) scales the scores
// instead, and the heads merged back (Transpose, then Reshape) are the store's own
// subscript. @main calls the attention kernel only.
// CHECK: func.func private @k0_attention(%[[Q:.*]]: memref<2x3x16x8xf32>, %[[K:.*]]: memref<2x3x16x8xf32>, %[[V:.*]]: memref<2x3x16x8xf32>, %[[OUT:.*]]: memref<2x16x3x8xf32>)
// CHECK: memref.load %[[Q]][%[[B0:.*]], %[[B1:.*]], %{{.*}}, %[[D:.*]]]
// CHECK-NEXT: memref.load %[[K]][%[[B0]], %[[B1]], %[[J:.*]], %[[D]]]
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[J]]] : memref<16xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[RAW:.*]] = memref.load %{{.*}}[%[[J]]] : memref<16xf32>
// CHECK-NEXT: %[[SCALE:.*]] = arith.constant 3.500000e-01 : f32
// CHECK-NEXT: arith.mulf %[[RAW]], %[[SCALE]] : f32
// CHECK: arith.maximumf
// CHECK: } {hetc.reduction}
// CHECK: math.exp
// CHECK: memref.load %[[V]]
// CHECK: arith.divf
// CHECK: arith.remui
// CHECK: arith.divui
// CHECK: memref.store %{{.*}}, %[[OUT]][%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<2x16x3x8xf32>
// CHECK: } {hetc.warp_uniform}
// CHECK: func.func @main
// CHECK-NEXT: %[[OT:.*]] = memref.alloc() : memref<2x16x3x8xf32>
// CHECK-NEXT: func.call @k0_attention(%q, %k, %v, %[[OT]])
// CHECK-NOT: func.call

func.func @main(%q: tensor<2x3x16x8xf32>, %k: tensor<2x3x16x8xf32>, %v: tensor<2x3x16x8xf32>) -> tensor<2x16x24xf32> {
  %scale = "onnx.Constant"() {value = dense<0.35> : tensor<f32>} : () -> tensor<f32>
  %axes = "onnx.Constant"() {value = dense<-1> : tensor<1xi64>} : () -> tensor<1xi64>
  %merge = "onnx.Constant"() {value = dense<[2, 16, 24]> : tensor<3xi64>} : () -> tensor<3xi64>
  %qs = "onnx.Mul"(%q, %scale) {hetc.node = "qscale"} : (tensor<2x3x16x8xf32>, tensor<f32>) -> tensor<2x3x16x8xf32>
  %kt = "onnx.Transpose"(%k) {hetc.node = "kt", perm = array<i64: 0, 1, 3, 2>} : (tensor<2x3x16x8xf32>) -> tensor<2x3x8x16xf32>
  %s = "onnx.MatMul"(%qs, %kt) {hetc.node = "qk"} : (tensor<2x3x16x8xf32>, tensor<2x3x8x16xf32>) -> tensor<2x3x16x16xf32>
  %m = "onnx.ReduceMax"(%s, %axes) {hetc.node = "max"} : (tensor<2x3x16x16xf32>, tensor<1xi64>) -> tensor<2x3x16x1xf32>
  %d = "onnx.Sub"(%s, %m) {hetc.node = "sub"} : (tensor<2x3x16x16xf32>, tensor<2x3x16x1xf32>) -> tensor<2x3x16x16xf32>
  %e = "onnx.Exp"(%d) {hetc.node = "exp"} : (tensor<2x3x16x16xf32>) -> tensor<2x3x16x16xf32>
  %z = "onnx.ReduceSum"(%e, %axes) {hetc.node = "sum"} : (tensor<2x3x16x16xf32>, tensor<1xi64>) -> tensor<2x3x16x1xf32>
  %p = "onnx.Div"(%e, %z) {hetc.node = "div"} : (tensor<2x3x16x16xf32>, tensor<2x3x16x1xf32>) -> tensor<2x3x16x16xf32>
  %o = "onnx.MatMul"(%p, %v) {hetc.node = "pv"} : (tensor<2x3x16x16xf32>, tensor<2x3x16x8xf32>) -> tensor<2x3x16x8xf32>
  %ot = "onnx.Transpose"(%o) {hetc.node = "merge_t", perm = array<i64: 0, 2, 1, 3>} : (tensor<2x3x16x8xf32>) -> tensor<2x16x3x8xf32>
  %y = "onnx.Reshape"(%ot, %merge) {hetc.node = "merge"} : (tensor<2x16x3x8xf32>, tensor<3xi64>) -> tensor<2x16x24xf32>
  func.return %y : tensor<2x16x24xf32>
}
