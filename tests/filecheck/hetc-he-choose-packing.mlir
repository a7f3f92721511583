// RUN: hetc-opt %s --split-input-file -p 'hetc-he-choose-packing{client_packing=false}' | filecheck %s
// RUN: hetc-opt %s --split-input-file -p 'hetc-he-choose-packing{strategy=diagonal}' | filecheck %s --check-prefix=DIAG
// RUN: hetc-opt %s --split-input-file -p hetc-he-choose-packing | filecheck %s --check-prefix=CLIENT

// Two layers, 64 -> 32 -> 16. Diagonal everywhere: (1 + 63) + (1 + 31) = 96 rotations,
// 65 keys (-64, -32 and 1..63). The CP-SAT plan: n1 = 8 for both (7 + 7 and 7 + 3 baby and
// giant steps, + 2 replications = 26 rotations, the minimum; the second layer's n1 = 6 would
// also give 26 but needs keys 1..5, 6, 12, .., 30 on top: n1 = 8 reuses the first layer's
// keys 1..7, 8, 16, 24): 16 keys.
// CHECK:       he.packing = "strategy=ilp rotations=26 keys=16 diagonal_rotations=96 diagonal_keys=65 solver=cp-sat status=OPTIMAL
// CHECK:       "he.matvec"(%w1, %x) {n1 = 8 : i64}
// CHECK:       "he.matvec"(%w2, %h) {n1 = 8 : i64}

// DIAG:        he.packing = "strategy=diagonal rotations=96 keys=65 diagonal_rotations=96 diagonal_keys=65"
// DIAG:        "he.matvec"(%w1, %x) {n1 = 64 : i64}
// DIAG:        "he.matvec"(%w2, %h) {n1 = 32 : i64}
// DIAG:        "he.einsum"(%w, %x) {equation = "ij,j->i", order = "ij"}

// With client packing allowed, the first layer's x (straight from he.encrypt) is
// encrypted already replicated: one rotation less.
// CLIENT:      rotations=25
// CLIENT:      "he.matvec"(%w1, %x) {n1 = 8 : i64, pack_at_encrypt}
func.func @mlp(%w1: tensor<32x64xf64>, %w2: tensor<16x32xf64>, %v: tensor<64xf64>) -> tensor<16xf64> {
  %x = "he.encrypt"(%v) : (tensor<64xf64>) -> !he.ct<4096, "grid dims=64 strides=1 clean">
  %h = "he.matvec"(%w1, %x) : (tensor<32x64xf64>, !he.ct<4096, "grid dims=64 strides=1 clean">) -> !he.ct<4096, "grid dims=32 strides=1 clean">
  %y = "he.matvec"(%w2, %h) : (tensor<16x32xf64>, !he.ct<4096, "grid dims=32 strides=1 clean">) -> !he.ct<4096, "grid dims=16 strides=1 clean">
  %r = "he.decrypt"(%y) : (!he.ct<4096, "grid dims=16 strides=1 clean">) -> tensor<16xf64>
  func.return %r : tensor<16xf64>
}

// -----

// An einsum 'ij,j->i' with x straight from he.encrypt: the default order (i, j) needs
// 2 expansion rotations (x along i) + 2 reduction rotations (along j); packing x already
// expanded at encryption leaves the 2 reductions. Without client packing the order stays.
// CHECK:       he.packing = "strategy=ilp rotations=4 keys=4 diagonal_rotations=4 diagonal_keys=4
// CHECK-LABEL: func.func @ein(
// CHECK:       "he.einsum"(%w, %x) {equation = "ij,j->i", order = "ij"}
// CLIENT:      he.packing = "strategy=ilp rotations=2 keys=2 diagonal_rotations=4 diagonal_keys=4
// CLIENT-LABEL: func.func @ein(
// CLIENT:      "he.einsum"(%w, %x) {equation = "ij,j->i", order = "ij", expand_at_encrypt}
func.func @ein(%w: tensor<3x4xf64>, %v: tensor<4xf64>) -> !he.ct<32, "auto"> {
  %x = "he.encrypt"(%v) : (tensor<4xf64>) -> !he.ct<32, "grid dims=4 strides=1 clean">
  %y = "he.einsum"(%w, %x) {equation = "ij,j->i"} : (tensor<3x4xf64>, !he.ct<32, "grid dims=4 strides=1 clean">) -> !he.ct<32, "auto">
  func.return %y : !he.ct<32, "auto">
}
