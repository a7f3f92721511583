// RUN: hetc-opt %s -p 'hetc-lift-narrow-floats,convert-onnx-to-loops{target=gpu},hetc-narrow-storage,hetc-elide-copies' | filecheck %s

// A float16 MatMul, lifted to f32 and narrowed back: its io Casts became kernels that copy
// f16 to f16 (the inputs) and round-trip f16 -> f32 -> f16 (the output). All three go: the
// GEMM reads the inputs %a, %b and writes the output %y_to_f16 itself; the copy kernels and
// their buffers are gone, and @main counts what it dropped.
// CHECK-NOT:   func.func private @k0_elementwise
// CHECK-NOT:   func.func private @k1_elementwise
// CHECK-LABEL: func.func private @k2_gemm
// CHECK-NOT:   func.func private @k3_elementwise
// CHECK-LABEL: func.func @main(%a: memref<64x32xf16>, %b: memref<32x16xf16>, %y_to_f16: memref<64x16xf16>)
// CHECK-SAME:    hetc.elided_copies = 3 : i64
// CHECK-NOT:     memref.alloc
// CHECK:         func.call @k2_gemm(%a, %b, %y_to_f16)
// CHECK-NEXT:    func.return
func.func @main(%a: tensor<64x32xf16>, %b: tensor<32x16xf16>) -> tensor<64x16xf16> attributes {hetc.input_names = ["a", "b"], hetc.output_names = ["y"]} {
  %y = "onnx.MatMul"(%a, %b) {hetc.node = "mm"} : (tensor<64x32xf16>, tensor<32x16xf16>) -> tensor<64x16xf16>
  func.return %y : tensor<64x16xf16>
}
