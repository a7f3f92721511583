// RUN: hetc-opt %s -p hetc-he-ntt-to-matmul | filecheck %s

// N = 4 = C x R with C = R = 2, q = 17, psi = 2 (2^4 = 16 = -1 mod 17).
// Forward: y = ((A @ x[CxR]) * T) @ B, output bit-reversed; the negacyclic twist, the
// twiddles, the bit-reversal and the transpose all live in the three constants:
//   A[u, b'] = psi^(R b' (2 brv(u) + 1))  = [[1, 4], [1, 13]]
//   T[u, a'] = psi^(a' (2 brv(u) + 1))    = [[1, 2], [1, 8]]
//   B[a', v] = psi^(2 C a' brv(v))        = [[1, 1], [1, 16]]
// CHECK-LABEL: func.func @ntt(
// CHECK-NEXT:    %xm = "he.reshape"(%x) : (tensor<4xui32>) -> tensor<2x2xui32>
// CHECK-NEXT:    %A = "he.constant"() {value = dense<{{\[}}[1, 4], [1, 13]]> : tensor<2x2xui32>}
// CHECK-NEXT:    %m1 = "he.modmatmul"(%A, %xm) {moduli = array<i64: 17>} : (tensor<2x2xui32>, tensor<2x2xui32>) -> tensor<2x2xui32>
// CHECK-NEXT:    %T = "he.constant"() {value = dense<{{\[}}[1, 2], [1, 8]]> : tensor<2x2xui32>}
// CHECK-NEXT:    %m2 = "he.modmul"(%m1, %T) {moduli = array<i64: 17>}
// CHECK-NEXT:    %B = "he.constant"() {value = dense<{{\[}}[1, 1], [1, 16]]> : tensor<2x2xui32>}
// CHECK-NEXT:    %m3 = "he.modmatmul"(%m2, %B) {moduli = array<i64: 17>}
// CHECK-NEXT:    %res = "he.reshape"(%m3) : (tensor<2x2xui32>) -> tensor<4xui32>
// CHECK-NEXT:    func.return %res : tensor<4xui32>
// CHECK-NOT:     he.ntt
func.func @ntt(%x: tensor<4xui32>) -> tensor<4xui32> {
  %y = "he.ntt"(%x) {n = 4 : i64, moduli = array<i64: 17>, roots = array<i64: 2>} : (tensor<4xui32>) -> tensor<4xui32>
  func.return %y : tensor<4xui32>
}

// Inverse with two RNS limbs (q = 17, 97; psi = 3, 8) on ui64 tensors, N = 8 = 4 x 2:
// x = Ai @ ((y[CxR] @ Bi) * Ti), each constant stacked per limb [L, ...], the matmuls
// batched over the limbs; N^-1 is folded into Ai (8^-1 = 15 mod 17, 85 mod 97).
// CHECK-LABEL: func.func @intt_rns(
// CHECK-NEXT:    %xm = "he.reshape"(%y) : (tensor<2x8xui64>) -> tensor<2x4x2xui64>
// CHECK-NEXT:    %Bi = "he.constant"() {value = dense<{{\[\[}}[1, 1], [1, 16]], {{\[\[}}1, 1], [1, 96]]]> : tensor<2x2x2xui64>}
// CHECK-NEXT:    %m1 = "he.modmatmul"(%xm, %Bi) {moduli = array<i64: 17, 97>} : (tensor<2x4x2xui64>, tensor<2x2x2xui64>) -> tensor<2x4x2xui64>
// CHECK-NEXT:    %Ti = "he.constant"() {value = dense<{{.*}}> : tensor<2x4x2xui64>}
// CHECK-NEXT:    %m2 = "he.modmul"(%m1, %Ti) {moduli = array<i64: 17, 97>}
// CHECK-NEXT:    %Ai = "he.constant"() {value = dense<{{\[\[}}[15, 15, 15, 15], {{.*}}], {{\[\[}}85, 85, 85, 85], {{.*}}> : tensor<2x4x4xui64>}
// CHECK-NEXT:    %m3 = "he.modmatmul"(%Ai, %m2) {moduli = array<i64: 17, 97>} : (tensor<2x4x4xui64>, tensor<2x4x2xui64>) -> tensor<2x4x2xui64>
// CHECK-NEXT:    %res = "he.reshape"(%m3) : (tensor<2x4x2xui64>) -> tensor<2x8xui64>
// CHECK-NEXT:    func.return %res
func.func @intt_rns(%y: tensor<2x8xui64>) -> tensor<2x8xui64> {
  %x = "he.intt"(%y) {n = 8 : i64, moduli = array<i64: 17, 97>, roots = array<i64: 3, 8>} : (tensor<2x8xui64>) -> tensor<2x8xui64>
  func.return %x : tensor<2x8xui64>
}

// N = 2: C = 2, R = 1 (a 1 x 1 right-hand matrix); other ops stay.
// CHECK-LABEL: func.func @tiny(
// CHECK:         "he.modmatmul"(%A, %xm) {moduli = array<i64: 17>} : (tensor<2x2xui32>, tensor<2x1xui32>) -> tensor<2x1xui32>
// CHECK:         "he.modmatmul"(%m2, %B) {moduli = array<i64: 17>} : (tensor<2x1xui32>, tensor<1x1xui32>) -> tensor<2x1xui32>
// CHECK:         "he.modadd"
func.func @tiny(%x: tensor<2xui32>) -> tensor<2xui32> {
  %y = "he.ntt"(%x) {n = 2 : i64, moduli = array<i64: 17>, roots = array<i64: 4>} : (tensor<2xui32>) -> tensor<2xui32>
  %z = "he.modadd"(%y, %x) {moduli = array<i64: 17>} : (tensor<2xui32>, tensor<2xui32>) -> tensor<2xui32>
  func.return %z : tensor<2xui32>
}
