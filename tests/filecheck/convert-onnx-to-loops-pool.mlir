// RUN: hetc-opt %s --split-input-file -p convert-onnx-to-loops | filecheck %s

// Pooling (passes/loops/conv.py) over any number of spatial dims: the input is padded
// with the type's lowest value, then one nest runs over channels, output positions and
// the window. MaxPool's Indices output keeps, beside the running maximum, the flat
// position of the first maximum in the unpadded input (storage_order = 1: the spatial
// dims column-major, d + 3 * h + 12 * w here), and is written straight into its output.
// CHECK-LABEL: func.func private @k0_pad(%0: memref<2x3x4x4xf32>, %1: memref<2x4x4x4xf32>)
// CHECK:         arith.constant 0xff800000 : f32
// CHECK-LABEL: func.func private @k1_maxpool(%0: memref<2x4x4x4xf32>, %1: memref<2x2x2x2xf32>, %2: memref<2x2x2x2xi64>)
// CHECK:         %[[BEST:.*]] = memref.alloca() : memref<1xf32>
// CHECK:         %[[WHERE:.*]] = memref.alloca() : memref<1xi64>
// CHECK:         %[[X:.*]] = memref.load %0[
// CHECK-NEXT:    %[[CUR:.*]] = memref.load %[[BEST]][
// CHECK-NEXT:    %[[TAKE:.*]] = arith.cmpf ogt, %[[X]], %[[CUR]] : f32
// CHECK:         arith.constant 12 : index
// CHECK:         arith.select %[[TAKE]], %[[X]], %[[CUR]] : f32
// CHECK:         %[[POS:.*]] = arith.index_cast %{{.*}} : index to i64
// CHECK:         arith.select %[[TAKE]], %[[POS]], %{{.*}} : i64
// CHECK:         memref.store %{{.*}}, %1[
// CHECK:         memref.store %{{.*}}, %2[
// CHECK-LABEL: func.func @main(%x: memref<1x2x3x4x4xf32>, %y: memref<1x2x2x2x2xf32>, %i: memref<1x2x2x2x2xi64>)
// CHECK:         func.call @k1_maxpool(%padded, %{{.*}}, %{{.*}})
// CHECK-NEXT:    func.return
func.func @main(%x: tensor<1x2x3x4x4xf32>) -> (tensor<1x2x2x2x2xf32>, tensor<1x2x2x2x2xi64>) attributes {hetc.input_names = ["x"], hetc.output_names = ["y", "i"]} {
  %y, %i = "onnx.MaxPool"(%x) {kernel_shape = array<i64: 2, 2, 2>, strides = array<i64: 2, 2, 2>, pads = array<i64: 1, 0, 0, 0, 0, 0>, storage_order = 1 : i64, hetc.node = "pool"} : (tensor<1x2x3x4x4xf32>) -> (tensor<1x2x2x2x2xf32>, tensor<1x2x2x2x2xi64>)
  func.return %y, %i : tensor<1x2x2x2x2xf32>, tensor<1x2x2x2x2xi64>
}

// -----

// LpPool: |x|^p summed over the window (padding adds 0), then the p-th root; p = 2
// squares by a multiply and ends in a square root, other p go through pow.
// CHECK-LABEL: func.func private @k1_lppool(
// CHECK:         %[[X:.*]] = memref.load %0[
// CHECK:         %[[A:.*]] = math.absf %[[X]] : f32
// CHECK:         math.powf %[[A]], %{{.*}} : f32
// CHECK:         arith.addf
// CHECK:         %[[R:.*]] = arith.constant 0.333333343 : f32
// CHECK:         math.powf %{{.*}}, %[[R]] : f32
func.func @main(%x: tensor<1x1x5xf32>) -> tensor<1x1x3xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %y = "onnx.LpPool"(%x) {kernel_shape = array<i64: 3>, strides = array<i64: 2>, pads = array<i64: 1, 1>, p = 3 : i64, hetc.node = "lp"} : (tensor<1x1x5xf32>) -> tensor<1x1x3xf32>
  func.return %y : tensor<1x1x3xf32>
}
