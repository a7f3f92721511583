// RUN: hetc-opt %s -p 'hetc-npu-lower{capacity=128 alloc=belady}' | filecheck %s

// Two copies x -> t -> y of 64 bytes each on a 128-byte scratchpad: x is loaded, t
// allocated, the first kernel runs on SPM operands; x is dropped for y; y is stored.
// The plan (traffic as replay predicts it) is left on @main.
// CHECK-LABEL: func.func @main
// CHECK-SAME:    hetc.npu_plan = "{{.*}}\22traffic\22: {\22compulsory\22: 128, \22noncompulsory\22: 0}
// CHECK:         "npu.dma_in"(%x) <{tensor = "x", offset = 0 : i64, bytes = 64 : i64}>
// CHECK-NEXT:    "npu.alloc"() <{tensor = "t", offset = 64 : i64, bytes = 64 : i64}>
// CHECK-NEXT:    "npu.vector"() <{elements = 4 : i64}>
// CHECK-NEXT:    "npu.compute"(%x, %t) <{callee = @k0, op = "c1"}>
// CHECK-NEXT:    "npu.free"() <{tensor = "x"}>
// CHECK-NEXT:    "npu.alloc"() <{tensor = "y", offset = 0 : i64, bytes = 64 : i64}>
// CHECK:         "npu.compute"(%t, %y) <{callee = @k0, op = "c2"}>
// CHECK:         "npu.dma_out"(%y) <{tensor = "y", offset = {{[0-9]+}} : i64, bytes = 64 : i64}>
// CHECK-NOT:     func.call
func.func private @k0(%a: memref<16xf32>, %b: memref<16xf32>) attributes {hetc.onnx_nodes = ["copy"], hetc.kernel = "elementwise"} {
  %c0 = arith.constant 0 : index
  %v = memref.load %a[%c0] : memref<16xf32>
  memref.store %v, %b[%c0] : memref<16xf32>
  func.return
}
func.func @main(%x: memref<16xf32>, %y: memref<16xf32>) attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %t = memref.alloc() : memref<16xf32>
  func.call @k0(%x, %t) : (memref<16xf32>, memref<16xf32>) -> ()
  func.call @k0(%t, %y) : (memref<16xf32>, memref<16xf32>) -> ()
  func.return
}
