// RUN: hetc-opt %s -p hetc-he-barrett | filecheck %s

// modmul, q = 17 (k = 5 bits): x = a*b <= 16^2 = 256 < 2^9 (s = 9), a = k-1 = 4,
// b = s-a = 5, mu = floor(2^9 / 17) = 30; qhat = ((x >> 4) * 30) >> 5, r = x - qhat*q,
// then two conditional subtractions. Only multiplies, adds and shifts.
// CHECK-LABEL: func.func @modmul(
// CHECK-NEXT:    %prod = "he.mul"(%a, %b) : (tensor<8xui32>, tensor<8xui32>) -> tensor<8xui64>
// CHECK-NEXT:    %q = "he.constant"() {value = dense<17> : tensor<1xui64>}
// CHECK-NEXT:    %mu = "he.constant"() {value = dense<30> : tensor<1xui64>}
// CHECK-NEXT:    %alpha = "he.shr"(%prod) {amount = 4 : i64} : (tensor<8xui64>) -> tensor<8xui64>
// CHECK-NEXT:    %t = "he.mul"(%alpha, %mu) : (tensor<8xui64>, tensor<1xui64>) -> tensor<8xui64>
// CHECK-NEXT:    %qhat = "he.shr"(%t) {amount = 5 : i64}
// CHECK-NEXT:    %p = "he.mul"(%qhat, %q)
// CHECK-NEXT:    %r = "he.sub"(%prod, %p)
// CHECK-NEXT:    %r_1 = "he.csub"(%r, %q)
// CHECK-NEXT:    %r_2 = "he.csub"(%r_1, %q)
// CHECK-NEXT:    %c = "he.cast"(%r_2) : (tensor<8xui64>) -> tensor<8xui32>
// CHECK-NEXT:    func.return %c
// CHECK-NOT:     he.modmul
func.func @modmul(%a: tensor<8xui32>, %b: tensor<8xui32>) -> tensor<8xui32> {
  %c = "he.modmul"(%a, %b) {moduli = array<i64: 17>} : (tensor<8xui32>, tensor<8xui32>) -> tensor<8xui32>
  func.return %c : tensor<8xui32>
}

// A 31-bit modulus: x < 2^62, a = 30, b = 32 -- the largest shift that keeps
// alpha * mu < 2^64; mu = floor(2^62 / (2^31 - 1)) = 2147483649.
// CHECK-LABEL: func.func @modmul_31bit(
// CHECK:         %mu = "he.constant"() {value = dense<2147483649> : tensor<1xui64>}
// CHECK-NEXT:    %alpha = "he.shr"(%prod) {amount = 30 : i64}
// CHECK:         %qhat = "he.shr"(%t) {amount = 32 : i64}
func.func @modmul_31bit(%a: tensor<8xui32>, %b: tensor<8xui32>) -> tensor<8xui32> {
  %c = "he.modmul"(%a, %b) {moduli = array<i64: 2147483647>} : (tensor<8xui32>, tensor<8xui32>) -> tensor<8xui32>
  func.return %c : tensor<8xui32>
}

// q = 2^32 - 5 > 3037000500: (q-1)^2 >= 2^63, so first one fold
// x' = (x >> 32) * (2^32 - q) + (x mod 2^32) (< 2^35 here), then Barrett.
// CHECK-LABEL: func.func @modmul_fold(
// CHECK-NEXT:    %prod = "he.mul"(%a, %b) : (tensor<8xui32>, tensor<8xui32>) -> tensor<8xui64>
// CHECK-NEXT:    %q = "he.constant"() {value = dense<4294967291> : tensor<1xui64>}
// CHECK-NEXT:    %c = "he.constant"() {value = dense<5> : tensor<1xui64>}
// CHECK-NEXT:    %hi = "he.shr"(%prod) {amount = 32 : i64}
// CHECK-NEXT:    %lo = "he.cast"(%prod) : (tensor<8xui64>) -> tensor<8xui32>
// CHECK-NEXT:    %hic = "he.mul"(%hi, %c)
// CHECK-NEXT:    %folded = "he.add"(%hic, %lo) : (tensor<8xui64>, tensor<8xui32>) -> tensor<8xui64>
// CHECK-NEXT:    %mu = "he.constant"() {value = dense<8> : tensor<1xui64>}
// CHECK-NEXT:    %alpha = "he.shr"(%folded) {amount = 31 : i64}
func.func @modmul_fold(%a: tensor<8xui32>, %b: tensor<8xui32>) -> tensor<8xui32> {
  %c = "he.modmul"(%a, %b) {moduli = array<i64: 4294967291>} : (tensor<8xui32>, tensor<8xui32>) -> tensor<8xui32>
  func.return %c : tensor<8xui32>
}

