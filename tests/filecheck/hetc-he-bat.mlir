// RUN: hetc-opt %s -p hetc-he-bat | filecheck %s

// A constant left operand, q = 12289 (14 bits: nb = 2 bytes per residue). BAT stores
// the bytes of the pre-scaled copies W^(j) = 2^(8j) W mod q:
//   W^(0) = W = [[1, 12288], [256, 4097]]   -> byte 0 [[1, 0], [0, 1]],    byte 1 [[0, 48], [1, 16]]
//   W^(1) = [[256, 12033], [4091, 4267]]    -> byte 0 [[0, 1], [251, 171]], byte 1 [[1, 47], [15, 16]]
// and computes P_i = sum_j W^(j)_i @ X_j as ONE u8 matmul per output byte i (two pairs,
// i.e. K concatenated twice), S = P_0 + (P_1 << 8), then one Barrett reduction with the
// bound the pass proved: S <= K * (255 + 48) * (255 + 48 * 256) = 7601058 (K = 2, top byte 48).
// CHECK-LABEL: func.func @const_lhs(
// CHECK-NEXT:    %w0b0 = "he.constant"() {value = dense<{{\[}}[1, 0], [0, 1]]> : tensor<2x2xui8>}
// CHECK-NEXT:    %w1b0 = "he.constant"() {value = dense<{{\[}}[0, 1], [251, 171]]> : tensor<2x2xui8>}
// CHECK-NEXT:    %w0b1 = "he.constant"() {value = dense<{{\[}}[0, 48], [1, 16]]> : tensor<2x2xui8>}
// CHECK-NEXT:    %w1b1 = "he.constant"() {value = dense<{{\[}}[1, 47], [15, 16]]> : tensor<2x2xui8>}
// CHECK-NEXT:    %x0 = "he.extract_byte"(%x) {index = 0 : i64} : (tensor<2x3xui32>) -> tensor<2x3xui8>
// CHECK-NEXT:    %x1 = "he.extract_byte"(%x) {index = 1 : i64} : (tensor<2x3xui32>) -> tensor<2x3xui8>
// CHECK-NEXT:    %p0 = "he.bytematmul"(%w0b0, %w1b0, %x0, %x1) : (tensor<2x2xui8>, tensor<2x2xui8>, tensor<2x3xui8>, tensor<2x3xui8>) -> tensor<2x3xui32>
// CHECK-NEXT:    %p1 = "he.bytematmul"(%w0b1, %w1b1, %x0, %x1) : (tensor<2x2xui8>, tensor<2x2xui8>, tensor<2x3xui8>, tensor<2x3xui8>) -> tensor<2x3xui32>
// CHECK-NEXT:    %s = "he.shift_sum"(%p0, %p1) {shift = 8 : i64} : (tensor<2x3xui32>, tensor<2x3xui32>) -> tensor<2x3xui64>
// CHECK-NEXT:    %y = "he.barrett_reduce"(%s) {moduli = array<i64: 12289>, max_input = 7601058 : ui64} : (tensor<2x3xui64>) -> tensor<2x3xui32>
// CHECK-NEXT:    func.return %y
// CHECK-NOT:     he.modmatmul
func.func @const_lhs(%x: tensor<2x3xui32>) -> tensor<2x3xui32> {
  %w = "he.constant"() {value = dense<[[1, 12288], [256, 4097]]> : tensor<2x2xui32>} : () -> tensor<2x2xui32>
  %y = "he.modmatmul"(%w, %x) {moduli = array<i64: 12289>} : (tensor<2x2xui32>, tensor<2x3xui32>) -> tensor<2x3xui32>
  func.return %y : tensor<2x3xui32>
}

// A constant right operand (X @ W, the last matmul of the 3-step NTT): the byte slices
// of X come first in every pair. q = 17 needs one byte: no shift-sum.
// CHECK-LABEL: func.func @const_rhs(
// CHECK-NEXT:    %w0b0 = "he.constant"() {value = dense<{{\[}}[1, 1], [1, 16]]> : tensor<2x2xui8>}
// CHECK-NEXT:    %x0 = "he.extract_byte"(%x) {index = 0 : i64} : (tensor<4x2xui32>) -> tensor<4x2xui8>
// CHECK-NEXT:    %p0 = "he.bytematmul"(%x0, %w0b0) : (tensor<4x2xui8>, tensor<2x2xui8>) -> tensor<4x2xui32>
// CHECK-NEXT:    %y = "he.barrett_reduce"(%p0) {moduli = array<i64: 17>, max_input = 512 : ui64} : (tensor<4x2xui32>) -> tensor<4x2xui32>
func.func @const_rhs(%x: tensor<4x2xui32>) -> tensor<4x2xui32> {
  %w = "he.constant"() {value = dense<[[1, 1], [1, 16]]> : tensor<2x2xui32>} : () -> tensor<2x2xui32>
  %y = "he.modmatmul"(%x, %w) {moduli = array<i64: 17>} : (tensor<4x2xui32>, tensor<2x2xui32>) -> tensor<4x2xui32>
  func.return %y : tensor<4x2xui32>
}

