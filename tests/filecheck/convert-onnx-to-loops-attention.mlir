// RUN: hetc-opt %s -p 'hetc-fuse{mode=greedy},convert-onnx-to-loops' | filecheck %s --check-prefixes=CHECK,CPU
// RUN: hetc-opt %s -p 'hetc-fuse{mode=greedy},convert-onnx-to-loops{target=gpu}' | filecheck %s --check-prefixes=CHECK,GPU

// An attention group (hetc-fuse kind `attention`: QK^T, scale, mask, softmax, P.V) is
// one kernel, parallel over (batch, head, query rows), whose S x S scores never leave it;
// @main makes one call.
// CHECK: func.func private @k0_attention(%[[Q:.*]]: memref<2x4x16x8xf32>, %[[KT:.*]]: memref<2x4x8x16xf32>, %[[V:.*]]: memref<2x4x16x8xf32>, %[[MASK:.*]]: memref<2x1x16x16xf32>, %[[OUT:.*]]: memref<2x4x16x8xf32>)
// CHECK-SAME: hetc.kernel = "attention"

// The CPU form: 8 query rows per iteration (a scratch of 8 x 16 scores, 8 x 8 output
// accumulators, 2 x 8 row max / sum); the scores as rows of kT scaled by q[i_r, d]
// (each kT row loaded once for the 8 rows), then per row one reduction loop for the
// scale (a literal), the mask (broadcast over the heads) and the max, one for exp and
// the sum; then rows of v scaled by p[r, j], divided by the sums.
// CPU: %[[ROW:.*]] = memref.alloca() : memref<8x16xf32>
// CPU: %[[ACC:.*]] = memref.alloca() : memref<8x8xf32>
// CPU: memref.alloca() : memref<2x8xf32>
// CPU: memref.load %[[Q]]
// CPU: memref.load %[[KT]]
// CPU: arith.mulf
// CPU: arith.addf
// CPU: memref.store %{{.*}}, %[[ROW]]
// CPU: arith.constant 3.500000e-01 : f32
// CPU: arith.mulf
// CPU: memref.load %[[MASK]][%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}]
// CPU: arith.addf
// CPU: arith.maximumf
// CPU: } {hetc.reduction}
// CPU: math.exp
// CPU: } {hetc.reduction}
// CPU: memref.load %[[V]]
// CPU: memref.store %{{.*}}, %[[ACC]]
// CPU: arith.divf
// CPU: memref.store %{{.*}}, %[[OUT]]

// The GPU form: one query row per iteration with a row scratch of S = 16 floats; a
// reduction loop over the keys (a warp's lanes split them) computing each score (a dot
// product over d = 8 in its scratch slot), the scale, the mask and the row max; one for
// exp(s - max) and its sum; then per output column (a lane-uniform loop) a reduction
// over the keys of p_j v[j, c], divided by the sum.
// GPU: %[[ROW:.*]] = memref.alloca() : memref<16xf32>
// GPU: %[[MX:.*]] = memref.alloca() : memref<1xf32>
// GPU: %[[SUM:.*]] = memref.alloca() : memref<1xf32>
// GPU: scf.for
// GPU: scf.for
// GPU: memref.load %[[Q]]
// GPU: memref.load %[[KT]]
// GPU: arith.mulf
// GPU: arith.addf
// GPU: arith.constant 3.500000e-01 : f32
// GPU: arith.mulf
// GPU: memref.load %[[MASK]][%{{.*}}, %[[ZERO:.*]], %{{.*}}, %{{.*}}]
// GPU: arith.addf
// GPU: arith.maximumf
// GPU: } {hetc.reduction}
// GPU: math.exp
// GPU: memref.store %{{.*}}, %[[ROW]]
// GPU: arith.addf
// GPU: } {hetc.reduction}
// GPU: memref.load %[[SUM]]
// GPU: memref.load %[[ROW]]
// GPU: memref.load %[[V]]
// GPU: } {hetc.reduction}
// GPU: arith.divf
// GPU: memref.store %{{.*}}, %[[OUT]]
// GPU: } {hetc.warp_uniform}
// CHECK: } {hetc.parallel}
// CHECK: func.func @main
// CHECK-NEXT: func.call @k0_attention(%q, %kt, %v, %mask, %o)
// CHECK-NEXT: func.return

func.func @main(%q: tensor<2x4x16x8xf32>, %kt: tensor<2x4x8x16xf32>, %v: tensor<2x4x16x8xf32>, %mask: tensor<2x1x16x16xf32>) -> tensor<2x4x16x8xf32> {
  %scale = "onnx.Constant"() {value = dense<0.35> : tensor<f32>} : () -> tensor<f32>
  %axes = "onnx.Constant"() {value = dense<-1> : tensor<1xi64>} : () -> tensor<1xi64>
  %s = "onnx.MatMul"(%q, %kt) {hetc.node = "qk"} : (tensor<2x4x16x8xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x16x16xf32>
  %ss = "onnx.Mul"(%s, %scale) {hetc.node = "scale"} : (tensor<2x4x16x16xf32>, tensor<f32>) -> tensor<2x4x16x16xf32>
  %sm = "onnx.Add"(%ss, %mask) {hetc.node = "mask"} : (tensor<2x4x16x16xf32>, tensor<2x1x16x16xf32>) -> tensor<2x4x16x16xf32>
  %m = "onnx.ReduceMax"(%sm, %axes) {hetc.node = "max"} : (tensor<2x4x16x16xf32>, tensor<1xi64>) -> tensor<2x4x16x1xf32>
  %d = "onnx.Sub"(%sm, %m) {hetc.node = "sub"} : (tensor<2x4x16x16xf32>, tensor<2x4x16x1xf32>) -> tensor<2x4x16x16xf32>
  %e = "onnx.Exp"(%d) {hetc.node = "exp"} : (tensor<2x4x16x16xf32>) -> tensor<2x4x16x16xf32>
  %z = "onnx.ReduceSum"(%e, %axes) {hetc.node = "sum"} : (tensor<2x4x16x16xf32>, tensor<1xi64>) -> tensor<2x4x16x1xf32>
  %p = "onnx.Div"(%e, %z) {hetc.node = "div"} : (tensor<2x4x16x16xf32>, tensor<2x4x16x1xf32>) -> tensor<2x4x16x16xf32>
  %o = "onnx.MatMul"(%p, %v) {hetc.node = "pv"} : (tensor<2x4x16x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x8xf32>
  func.return %o : tensor<2x4x16x8xf32>
}

