// RUN: hetc-opt %s --split-input-file -p "convert-onnx-to-loops{target=gpu}" | filecheck %s

// The GPU form of the loop lowering (target=gpu; the CUDA target's pipeline). A GEMM
// is the plain nest i, j (parallel) -> acc = sum_k A[i,k] B[k,j], marked hetc.gemm =
// [M, N, K] with its k loop hetc.gemm_k; B is the weight as it is (no packed panels),
// and the fused bias and ReLU act on the accumulator before the one store. The CUDA
// printer tiles this nest, printing these very loads at tile coordinates.
// CHECK-NOT:   packed
// CHECK-LABEL: func.func private @k0_gemm(%0: memref<2x3xf32>, %1: memref<3x4xf32>, %2: memref<2x4xf32>, %3: memref<4xf32>) attributes {hetc.onnx_nodes = ["mm"], hetc.kernel = "gemm", hetc.gemm = [2 : i64, 4 : i64, 3 : i64]}
// CHECK:         scf.for %[[I:.*]] = {{.*}} {
// CHECK:           scf.for %[[J:.*]] = {{.*}} {
// CHECK:             %[[ACC:.*]] = memref.alloca() : memref<1xf32>
// CHECK:             scf.for %[[K:.*]] = {{.*}} {
// CHECK-NEXT:          %[[A:.*]] = memref.load %0[%[[I]], %[[K]]] : memref<2x3xf32>
// CHECK-NEXT:          %[[B:.*]] = memref.load %1[%[[K]], %[[J]]] : memref<3x4xf32>
// CHECK:               arith.mulf %[[A]], %[[B]] : f32
// CHECK:               memref.store %{{.*}}, %[[ACC]]
// CHECK-NEXT:        } {hetc.gemm_k}
// CHECK:             %[[S:.*]] = memref.load %[[ACC]]
// CHECK:             %[[BIAS:.*]] = memref.load %3[%[[J]]] : memref<4xf32>
// CHECK-NEXT:        %[[T:.*]] = arith.addf %[[S]], %[[BIAS]] : f32
// CHECK:             %[[Y:.*]] = arith.maximumf %[[T]], %{{.*}} : f32
// CHECK-NEXT:        memref.store %[[Y]], %2[%[[I]], %[[J]]] : memref<2x4xf32>
// CHECK-NEXT:      } {hetc.parallel}
// CHECK-NEXT:    } {hetc.parallel}
func.func @main(%x: tensor<2x3xf32>) -> tensor<2x4xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %w = "onnx.Constant"() {value = dense<1.000000e+00> : tensor<3x4xf32>} : () -> tensor<3x4xf32>
  %b = "onnx.Constant"() {value = dense<5.000000e-01> : tensor<4xf32>} : () -> tensor<4xf32>
  %m = "onnx.MatMul"(%x, %w) {hetc.node = "mm"} : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %a = "onnx.Add"(%m, %b) {hetc.node = "bias"} : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %y = "onnx.Relu"(%a) {hetc.node = "relu"} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %y : tensor<2x4xf32>
}

// -----

