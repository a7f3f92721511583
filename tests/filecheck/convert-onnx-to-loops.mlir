// RUN: hetc-opt %s -p convert-onnx-to-loops | filecheck %s

// Each onnx op becomes a kernel of scf.for loops over memrefs; @main becomes the
// host program: buffers, weights as globals, reshapes as views, one call per kernel.

// CHECK:       "memref.global"() <{sym_name = "w0", type = memref<3x4xf32>, initial_value = dense<1.000000e+00> : tensor<3x4xf32>
// The Reshape's shape constant is compile-time only: no global for it.
// CHECK-NOT:   memref<1xi64>

// CHECK-LABEL: func.func private @k0_elementwise(%0: memref<2x3xf32>, %1: memref<2x3xf32>) attributes {hetc.onnx_nodes = ["relu"], hetc.kernel = "elementwise"}
// CHECK:         scf.for
// CHECK:           scf.for
// CHECK:             %{{.*}} = memref.load %0[%{{.*}}, %{{.*}}] : memref<2x3xf32>
// CHECK:             %{{.*}} = arith.maximumf
// CHECK:             memref.store %{{.*}}, %1[%{{.*}}, %{{.*}}] : memref<2x3xf32>
// CHECK:         } {hetc.parallel}

// The GEMM accumulates a register tile in an alloca and stores it once.
// CHECK-LABEL: func.func private @k1_gemm(%0: memref<2x3xf32>, %1: memref<3x4xf32>, %2: memref<2x4xf32>) attributes {hetc.onnx_nodes = ["mm"], hetc.kernel = "gemm"}
// CHECK:         memref.alloca() : memref<2x4xf32>
// CHECK:         arith.mulf
// CHECK:         arith.addf
// CHECK:         memref.store %{{.*}}, %2[%{{.*}}, %{{.*}}] : memref<2x4xf32>

// CHECK-LABEL: func.func @main(%x: memref<2x3xf32>, %y: memref<8xf32>)
// CHECK-NEXT:    %w = memref.get_global @w0 : memref<3x4xf32>
// CHECK-NEXT:    %r = memref.alloc() : memref<2x3xf32>
// CHECK-NEXT:    func.call @k0_elementwise(%x, %r)
// CHECK-NEXT:    %m = memref.alloc() : memref<2x4xf32>
// CHECK-NEXT:    func.call @k1_gemm(%r, %w, %m)
// CHECK-NEXT:    %0 = memref.reinterpret_cast %m to offset: [0], sizes: [8], strides: [1] : memref<2x4xf32> to memref<8xf32>
// CHECK-NEXT:    "memref.copy"(%0, %y)
// CHECK-NEXT:    func.return
func.func @main(%x: tensor<2x3xf32>) -> tensor<8xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %w = "onnx.Constant"() {value = dense<1.000000e+00> : tensor<3x4xf32>} : () -> tensor<3x4xf32>
  %r = "onnx.Relu"(%x) {hetc.node = "relu"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %m = "onnx.MatMul"(%r, %w) {hetc.node = "mm"} : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %s = "onnx.Constant"() {value = dense<8> : tensor<1xi64>} : () -> tensor<1xi64>
  %y = "onnx.Reshape"(%m, %s) : (tensor<2x4xf32>, tensor<1xi64>) -> tensor<8xf32>
  func.return %y : tensor<8xf32>
}
