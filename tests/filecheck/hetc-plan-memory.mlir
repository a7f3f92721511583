// RUN: hetc-opt %s --split-input-file -p hetc-plan-memory | filecheck %s
// RUN: hetc-opt %s --split-input-file -p 'hetc-plan-memory{time-limit=0.5 solver=greedy}' | filecheck %s --check-prefix=GREEDY

// A chain: t0 dies at the call writing t1, so t2 reuses t0's bytes (512 B each).
// CHECK-LABEL: func.func @main(
// CHECK-SAME:    hetc.arena_bytes = 1024 : i64
// CHECK-SAME:    hetc.memory_plan = {tensor_bytes = 1536 : i64, greedy_by_size_bytes = 1024 : i64, arena_bytes = 1024 : i64, lower_bound_bytes = 1024 : i64, method = "greedy-by-size", optimal = true, gap = 0.000000e+00 : f64}
// CHECK-NEXT:    %t0 = memref.alloc() {hetc.arena_offset = 0 : i64} : memref<1x128xf32>
// CHECK-NEXT:    func.call @k0(%x, %t0)
// CHECK-NEXT:    %t1 = memref.alloc() {hetc.arena_offset = 512 : i64} : memref<1x128xf32>
// CHECK-NEXT:    func.call @k1(%t0, %t1)
// CHECK-NEXT:    %t2 = memref.alloc() {hetc.arena_offset = 0 : i64} : memref<1x128xf32>
func.func private @k0(memref<1x64xf32>, memref<1x128xf32>)
func.func private @k1(memref<1x128xf32>, memref<1x128xf32>)
func.func private @k2(memref<1x128xf32>, memref<1x10xf32>)
func.func @main(%x: memref<1x64xf32>, %out: memref<1x10xf32>) {
  %t0 = memref.alloc() : memref<1x128xf32>
  func.call @k0(%x, %t0) : (memref<1x64xf32>, memref<1x128xf32>) -> ()
  %t1 = memref.alloc() : memref<1x128xf32>
  func.call @k1(%t0, %t1) : (memref<1x128xf32>, memref<1x128xf32>) -> ()
  %t2 = memref.alloc() : memref<1x128xf32>
  func.call @k1(%t1, %t2) : (memref<1x128xf32>, memref<1x128xf32>) -> ()
  func.call @k2(%t2, %out) : (memref<1x128xf32>, memref<1x10xf32>) -> ()
  func.return
}

// -----

// All live at one call: no reuse, buffers end to end. Sizes are elements x bytes,
// rounded up to 64: f32 1x10 = 40 -> 64, f16 3x100 = 600 -> 640, i64 17 = 136 -> 192,
// i1 100 = 100 -> 128, i8 64 = 64. Largest first (ties: first use, then op order)
// at the lowest free offset.
// CHECK-LABEL: func.func @main(
// CHECK-SAME:    hetc.arena_bytes = 1088 : i64
// CHECK-SAME:    tensor_bytes = 1088 : i64
// CHECK-NEXT:    %a = memref.alloc() {hetc.arena_offset = 960 : i64} : memref<1x10xf32>
// CHECK-NEXT:    %b = memref.alloc() {hetc.arena_offset = 0 : i64} : memref<3x100xf16>
// CHECK-NEXT:    %c = memref.alloc() {hetc.arena_offset = 640 : i64} : memref<17xi64>
// CHECK-NEXT:    %d = memref.alloc() {hetc.arena_offset = 832 : i64} : memref<100xi1>
// CHECK-NEXT:    %e = memref.alloc() {hetc.arena_offset = 1024 : i64} : memref<64xi8>
func.func private @all(memref<1x10xf32>, memref<3x100xf16>, memref<17xi64>, memref<100xi1>, memref<64xi8>)
func.func @main() {
  %a = memref.alloc() : memref<1x10xf32>
  %b = memref.alloc() : memref<3x100xf16>
  %c = memref.alloc() : memref<17xi64>
  %d = memref.alloc() : memref<100xi1>
  %e = memref.alloc() : memref<64xi8>
  func.call @all(%a, %b, %c, %d, %e) : (memref<1x10xf32>, memref<3x100xf16>, memref<17xi64>, memref<100xi1>, memref<64xi8>) -> ()
  func.return
}

// -----