// A 3x3 convolution is an implicit GEMM: no im2col kernel or buffer; the k loop reads
// the padded input (flattened) directly at window(j) + offsets[k]: j = (output row,
// output column) unravelled with div/rem, k = (channel, tap row, tap column) through a
// compile-time table of offsets (a kernel argument), so per element only the table
// read depends on k. Every loop of the pad kernel's two phases (fill, copy) is parallel.
// CHECK-NOT:   im2col{{.*}}memref<{{.*}}xf32>
// CHECK-LABEL: func.func private @k0_pad
// CHECK-COUNT-3: } {hetc.parallel}
// CHECK-COUNT-3: } {hetc.parallel}
// CHECK-LABEL: func.func private @k1_conv_gemm(%0: memref<3x18xf32>, %1: memref<72xf32>, %2: memref<3x16xf32>, %3: memref<18xi32>) attributes {hetc.onnx_nodes = ["conv"], hetc.kernel = "conv_gemm", hetc.gemm = [3 : i64, 16 : i64, 18 : i64]}
// CHECK:         scf.for
// CHECK:           scf.for %[[J:.*]] = {{.*}} {
// CHECK:             scf.for %[[K:.*]] = {{.*}} {
// CHECK:               %[[Y:.*]] = arith.divui %[[J]], %{{.*}} : index
// CHECK:               %[[X:.*]] = arith.remui %[[J]], %{{.*}} : index
// CHECK:               %[[OFF:.*]] = memref.load %3[%[[K]]] : memref<18xi32>
// CHECK:               %[[KOFF:.*]] = arith.index_cast %[[OFF]] : i32 to index
// CHECK:               %[[ROW:.*]] = arith.muli %[[Y]], %{{.*}} : index
// CHECK:               %[[WIN:.*]] = arith.addi %[[ROW]], %[[X]] : index
// CHECK:               %[[AT:.*]] = arith.addi %[[WIN]], %[[KOFF]] : index
// CHECK:               memref.load %1[%[[AT]]] : memref<72xf32>
// CHECK:             } {hetc.gemm_k}
// CHECK:         func.call @k1_conv_gemm(%{{.*}}, %{{.*}}, %{{.*}}, %im2col_offsets)
// CHECK-NOT:   im2col
func.func @main(%x: tensor<1x2x4x4xf32>) -> tensor<1x3x4x4xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %w = "onnx.Constant"() {value = dense<1.000000e+00> : tensor<3x2x3x3xf32>} : () -> tensor<3x2x3x3xf32>
  %y = "onnx.Conv"(%x, %w) {pads = array<i64: 1, 1, 1, 1>, hetc.node = "conv"} : (tensor<1x2x4x4xf32>, tensor<3x2x3x3xf32>) -> tensor<1x3x4x4xf32>
  func.return %y : tensor<1x3x4x4xf32>
}

// -----

// A reduction's loop over the reduced dimension is marked hetc.reduction: the CUDA
// printer may split it over a warp's lanes (the accumulator is updated only by its
// maximumf, and combined across lanes after the loop).
// CHECK-LABEL: func.func private @k0_reduce_max
// CHECK:         scf.for
// CHECK:           %[[ACC:.*]] = memref.alloca() : memref<1xf32>
// CHECK:           scf.for
// CHECK:             arith.maximumf
// CHECK:             memref.store %{{.*}}, %[[ACC]]
// CHECK-NEXT:      } {hetc.reduction}
// CHECK:         } {hetc.parallel}
func.func @main(%x: tensor<2x100xf32>) -> tensor<2x1xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %a = "onnx.Constant"() {value = dense<1> : tensor<1xi64>} : () -> tensor<1xi64>
  %y = "onnx.ReduceMax"(%x, %a) {keepdims = 1 : si64, hetc.node = "rmax"} : (tensor<2x100xf32>, tensor<1xi64>) -> tensor<2x1xf32>
  func.return %y : tensor<2x1xf32>
}

// -----

// Batched products (attention's per-head MatMuls, numpy broadcasting of the batch dims)
// are one kernel: the batch is an outer parallel loop marked hetc.gemm_batch = B (the
// CUDA printer puts it on the grid's z axis), each operand indexed by it.
// CHECK-LABEL: func.func private @k0_gemm(%0: memref<6x4x5xf32>, %1: memref<6x5x3xf32>, %2: memref<6x4x3xf32>)
// CHECK-SAME:    hetc.gemm = [4 : i64, 3 : i64, 5 : i64]
// CHECK:         scf.for %[[BT:.*]] = {{.*}} {
// CHECK:           scf.for %[[I:.*]] = {{.*}} {
// CHECK:             scf.for %[[J:.*]] = {{.*}} {
// CHECK:               scf.for %[[K:.*]] = {{.*}} {
// CHECK-NEXT:            memref.load %0[%[[BT]], %[[I]], %[[K]]] : memref<6x4x5xf32>
// CHECK-NEXT:            memref.load %1[%[[BT]], %[[K]], %[[J]]] : memref<6x5x3xf32>
// CHECK:               } {hetc.gemm_k}
// CHECK:               memref.store %{{.*}}, %2[%[[BT]], %[[I]], %[[J]]] : memref<6x4x3xf32>
// CHECK:         } {hetc.parallel, hetc.gemm_batch = 6 : i64}
// CHECK-NOT:   func.func private @k1_gemm
func.func @main(%x: tensor<2x3x4x5xf32>, %w: tensor<2x3x5x3xf32>) -> tensor<2x3x4x3xf32> attributes {hetc.input_names = ["x", "w"], hetc.output_names = ["y"]} {
  %y = "onnx.MatMul"(%x, %w) {hetc.node = "mm"} : (tensor<2x3x4x5xf32>, tensor<2x3x5x3xf32>) -> tensor<2x3x4x3xf32>
  func.return %y : tensor<2x3x4x3xf32>
}