// RNS: the shifts are shared (k_min), mu and q are per-limb constants [L, 1].
// modsub is a + (q - b) and one conditional subtraction, in u32 (2q - 1 < 2^32).
// CHECK-LABEL: func.func @rns(
// CHECK-NEXT:    %q = "he.constant"() {value = dense<{{\[}}[268369921], [268361729]]> : tensor<2x1xui32>}
// CHECK-NEXT:    %neg = "he.sub"(%q, %b) : (tensor<2x1xui32>, tensor<2x8xui32>) -> tensor<2x8xui32>
// CHECK-NEXT:    %s = "he.add"(%a, %neg) : (tensor<2x8xui32>, tensor<2x8xui32>) -> tensor<2x8xui32>
// CHECK-NEXT:    %r = "he.csub"(%s, %q) : (tensor<2x8xui32>, tensor<2x1xui32>) -> tensor<2x8xui32>
// CHECK-NEXT:    %prod = "he.mul"(%r, %b)
// CHECK-NEXT:    %q_1 = "he.constant"() {value = dense<{{\[}}[268369921], [268361729]]> : tensor<2x1xui64>}
// CHECK-NEXT:    %mu = "he.constant"() {value = dense<{{\[}}[268501007], [268509203]]> : tensor<2x1xui64>}
// CHECK-NEXT:    %alpha = "he.shr"(%prod) {amount = 27 : i64}
func.func @rns(%a: tensor<2x8xui32>, %b: tensor<2x8xui32>) -> tensor<2x8xui32> {
  %c = "he.modsub"(%a, %b) {moduli = array<i64: 268369921, 268361729>} : (tensor<2x8xui32>, tensor<2x8xui32>) -> tensor<2x8xui32>
  %d = "he.modmul"(%c, %b) {moduli = array<i64: 268369921, 268361729>} : (tensor<2x8xui32>, tensor<2x8xui32>) -> tensor<2x8xui32>
  func.return %d : tensor<2x8xui32>
}

// modadd with a 32-bit modulus: a + b can reach 2^33, so the sum is formed in u64.
// CHECK-LABEL: func.func @modadd_wide(
// CHECK-NEXT:    %q = "he.constant"() {value = dense<4294967291> : tensor<1xui64>}
// CHECK-NEXT:    %s = "he.add"(%a, %b) : (tensor<8xui32>, tensor<8xui32>) -> tensor<8xui64>
// CHECK-NEXT:    %r = "he.csub"(%s, %q)
// CHECK-NEXT:    %c = "he.cast"(%r) : (tensor<8xui64>) -> tensor<8xui32>
func.func @modadd_wide(%a: tensor<8xui32>, %b: tensor<8xui32>) -> tensor<8xui32> {
  %c = "he.modadd"(%a, %b) {moduli = array<i64: 4294967291>} : (tensor<8xui32>, tensor<8xui32>) -> tensor<8xui32>
  func.return %c : tensor<8xui32>
}

// barrett_reduce of a BAT shift-sum: the bound sets s; x <= 2^50 with a 28-bit q.
// CHECK-LABEL: func.func @reduce(
// CHECK-NEXT:    %q = "he.constant"() {value = dense<268369921> : tensor<1x1xui64>}
// CHECK-NEXT:    %mu = "he.constant"() {value = dense<4195328> : tensor<1x1xui64>}
// CHECK-NEXT:    %alpha = "he.shr"(%s) {amount = 27 : i64}
// CHECK-NEXT:    %t = "he.mul"(%alpha, %mu)
// CHECK-NEXT:    %qhat = "he.shr"(%t) {amount = 23 : i64}
func.func @reduce(%s: tensor<4x4xui64>) -> tensor<4x4xui32> {
  %y = "he.barrett_reduce"(%s) {moduli = array<i64: 268369921>, max_input = 1125899906842623 : ui64} : (tensor<4x4xui64>) -> tensor<4x4xui32>
  func.return %y : tensor<4x4xui32>
}
