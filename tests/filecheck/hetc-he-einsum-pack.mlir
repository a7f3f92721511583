// RUN: hetc-opt %s -p hetc-he-einsum-pack | filecheck %s

// 'ij,j->i' with a plaintext 3x4 W and an encrypted 4-vector. Iteration order i, j
// (output letters first), extents padded to powers of two (i: 3 -> 4, j: 4), strides
// i: 4, j: 1. x arrives compact (x[j] at slot j); expand along i by doubling (rotations by
// -4, -8: 4 copies at period 4); W is encoded straight into the expanded layout; one
// product, one rescale; reduce along j by rotate-and-add (1, 2). y[i] lands at slot 4i,
// the other slots hold partial sums ("junk"): 4 rotations in all.
// CHECK-LABEL: func.func @matvec(
// CHECK-SAME:    -> !he.ct<32, "grid dims=3 strides=4 junk">
// CHECK:         %pt0 = "he.encode"(%w) : (tensor<3x4xf64>) -> !he.pt<32, "grid dims=3,4 strides=4,1 clean">
// CHECK-NEXT:    %[[S0:.*]] = "he.rotate"(%x) {offset = -4 : i64}
// CHECK-NEXT:    %x1_i0 = "he.slot_add"(%x, %[[S0]]) {{.*}} -> !he.ct<32, "grid dims=4 strides=1 bcast=2@4 clean">
// CHECK-NEXT:    %[[S1:.*]] = "he.rotate"(%x1_i0) {offset = -8 : i64}
// CHECK-NEXT:    %x1_i1 = "he.slot_add"(%x1_i0, %[[S1]]) {{.*}} -> !he.ct<32, "grid dims=4 strides=1 bcast=4@4 clean">
// CHECK-NEXT:    %prod = "he.slot_mul"(%x1_i1, %pt0)
// CHECK-NEXT:    %[[P:.*]] = "he.rescale"(%prod)
// CHECK-NEXT:    %[[R0:.*]] = "he.rotate"(%[[P]]) {offset = 1 : i64}
// CHECK-NEXT:    %red_j0 = "he.slot_add"(%[[P]], %[[R0]])
// CHECK-NEXT:    %[[R1:.*]] = "he.rotate"(%red_j0) {offset = 2 : i64}
// CHECK-NEXT:    %red_j1 = "he.slot_add"(%red_j0, %[[R1]]) {{.*}} -> !he.ct<32, "grid dims=3 strides=4 junk">
// CHECK-NEXT:    func.return %red_j1
func.func @matvec(%w: tensor<3x4xf64>, %v: tensor<4xf64>) -> !he.ct<32, "auto"> {
  %x = "he.encrypt"(%v) : (tensor<4xf64>) -> !he.ct<32, "grid dims=4 strides=1 clean">
  %y = "he.einsum"(%w, %x) {equation = "ij,j->i"} : (tensor<3x4xf64>, !he.ct<32, "grid dims=4 strides=1 clean">) -> !he.ct<32, "auto">
  func.return %y : !he.ct<32, "auto">
}

// 'i,i->' with both operands encrypted and expand_at_encrypt: nothing to expand, one
// ct x ct product, log2(8) = 3 reduction rotations; the scalar sits in slot 0.
// CHECK-LABEL: func.func @dot(
// CHECK:         %prod = "he.slot_mul"(%a, %b) : (!he.ct<16, "grid dims=5 strides=1 clean">, !he.ct<16, "grid dims=5 strides=1 clean">)
// CHECK-COUNT-3: he.rotate
// CHECK:         -> !he.ct<16, "grid dims= strides= junk">
func.func @dot(%u: tensor<5xf64>, %v: tensor<5xf64>) -> !he.ct<16, "auto"> {
  %a = "he.encrypt"(%u) : (tensor<5xf64>) -> !he.ct<16, "grid dims=5 strides=1 clean">
  %b = "he.encrypt"(%v) : (tensor<5xf64>) -> !he.ct<16, "grid dims=5 strides=1 clean">
  %y = "he.einsum"(%a, %b) {equation = "i,i->", expand_at_encrypt} : (!he.ct<16, "grid dims=5 strides=1 clean">, !he.ct<16, "grid dims=5 strides=1 clean">) -> !he.ct<16, "auto">
  func.return %y : !he.ct<16, "auto">
}

// 'ij,jk->ik' with the right operand encrypted and order k,i,j (set by
// hetc-he-choose-packing): strides k: 16, i: 4, j: 1; B is re-packed at its he.encrypt
// into that order's compact layout (B[j, k] at slot j + 16k) and expanded along i.
// CHECK-LABEL: func.func @mm(
// CHECK:         %enc = "he.encrypt"(%bv) : (tensor<4x2xf64>) -> !he.ct<64, "grid dims=4,2 strides=1,16 clean">
// CHECK:         "he.encode"(%a) : (tensor<3x4xf64>) -> !he.pt<64, "grid dims=3,4 strides=4,1 bcast=2@16 clean">
// CHECK:         -> !he.ct<64, "grid dims=3,2 strides=4,16 junk">
func.func @mm(%a: tensor<3x4xf64>, %bv: tensor<4x2xf64>) -> !he.ct<64, "auto"> {
  %enc = "he.encrypt"(%bv) : (tensor<4x2xf64>) -> !he.ct<64, "grid dims=4,2 strides=2,1 clean">
  %y = "he.einsum"(%a, %enc) {equation = "ij,jk->ik", order = "kij"} : (tensor<3x4xf64>, !he.ct<64, "grid dims=4,2 strides=2,1 clean">) -> !he.ct<64, "auto">
  func.return %y : !he.ct<64, "auto">
}
