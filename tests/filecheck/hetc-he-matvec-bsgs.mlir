// RUN: hetc-opt %s -p hetc-he-matvec-bsgs | filecheck %s
// RUN: hetc-opt %s -p 'hetc-he-matvec-bsgs{strategy=diagonal}' | filecheck %s --check-prefix=DIAG

// A 4x6 plaintext matrix times an encrypted 6-vector, n1 = 3 baby steps: N = 6 diagonals,
// n2 = ceil(6/3) = 2 giant steps. x arrives zero-padded, so one rotation by -N replicates it
// (slot i + 6r holds x[i], r < 2); then baby rotations by 1, 2 (shared by both giant steps),
// diagonals k = 3j + i encoded pre-rotated at slot 3j, one rescale per giant step, one giant
// rotation by 3: 1 + 2 + 1 = 4 rotations instead of the diagonal method's 1 + 5.
// CHECK-LABEL: func.func @mv(
// CHECK:       %x_shift0 = "he.rotate"(%x) {offset = -6 : i64}
// CHECK-NEXT:  %x_rep0 = "he.slot_add"(%x, %x_shift0) {{.*}} -> !he.ct<32, "grid dims=6 strides=1 bcast=2@6 clean">
// CHECK-NEXT:  %x_rot1 = "he.rotate"(%x_rep0) {offset = 1 : i64}
// CHECK-NEXT:  %x_rot2 = "he.rotate"(%x_rep0) {offset = 2 : i64}
// CHECK-NEXT:  %w_diag0 = "he.encode"(%w) : (tensor<4x6xf64>) -> !he.pt<32, "diag rows=4 cols=6 d=6 k=0 at=0">
// CHECK-NEXT:  "he.slot_mul"(%x_rep0, %w_diag0)
// CHECK:       "he.encode"(%w) : (tensor<4x6xf64>) -> !he.pt<32, "diag rows=4 cols=6 d=6 k=2 at=0">
// CHECK:       "he.rescale"
// CHECK:       %w_diag3 = "he.encode"(%w) : (tensor<4x6xf64>) -> !he.pt<32, "diag rows=4 cols=6 d=6 k=3 at=3">
// CHECK-NEXT:  "he.slot_mul"(%x_rep0, %w_diag3)
// CHECK:       %w_diag5 = "he.encode"(%w) : (tensor<4x6xf64>) -> !he.pt<32, "diag rows=4 cols=6 d=6 k=5 at=3">
// CHECK-NEXT:  "he.slot_mul"(%x_rot2, %w_diag5)
// CHECK:       %[[G1:.*]] = "he.rescale"
// CHECK-NEXT:  %[[R:.*]] = "he.rotate"(%[[G1]]) {offset = 3 : i64}
// CHECK-NEXT:  %y = "he.slot_add"(%{{.*}}, %[[R]]) {{.*}} -> !he.ct<32, "grid dims=4 strides=1 clean">
// CHECK-NEXT:  %r = "he.decrypt"(%y)
// CHECK-NOT:   he.matvec

// The diagonal method (n1 = N): the replication plus 5 baby rotations, no giant step.
// DIAG-LABEL:   func.func @mv(
// DIAG-COUNT-6: he.rotate
// DIAG-NOT:     he.rotate
// DIAG-LABEL:   func.func @rep(
func.func @mv(%w: tensor<4x6xf64>, %x: !he.ct<32, "grid dims=6 strides=1 clean">) -> tensor<4xf64> {
  %y = "he.matvec"(%w, %x) {n1 = 3 : i64} : (tensor<4x6xf64>, !he.ct<32, "grid dims=6 strides=1 clean">) -> !he.ct<32, "grid dims=4 strides=1 clean">
  %r = "he.decrypt"(%y) : (!he.ct<32, "grid dims=4 strides=1 clean">) -> tensor<4xf64>
  func.return %r : tensor<4xf64>
}

// A vector already replicated at encryption (bcast=2@D): no replication rotation.
// CHECK-LABEL: func.func @rep(
// CHECK-NOT:   offset = -4
// CHECK:       "he.rotate"(%x) {offset = 1 : i64}
func.func @rep(%w: tensor<4x4xf64>, %x: !he.ct<16, "grid dims=4 strides=1 bcast=2@4 clean">) -> !he.ct<16, "grid dims=4 strides=1 clean"> {
  %y = "he.matvec"(%w, %x) {n1 = 2 : i64} : (tensor<4x4xf64>, !he.ct<16, "grid dims=4 strides=1 bcast=2@4 clean">) -> !he.ct<16, "grid dims=4 strides=1 clean">
  func.return %y : !he.ct<16, "grid dims=4 strides=1 clean">
}

// A tall 8x2 matrix: 2 diagonals of length 8 (no padding to 8x8); the diagonals read
// x up to slot 8 + 2 - 2, so x is replicated 8 times at period 2 by doubling (-2, -4, -8),
// then one baby rotation.
// CHECK-LABEL: func.func @tall(
// CHECK:       "he.rotate"(%x) {offset = -2 : i64}
// CHECK:       "he.rotate"(%x_rep0) {offset = -4 : i64}
// CHECK:       "he.rotate"(%x_rep1) {offset = -8 : i64}
// CHECK:       %x_rep2 = {{.*}} -> !he.ct<32, "grid dims=2 strides=1 bcast=8@2 clean">
// CHECK-NEXT:  %x_rot1 = "he.rotate"(%x_rep2) {offset = 1 : i64}
// CHECK-NEXT:  "he.encode"(%w) : (tensor<8x2xf64>) -> !he.pt<32, "diag rows=8 cols=2 d=2 k=0 at=0">
// CHECK-NOT:   he.rotate
// CHECK:       func.return
func.func @tall(%w: tensor<8x2xf64>, %x: !he.ct<32, "grid dims=2 strides=1 clean">) -> !he.ct<32, "grid dims=8 strides=1 clean"> {
  %y = "he.matvec"(%w, %x) {n1 = 2 : i64} : (tensor<8x2xf64>, !he.ct<32, "grid dims=2 strides=1 clean">) -> !he.ct<32, "grid dims=8 strides=1 clean">
  func.return %y : !he.ct<32, "grid dims=8 strides=1 clean">
}
