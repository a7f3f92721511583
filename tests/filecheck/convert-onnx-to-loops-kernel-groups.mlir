// RUN: hetc-opt %s -p 'hetc-fuse{mode=greedy},convert-onnx-to-loops' | filecheck %s --check-prefix=CPU
// RUN: hetc-opt %s -p 'hetc-fuse{mode=greedy},convert-onnx-to-loops{target=gpu}' | filecheck %s --check-prefix=GPU
// RUN: hetc-opt %s -p 'hetc-fuse{mode=none},convert-onnx-to-loops' | filecheck %s --check-prefix=NONE
// RUN: hetc-opt %s -p 'hetc-fuse{mode=greedy},convert-onnx-to-loops{target=gpu},hetc-plan-memory' | filecheck %s --check-prefix=PLAN

// The loop lowering consumes hetc-fuse's kernel.group regions: each group is one kernel.
// Here a Q/K/V GEMM as hetc-fuse-horizontal leaves it (MatMul over the concatenated
// weights, bias Add, Split of the last axis into 4/4/2 columns): hetc-fuse puts the
// Split in the GEMM's epilogue group, and the Split costs no kernel.

// On a CPU, one register-tiled GEMM call per column range, over that range's weight columns
// (packed at compile time) and bias slice, storing straight into the Split's outputs
// (K and V are graph outputs: their output arguments); no split kernel.
// CPU-NOT: hetc.kernel = "split"
// CPU: func.func @main(%x: memref<2x4x8xf32>, %s: memref<2x4x4xf32>, %[[K:.*]]: memref<2x4x4xf32>, %[[V:.*]]: memref<2x4x2xf32>)
// CPU: %[[X:.*]] = memref.reinterpret_cast %x to offset: [0], sizes: [8, 8], strides: [8, 1]
// CPU: %[[Q:.*]] = memref.alloc() : memref<2x4x4xf32>
// CPU: %[[B0:.*]] = memref.reinterpret_cast %b to offset: [0], sizes: [4]
// CPU: %[[Q2:.*]] = memref.reinterpret_cast %[[Q]] to offset: [0], sizes: [8, 4]
// CPU: func.call @k{{[0-9]+}}_gemm(%[[X]], %{{.*}}, %[[Q2]], %[[B0]])
// CPU: %[[B1:.*]] = memref.reinterpret_cast %b to offset: [4], sizes: [4]
// CPU: %[[K2:.*]] = memref.reinterpret_cast %[[K]] to offset: [0], sizes: [8, 4]
// CPU: func.call @k{{[0-9]+}}_gemm(%[[X]], %{{.*}}, %[[K2]], %[[B1]])
// CPU: %[[B2:.*]] = memref.reinterpret_cast %b to offset: [8], sizes: [2]
// CPU: %[[V2:.*]] = memref.reinterpret_cast %[[V]] to offset: [0], sizes: [8, 2]
// CPU: func.call @k{{[0-9]+}}_gemm(%[[X]], %{{.*}}, %[[V2]], %[[B2]])
// The Relu + Add after the Split: a row group of their own, one kernel.
// CPU-NEXT: func.call @k{{[0-9]+}}_fused_row(%[[Q]], %[[K]], %s)
// CPU-NEXT: func.return

// On a GPU (the plain GEMM form), one GEMM nest over all 10 columns storing column range s
// at offset M*off_s of one buffer, range-major (a select per range boundary), and the
// Split's outputs are views of that buffer at those offsets (graph outputs copied out).
// GPU: func.func private @k0_gemm(%{{.*}}: memref<8x8xf32>, %{{.*}}: memref<8x10xf32>, %[[C:.*]]: memref<80xf32>, %{{.*}}: memref<10xf32>) attributes {{{.*}}hetc.gemm = [8 : i64, 10 : i64, 8 : i64]}
// GPU: } {hetc.gemm_k}
// GPU: arith.cmpi ult, %{{.*}}, %{{.*}} : index
// GPU: arith.select
// GPU: arith.cmpi ult, %{{.*}}, %{{.*}} : index
// GPU: %[[ADDR:.*]] = arith.select
// GPU-NEXT: memref.store %{{.*}}, %[[C]][%[[ADDR]]] : memref<80xf32>
// GPU-NOT: hetc.kernel = "split"
// GPU: func.func @main
// GPU: %[[Y:.*]] = memref.alloc() : memref<80xf32>
// GPU-NEXT: func.call @k0_gemm(%{{.*}}, %w, %[[Y]], %b)
// GPU-NEXT: %[[QV:.*]] = memref.reinterpret_cast %[[Y]] to offset: [0], sizes: [2, 4, 4]
// GPU-NEXT: %[[KV:.*]] = memref.reinterpret_cast %[[Y]] to offset: [32], sizes: [2, 4, 4]
// GPU-NEXT: "memref.copy"(%[[KV]], %{{.*}})
// GPU-NEXT: %[[VV:.*]] = memref.reinterpret_cast %[[Y]] to offset: [64], sizes: [2, 4, 2]
// GPU-NEXT: "memref.copy"(%[[VV]], %{{.*}})
// GPU-NEXT: func.call @k1_fused_row(%[[QV]], %[[KV]], %s)

// In the memory plan the Split's outputs are offsets into the GEMM's one buffer.
// PLAN: %[[Y:.*]] = memref.alloc() {hetc.arena_offset = 0 : i64} : memref<80xf32>
// PLAN-NOT: memref.alloc
// PLAN: memref.reinterpret_cast %[[Y]] to offset: [32]
// PLAN-NOT: memref.alloc
// PLAN: func.call @k1_fused_row

// Without fusion the Split is a copy kernel of its own.
// NONE: hetc.kernel = "split"
// NONE: func.func @main
// NONE: func.call @k{{[0-9]+}}_gemm
// NONE: func.call @k{{[0-9]+}}_elementwise
// NONE: func.call @k{{[0-9]+}}_split
func.func @main(%x: tensor<2x4x8xf32>) -> (tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x2xf32>) {
  %w = "onnx.Constant"() {value = dense<5.000000e-01> : tensor<8x10xf32>} : () -> tensor<8x10xf32>
  %b = "onnx.Constant"() {value = dense<1.000000e+00> : tensor<10xf32>} : () -> tensor<10xf32>
  %sizes = "onnx.Constant"() {value = dense<[4, 4, 2]> : tensor<3xi64>} : () -> tensor<3xi64>
  %y = "onnx.MatMul"(%x, %w) {hetc.node = "qkv"} : (tensor<2x4x8xf32>, tensor<8x10xf32>) -> tensor<2x4x10xf32>
  %yb = "onnx.Add"(%y, %b) {hetc.node = "qkv_bias"} : (tensor<2x4x10xf32>, tensor<10xf32>) -> tensor<2x4x10xf32>
  %q, %k, %v = "onnx.Split"(%yb, %sizes) {axis = -1 : i64, hetc.node = "split"} : (tensor<2x4x10xf32>, tensor<3xi64>) -> (tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x2xf32>)
  %qr = "onnx.Relu"(%q) {hetc.node = "q_relu"} : (tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  %s = "onnx.Add"(%qr, %k) {hetc.node = "qk"} : (tensor<2x4x4xf32>, tensor<2x4x4xf32>) -> tensor<2x4x4xf32>
  func.return %s, %k, %v : tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x4x2xf32>
}