// Views alias their source, transitively: t0 is last used through %w at @k3, so t1
// (written while t0 is still live) may not reuse t0's bytes. t2 is written at @k3, so
// it is live with both; t3, first written after @k3, reuses t0's and t1's bytes.
// CHECK-LABEL: func.func @main(
// CHECK-SAME:    hetc.arena_bytes = 1536 : i64
// CHECK-NEXT:    %t0 = memref.alloc() {hetc.arena_offset = 0 : i64} : memref<1x128xf32>
// CHECK:         %t1 = memref.alloc() {hetc.arena_offset = 512 : i64} : memref<1x128xf32>
// CHECK:         %t2 = memref.alloc() {hetc.arena_offset = 1024 : i64} : memref<1x128xf32>
// CHECK:         %t3 = memref.alloc() {hetc.arena_offset = 0 : i64} : memref<1x256xf32>
func.func private @k0(memref<1x64xf32>, memref<1x128xf32>)
func.func private @k3(memref<2x64xf32>, memref<1x128xf32>, memref<1x128xf32>)
func.func private @k4(memref<1x128xf32>, memref<1x256xf32>)
func.func private @k5(memref<1x256xf32>, memref<1x10xf32>)
func.func @main(%x: memref<1x64xf32>, %out: memref<1x10xf32>) {
  %t0 = memref.alloc() : memref<1x128xf32>
  func.call @k0(%x, %t0) : (memref<1x64xf32>, memref<1x128xf32>) -> ()
  %v = memref.collapse_shape %t0 [[0, 1]] : memref<1x128xf32> into memref<128xf32>
  %w = memref.expand_shape %v [[0, 1]] output_shape [2, 64] : memref<128xf32> into memref<2x64xf32>
  %t1 = memref.alloc() : memref<1x128xf32>
  func.call @k0(%x, %t1) : (memref<1x64xf32>, memref<1x128xf32>) -> ()
  %t2 = memref.alloc() : memref<1x128xf32>
  func.call @k3(%w, %t1, %t2) : (memref<2x64xf32>, memref<1x128xf32>, memref<1x128xf32>) -> ()
  %t3 = memref.alloc() : memref<1x256xf32>
  func.call @k4(%t2, %t3) : (memref<1x128xf32>, memref<1x256xf32>) -> ()
  func.call @k5(%t3, %out) : (memref<1x256xf32>, memref<1x10xf32>) -> ()
  func.return
}

// -----

// Greedy by size is not optimal here: it puts the 192-byte %a at 0, %b above it, %c at
// 0 and %d above %b (448 B). CP-SAT proves 384 B (the peak of live bytes) optimal by
// stacking %c and %d where %a was. solver=greedy keeps the greedy plan.
// CHECK-LABEL: func.func @main(
// CHECK-SAME:    hetc.arena_bytes = 384 : i64
// CHECK-SAME:    hetc.memory_plan = {tensor_bytes = 576 : i64, greedy_by_size_bytes = 448 : i64, arena_bytes = 384 : i64, lower_bound_bytes = 384 : i64, method = "cp-sat", optimal = true, gap = 0.000000e+00 : f64}
// CHECK-NEXT:    %a = memref.alloc() {hetc.arena_offset = 0 : i64} : memref<48xf32>
// CHECK-NEXT:    %b = memref.alloc() {hetc.arena_offset = 256 : i64} : memref<32xf32>
// CHECK-NEXT:    %c = memref.alloc() {hetc.arena_offset = 0 : i64} : memref<32xf32>
// CHECK-NEXT:    %d = memref.alloc() {hetc.arena_offset = 128 : i64} : memref<32xf32>
// GREEDY-LABEL: func.func private @r(
// GREEDY:         func.func @main(
// GREEDY-SAME:    hetc.arena_bytes = 448 : i64
// GREEDY-SAME:    hetc.memory_plan = {tensor_bytes = 576 : i64, greedy_by_size_bytes = 448 : i64, arena_bytes = 448 : i64, lower_bound_bytes = 384 : i64, method = "greedy-by-size", optimal = false, gap = 1.428570e-01 : f64}
// GREEDY-NEXT:    %a = memref.alloc() {hetc.arena_offset = 0 : i64} : memref<48xf32>
// GREEDY-NEXT:    %b = memref.alloc() {hetc.arena_offset = 192 : i64} : memref<32xf32>
// GREEDY-NEXT:    %c = memref.alloc() {hetc.arena_offset = 0 : i64} : memref<32xf32>
// GREEDY-NEXT:    %d = memref.alloc() {hetc.arena_offset = 320 : i64} : memref<32xf32>
func.func private @p(memref<48xf32>, memref<32xf32>)
func.func private @q(memref<48xf32>)
func.func private @r(memref<32xf32>, memref<32xf32>, memref<32xf32>)
func.func @main() {
  %a = memref.alloc() : memref<48xf32>
  %b = memref.alloc() : memref<32xf32>
  %c = memref.alloc() : memref<32xf32>
  %d = memref.alloc() : memref<32xf32>
  func.call @p(%a, %b) : (memref<48xf32>, memref<32xf32>) -> ()
  func.call @q(%a) : (memref<48xf32>) -> ()
  func.call @r(%b, %c, %d) : (memref<32xf32>, memref<32xf32>, memref<32xf32>) -> ()
  func.return
}

// -----

// No function called main: nothing to plan, nothing changes.
// CHECK-LABEL: func.func @kernel(
// CHECK-NOT:     hetc.
// CHECK:         func.return
func.func @kernel(%x: memref<4xf32>) {
  %t = memref.alloc() : memref<4xf32>
  "memref.copy"(%x, %t) : (memref<4xf32>, memref<4xf32>) -> ()
  func.return
}