// -----

// A batched A times one shared B (a dense layer over [batch, tokens, features]) is one
// GEMM of batch x M rows over reinterpreted views: no per-batch tiles of a few rows.
// CHECK-LABEL: func.func private @k0_gemm(%0: memref<24x5xf32>, %1: memref<5x3xf32>, %2: memref<24x3xf32>)
// CHECK-SAME:    hetc.gemm = [24 : i64, 3 : i64, 5 : i64]
// CHECK-NOT:     hetc.gemm_batch
// CHECK:       func.func @main
// CHECK:         memref.reinterpret_cast %x to offset: [0], sizes: [24, 5]
// CHECK:         memref.reinterpret_cast %y to offset: [0], sizes: [24, 3]
// CHECK-NOT:   func.func private @k1_gemm
func.func @main(%x: tensor<2x3x4x5xf32>) -> tensor<2x3x4x3xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %w = "onnx.Constant"() {value = dense<1.000000e+00> : tensor<5x3xf32>} : () -> tensor<5x3xf32>
  %y = "onnx.MatMul"(%x, %w) {hetc.node = "mm"} : (tensor<2x3x4x5xf32>, tensor<5x3xf32>) -> tensor<2x3x4x3xf32>
  func.return %y : tensor<2x3x4x3xf32>
}

// -----

// A convolution over a batch of images: im2col into [C*taps, N*OH*OW] (one kernel, both
// loops parallel, the padding folded in: no pad kernel), then one GEMM with
// the images side by side along N, reading that buffer row-major (tiles copy it with
// cp.async) and storing column j to image j / (OH*OW) of the [N, M, OH*OW] output.
// CHECK-NOT:   @k{{[0-9]+}}_pad
// CHECK-LABEL: func.func private @k0_im2col(%0: memref<8x4x4xf32>, %1: memref<18x64xf32>)
// CHECK:           arith.select
// CHECK:         } {hetc.parallel}
// CHECK-NEXT:  } {hetc.parallel}
// CHECK-LABEL: func.func private @k1_conv_gemm(%0: memref<3x18xf32>, %1: memref<18x64xf32>, %2: memref<4x3x16xf32>)
// CHECK-SAME:    hetc.gemm = [3 : i64, 64 : i64, 18 : i64]
// CHECK:         scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:           scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:               memref.load %1[%[[K:.*]], %[[J]]] : memref<18x64xf32>
// CHECK:             } {hetc.gemm_k}
// CHECK:             %[[IMG:.*]] = arith.divui %[[J]], %{{.*}} : index
// CHECK:             %[[PX:.*]] = arith.remui %[[J]], %{{.*}} : index
// CHECK:             memref.store %{{.*}}, %2[%[[IMG]], %[[I]], %[[PX]]] : memref<4x3x16xf32>
// CHECK-NOT:     hetc.gemm_batch
func.func @main(%x: tensor<4x2x4x4xf32>) -> tensor<4x3x4x4xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %w = "onnx.Constant"() {value = dense<1.000000e+00> : tensor<3x2x3x3xf32>} : () -> tensor<3x2x3x3xf32>
  %y = "onnx.Conv"(%x, %w) {hetc.node = "conv", pads = array<i64: 1, 1, 1, 1>, kernel_shape = array<i64: 3, 3>} : (tensor<4x2x4x4xf32>, tensor<3x2x3x3xf32>) -> tensor<4x3x4x4xf32>
  func.return %y : tensor<4x3x4x4xf32>
}

// -----

