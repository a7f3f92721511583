// RUN: hetc-opt %s --split-input-file -p convert-onnx-to-loops | filecheck %s

// Einsum that hetc-decompose leaves (a diagonal): one nest, output labels outside
// (the outermost parallel), the summed label inside with an accumulator; the
// repeated label reads the diagonal.
// CHECK-LABEL: func.func private @k0_einsum(%0: memref<2x5x5xf32>, %1: memref<2x5x3xf32>, %2: memref<2x3xf32>) attributes {hetc.onnx_nodes = ["diag"], hetc.kernel = "einsum"}
// CHECK:         scf.for %[[B:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:           scf.for %[[J:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:             %[[ACC:.*]] = memref.alloca() : memref<1xf32>
// CHECK:             scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %{{.*}} {
// CHECK:               memref.load %0[%[[B]], %[[I]], %[[I]]] : memref<2x5x5xf32>
// CHECK:               memref.load %1[%[[B]], %[[I]], %[[J]]] : memref<2x5x3xf32>
// CHECK:               arith.mulf
// CHECK:               arith.addf
// CHECK:             memref.store %{{.*}}, %2[%[[B]], %[[J]]] : memref<2x3xf32>
// CHECK:         } {hetc.parallel}
func.func @main(%x: tensor<2x5x5xf32>, %b: tensor<2x5x3xf32>) -> tensor<2x3xf32> attributes {hetc.input_names = ["x", "b"], hetc.output_names = ["y"]} {
  %y = "onnx.Einsum"(%x, %b) {equation = "bii,bij->bj", hetc.node = "diag"} : (tensor<2x5x5xf32>, tensor<2x5x3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

// TopK: values and int64 indices of one kernel; pass j picks the best element after
// pass j-1's pick (a worse value, or an equal one at a higher index).
// CHECK-LABEL: func.func private @k0_topk(%0: memref<2x6x3xf32>, %1: memref<2x4x3xf32>, %2: memref<2x4x3xi64>) attributes {hetc.onnx_nodes = ["top"], hetc.kernel = "topk"}
// CHECK:         arith.index_cast %{{.*}} : index to i64
// CHECK:         arith.cmpf olt
// CHECK:         arith.cmpf oeq
// CHECK:         arith.cmpi sgt
// CHECK:         memref.store %{{.*}}, %1[%{{.*}}, %{{.*}}, %{{.*}}] : memref<2x4x3xf32>
// CHECK:         memref.store %{{.*}}, %2[%{{.*}}, %{{.*}}, %{{.*}}] : memref<2x4x3xi64>
// CHECK-LABEL: func.func @main(%x: memref<2x6x3xf32>, %v: memref<2x4x3xf32>, %i: memref<2x4x3xi64>)
// CHECK-NEXT:    func.call @k0_topk(%x, %v, %i)
func.func @main(%x: tensor<2x6x3xf32>) -> (tensor<2x4x3xf32>, tensor<2x4x3xi64>) attributes {hetc.input_names = ["x"], hetc.output_names = ["v", "i"]} {
  %k = "onnx.Constant"() {value = dense<4> : tensor<1xi64>} : () -> tensor<1xi64>
  %v, %i = "onnx.TopK"(%x, %k) {axis = 1 : i64, largest = 0 : i64, hetc.node = "top"} : (tensor<2x6x3xf32>, tensor<1xi64>) -> (tensor<2x4x3xf32>, tensor<2x4x3xi64>)
  func.return %v, %i : tensor<2x4x3xf32>, tensor<2x4x3xi64>
}

// -----

// Integer Pow is exact: square and multiply over the exponent's 63 magnitude bits.
// CHECK-LABEL: func.func private @k0_elementwise(%0: memref<4xi32>, %1: memref<4xi64>, %2: memref<4xi32>)
// CHECK:         arith.cmpi slt, %{{.*}}, %{{.*}} : i64
// CHECK:         %[[N:.*]] = arith.constant 63 : index
// CHECK:         scf.for %{{.*}} = %{{.*}} to %[[N]] step %{{.*}} {
// CHECK:           arith.andi %{{.*}}, %{{.*}} : i64
// CHECK:           arith.muli %{{.*}}, %{{.*}} : i32
// CHECK:           arith.divui %{{.*}}, %{{.*}} : i64
// CHECK:         memref.store %{{.*}}, %2[%{{.*}}] : memref<4xi32>
func.func @main(%x: tensor<4xi32>, %e: tensor<4xi64>) -> tensor<4xi32> attributes {hetc.input_names = ["x", "e"], hetc.output_names = ["y"]} {
  %y = "onnx.Pow"(%x, %e) {hetc.node = "pow"} : (tensor<4xi32>, tensor<4xi64>) -> tensor<4xi32>
  func.return %y : tensor<4xi32>
}

// -----

// A float base with an integer exponent computes in double, like the reference.
// CHECK-LABEL: func.func private @k0_elementwise(%0: memref<4xf32>, %1: memref<4xi32>, %2: memref<4xf32>)
// CHECK:         %[[X:.*]] = arith.extf %{{.*}} : f32 to f64
// CHECK-NEXT:    %[[E:.*]] = arith.sitofp %{{.*}} : i32 to f64
// CHECK-NEXT:    %[[P:.*]] = math.powf %[[X]], %[[E]] : f64
// CHECK-NEXT:    arith.truncf %[[P]] : f64 to f32
func.func @main(%x: tensor<4xf32>, %e: tensor<4xi32>) -> tensor<4xf32> attributes {hetc.input_names = ["x", "e"], hetc.output_names = ["y"]} {
  %y = "onnx.Pow"(%x, %e) {hetc.node = "pow"} : (tensor<4xf32>, tensor<4xi32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}

// -----

// Integer Clip with only a lower bound: one signed max.
// CHECK-LABEL: func.func private @k0_elementwise(%0: memref<4xi8>, %1: memref<i8>, %2: memref<4xi8>)
// CHECK:         %[[X:.*]] = memref.load %0[%{{.*}}] : memref<4xi8>
// CHECK-NEXT:    %[[LO:.*]] = memref.load %1[] : memref<i8>
// CHECK-NEXT:    %[[Y:.*]] = arith.maxsi %[[X]], %[[LO]] : i8
// CHECK-NEXT:    memref.store %[[Y]], %2
func.func @main(%x: tensor<4xi8>) -> tensor<4xi8> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %lo = "onnx.Constant"() {value = dense<-3> : tensor<i8>} : () -> tensor<i8>
  %n = "onnx.NoValue"() : () -> none
  %y = "onnx.Clip"(%x, %lo, %n) {hetc.node = "clip"} : (tensor<4xi8>, tensor<i8>, none) -> tensor<4xi8>
  func.return %y : tensor<4xi8>
}

// -----

// Round: halves to even.
// CHECK-LABEL: func.func private @k0_elementwise(%0: memref<4xf32>, %1: memref<4xf32>)
// CHECK:         math.roundeven %{{.*}} : f32
func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %y = "onnx.Round"(%x) {hetc.node = "round"} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}

// -----

// Dropout at inference with its mask used: a copy into the output and a fill of true.
// CHECK-LABEL: func.func private @k0_elementwise(%0: memref<2x3xf32>, %1: memref<2x3xf32>) attributes {hetc.onnx_nodes = ["drop"], hetc.kernel = "elementwise"}
// CHECK-LABEL: func.func private @k1_fill(%0: memref<2x3xi1>) attributes {hetc.onnx_nodes = ["drop"], hetc.kernel = "fill"}
// CHECK:         %[[T:.*]] = arith.constant true
// CHECK-NEXT:    memref.store %[[T]], %0[%{{.*}}, %{{.*}}] : memref<2x3xi1>
// CHECK-LABEL: func.func @main(%x: memref<2x3xf32>, %y: memref<2x3xf32>, %mask: memref<2x3xi1>)
// CHECK-NEXT:    func.call @k0_elementwise(%x, %y)
// CHECK-NEXT:    func.call @k1_fill(%mask)
func.func @main(%x: tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xi1>) attributes {hetc.input_names = ["x"], hetc.output_names = ["y", "mask"]} {
  %y, %mask = "onnx.Dropout"(%x) {hetc.node = "drop"} : (tensor<2x3xf32>) -> (tensor<2x3xf32>, tensor<2x3xi1>)
  func.return %y, %mask : tensor<2x3xf32>, tensor<2x3xi1>
}

// -----

// A Split along an axis with only size-1 dims before it (q, k, v after a transformer's
// qkv transpose) makes no kernel: each piece is a view of its contiguous run of x. The
// pieces' consumer reads the view at its offset (here 1 x 2 x 3 = 6 elements in).
// CHECK-NOT:   @k{{[0-9]+}}_split
// CHECK:       func.func private @k0_elementwise(%0: memref<1x2x3xf32>, %1: memref<1x2x3xf32, strided<[6, 3, 1], offset: 6>>
// CHECK:       func.func @main
// CHECK:         memref.reinterpret_cast %x to offset: [0], sizes: [1, 2, 3]
// CHECK:         memref.reinterpret_cast %x to offset: [6], sizes: [1, 2, 3]
func.func @main(%x: tensor<2x2x3xf32>) -> tensor<1x2x3xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %s = "onnx.Constant"() {value = dense<1> : tensor<2xi64>} : () -> tensor<2xi64>
  %a, %b = "onnx.Split"(%x, %s) {axis = 0 : i64, hetc.node = "split"} : (tensor<2x2x3xf32>, tensor<2xi64>) -> (tensor<1x2x3xf32>, tensor<1x2x3xf32>)
  %y = "onnx.Mul"(%a, %b) {hetc.node = "mul"} : (tensor<1x2x3xf32>, tensor<1x2x3xf32>) -> (tensor<1x2x3xf32>)
  func.return %y : tensor<1x2x3xf32>
}