// No constant operand: W^(1) = 256 W mod q is computed at run time (a multiply and a
// Barrett reduction), then both sides are sliced.
// CHECK-LABEL: func.func @dynamic(
// CHECK-NEXT:    %s1 = "he.constant"() {value = dense<256> : tensor<1x1xui64>}
// CHECK-NEXT:    %ws1 = "he.mul"(%w, %s1) : (tensor<2x2xui32>, tensor<1x1xui64>) -> tensor<2x2xui64>
// CHECK-NEXT:    %w1 = "he.barrett_reduce"(%ws1) {moduli = array<i64: 12289>, max_input = 150994944 : ui64}
// CHECK-NEXT:    %w0b0 = "he.extract_byte"(%w) {index = 0 : i64}
// CHECK-NEXT:    %w1b0 = "he.extract_byte"(%w1) {index = 0 : i64}
// CHECK-NEXT:    %w0b1 = "he.extract_byte"(%w) {index = 1 : i64}
// CHECK-NEXT:    %w1b1 = "he.extract_byte"(%w1) {index = 1 : i64}
// CHECK-NEXT:    %x0 = "he.extract_byte"(%x) {index = 0 : i64}
// CHECK-NEXT:    %x1 = "he.extract_byte"(%x) {index = 1 : i64}
// CHECK-NEXT:    %p0 = "he.bytematmul"(%w0b0, %w1b0, %x0, %x1)
// CHECK-NEXT:    %p1 = "he.bytematmul"(%w0b1, %w1b1, %x0, %x1)
// CHECK-NEXT:    %s = "he.shift_sum"(%p0, %p1) {shift = 8 : i64}
// CHECK-NEXT:    %y = "he.barrett_reduce"(%s)
func.func @dynamic(%w: tensor<2x2xui32>, %x: tensor<2x3xui32>) -> tensor<2x3xui32> {
  %y = "he.modmatmul"(%w, %x) {moduli = array<i64: 12289>} : (tensor<2x2xui32>, tensor<2x3xui32>) -> tensor<2x3xui32>
  func.return %y : tensor<2x3xui32>
}

// 32-bit moduli, 4 bytes each, with a long contraction: 4 pairs x K = 20000 x 255^2
// overflows u32, so the byte matmuls accumulate in ui64.
// CHECK-LABEL: func.func @wide_accumulator(
// CHECK-COUNT-4: "he.bytematmul"({{.*}}) : ({{.*}}) -> tensor<1x1xui64>
// CHECK:         "he.shift_sum"({{.*}}) {shift = 8 : i64} : (tensor<1x1xui64>, tensor<1x1xui64>, tensor<1x1xui64>, tensor<1x1xui64>) -> tensor<1x1xui64>
func.func @wide_accumulator(%w: tensor<1x20000xui32>, %x: tensor<20000x1xui32>) -> tensor<1x1xui32> {
  %y = "he.modmatmul"(%w, %x) {moduli = array<i64: 4294967291>} : (tensor<1x20000xui32>, tensor<20000x1xui32>) -> tensor<1x1xui32>
  func.return %y : tensor<1x1xui32>
}

// RNS: two limbs, batched [L, M, K] @ [L, K, N]; the pre-scaled bytes are per limb.
// CHECK-LABEL: func.func @rns(
// CHECK:         "he.bytematmul"({{.*}}) : (tensor<2x2x2xui8>, tensor<2x2x2xui8>, tensor<2x2x3xui8>, tensor<2x2x3xui8>) -> tensor<2x2x3xui32>
// CHECK:         "he.barrett_reduce"(%s) {moduli = array<i64: 12289, 7681>
func.func @rns(%x: tensor<2x2x3xui32>) -> tensor<2x2x3xui32> {
  %w = "he.constant"() {value = dense<[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]> : tensor<2x2x2xui32>} : () -> tensor<2x2x2xui32>
  %y = "he.modmatmul"(%w, %x) {moduli = array<i64: 12289, 7681>} : (tensor<2x2x2xui32>, tensor<2x2x3xui32>) -> tensor<2x2x3xui32>
  func.return %y : tensor<2x2x3xui32>
}