// A Transpose of the last two axes read only by a MatMul as B (attention's K^T) is no
// kernel: the GEMM reads B[k, j] as the Transpose's input at [j, k].
// CHECK-NOT:   @k{{[0-9]+}}_transpose
// CHECK-LABEL: func.func private @k0_gemm(%0: memref<2x4x5xf32>, %1: memref<2x3x5xf32>, %2: memref<2x4x3xf32>)
// CHECK:                 memref.load %0[%[[BT:[0-9]+]], %{{[0-9]+}}, %[[K:[0-9]+]]] : memref<2x4x5xf32>
// CHECK-NEXT:            memref.load %1[%[[BT]], %{{[0-9]+}}, %[[K]]] : memref<2x3x5xf32>
// CHECK:               } {hetc.gemm_k}
func.func @main(%x: tensor<2x4x5xf32>, %k: tensor<2x3x5xf32>) -> tensor<2x4x3xf32> attributes {hetc.input_names = ["x", "k"], hetc.output_names = ["y"]} {
  %kt = "onnx.Transpose"(%k) {perm = array<i64: 0, 2, 1>, hetc.node = "kt"} : (tensor<2x3x5xf32>) -> tensor<2x5x3xf32>
  %y = "onnx.MatMul"(%x, %kt) {hetc.node = "mm"} : (tensor<2x4x5xf32>, tensor<2x5x3xf32>) -> tensor<2x4x3xf32>
  func.return %y : tensor<2x4x3xf32>
}

// -----

// A GEMM whose product is read only by a Transpose (here attention's heads merged back,
// [B, H, T, D] -> [B, T, H, D]; not a graph output) stores each output at its transposed
// place: the flat index of (batch, i, j) unravelled over [B, H, T, D] and permuted.
// CHECK-LABEL: func.func private @k0_gemm(%0: memref<4x3x5xf32>, %1: memref<4x5x6xf32>, %2: memref<2x3x2x6xf32>)
// CHECK:               } {hetc.gemm_k}
// CHECK:               arith.remui
// CHECK:               arith.divui
// CHECK:               memref.store %{{.*}}, %2[%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}] : memref<2x3x2x6xf32>
// CHECK-NOT:   @k{{[0-9]+}}_transpose
func.func @main(%p: tensor<2x2x3x5xf32>, %v: tensor<2x2x5x6xf32>) -> tensor<2x3x2x6xf32> attributes {hetc.input_names = ["p", "v"], hetc.output_names = ["y"]} {
  %o = "onnx.MatMul"(%p, %v) {hetc.node = "pv"} : (tensor<2x2x3x5xf32>, tensor<2x2x5x6xf32>) -> tensor<2x2x3x6xf32>
  %t = "onnx.Transpose"(%o) {perm = array<i64: 0, 2, 1, 3>, hetc.node = "merge"} : (tensor<2x2x3x6xf32>) -> tensor<2x3x2x6xf32>
  %y = "onnx.Relu"(%t) {hetc.node = "relu"} : (tensor<2x3x2x6xf32>) -> tensor<2x3x2x6xf32>
  func.return %y : tensor<2x3x2x6xf32>
}

// -----

// A Mul by a scalar constant read only as A by a MatMul (attention's q * scale) is no
// kernel: the GEMM reads A unscaled and multiplies its products, first in the epilogue.
// CHECK-LABEL: func.func private @k0_gemm(%0: memref<2x4x5xf32>, %1: memref<2x5x3xf32>, %2: memref<2x4x3xf32>, %3: memref<1xf32>)
// CHECK:               } {hetc.gemm_k}
// CHECK:               %[[SUM:.*]] = memref.load
// CHECK:               %[[S:.*]] = memref.load %3
// CHECK:               arith.mulf %[[SUM]], %[[S]] : f32
// CHECK-NOT:   @k{{[0-9]+}}_elementwise
func.func @main(%q: tensor<2x4x5xf32>, %k: tensor<2x5x3xf32>) -> tensor<2x4x3xf32> attributes {hetc.input_names = ["q", "k"], hetc.output_names = ["y"]} {
  %s = "onnx.Constant"() {value = dense<1.250000e-01> : tensor<f32>} : () -> tensor<f32>
  %qs = "onnx.Mul"(%q, %s) {hetc.node = "scale"} : (tensor<2x4x5xf32>, tensor<f32>) -> tensor<2x4x5xf32>
  %y = "onnx.MatMul"(%qs, %k) {hetc.node = "qk"} : (tensor<2x4x5xf32>, tensor<2x5x3xf32>) -> tensor<2x4x3xf32>
  func.return %y : tensor<2x4x3xf32>
}
