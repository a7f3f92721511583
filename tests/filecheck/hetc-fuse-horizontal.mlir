// RUN: hetc-opt %s -p 'hetc-fuse-horizontal{mode=always}' | filecheck %s
// RUN: hetc-opt %s -p 'hetc-fuse-horizontal{device=h100}' | filecheck %s --check-prefix=GPU
// RUN: hetc-opt %s -p 'hetc-fuse-horizontal' | filecheck %s --check-prefix=CPU
// RUN: hetc-opt %s -p 'hetc-fuse-horizontal{mode=always},hetc-fuse{mode=greedy}' | filecheck %s --check-prefix=FUSE

// Q, K, V projections of one activation %x (the first two with a bias, V without), plus
// MatMuls that must not join them: %x times a runtime weight, another activation %z
// times a constant, and a batched (3-D) constant weight. V is also a graph output.
func.func @main(%x: tensor<16x8xf32>, %z: tensor<16x8xf32>, %wr: tensor<8x8xf32>) -> (tensor<16x8xf32>, tensor<16x6xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<2x16x8xf32>) {
  %wq = "onnx.Constant"() {value = dense<1.000000e-01> : tensor<8x8xf32>} : () -> tensor<8x8xf32>
  %wk = "onnx.Constant"() {value = dense<2.000000e-01> : tensor<8x8xf32>} : () -> tensor<8x8xf32>
  %wv = "onnx.Constant"() {value = dense<3.000000e-01> : tensor<8x6xf32>} : () -> tensor<8x6xf32>
  %wb = "onnx.Constant"() {value = dense<4.000000e-01> : tensor<2x8x8xf32>} : () -> tensor<2x8x8xf32>
  %bq = "onnx.Constant"() {value = dense<1.000000e+00> : tensor<8xf32>} : () -> tensor<8xf32>
  %bk = "onnx.Constant"() {value = dense<2.000000e+00> : tensor<8xf32>} : () -> tensor<8xf32>
  %q = "onnx.MatMul"(%x, %wq) {hetc.node = "q"} : (tensor<16x8xf32>, tensor<8x8xf32>) -> tensor<16x8xf32>
  %qb = "onnx.Add"(%q, %bq) {hetc.node = "q_bias"} : (tensor<16x8xf32>, tensor<8xf32>) -> tensor<16x8xf32>
  %k = "onnx.MatMul"(%x, %wk) {hetc.node = "k"} : (tensor<16x8xf32>, tensor<8x8xf32>) -> tensor<16x8xf32>
  %kb = "onnx.Add"(%k, %bk) {hetc.node = "k_bias"} : (tensor<16x8xf32>, tensor<8xf32>) -> tensor<16x8xf32>
  %v = "onnx.MatMul"(%x, %wv) {hetc.node = "v"} : (tensor<16x8xf32>, tensor<8x6xf32>) -> tensor<16x6xf32>
  %r = "onnx.MatMul"(%x, %wr) {hetc.node = "runtime_w"} : (tensor<16x8xf32>, tensor<8x8xf32>) -> tensor<16x8xf32>
  %o = "onnx.MatMul"(%z, %wq) {hetc.node = "other_input"} : (tensor<16x8xf32>, tensor<8x8xf32>) -> tensor<16x8xf32>
  %bt = "onnx.MatMul"(%x, %wb) {hetc.node = "batched_w"} : (tensor<16x8xf32>, tensor<2x8x8xf32>) -> tensor<2x16x8xf32>
  // epilogues after the siblings: a GELU-ish Tanh on Q, a residual on K
  %qt = "onnx.Tanh"(%qb) {hetc.node = "q_act"} : (tensor<16x8xf32>) -> tensor<16x8xf32>
  %kr = "onnx.Add"(%kb, %x) {hetc.node = "k_res"} : (tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<16x8xf32>
  %s = "onnx.Mul"(%qt, %kr) {hetc.node = "qk"} : (tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<16x8xf32>
  %t = "onnx.Add"(%r, %o) {hetc.node = "rest"} : (tensor<16x8xf32>, tensor<16x8xf32>) -> tensor<16x8xf32>
  func.return %s, %v, %t, %r, %bt : tensor<16x8xf32>, tensor<16x6xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<2x16x8xf32>
}

// mode=always: one GEMM over [8, 8+8+6] weights (the runtime-weight, other-input and
// batched MatMuls stay), the biases (zeros for V) in its Add, one Split into 8/8/6.
// CHECK: hetc.horizontal_report = "{\22device\22: \22cpu\22, \22mode\22: \22always\22, \22sets\22: [{\22nodes\22: [\22q\22, \22k\22, \22v\22], \22widths\22: [8, 8, 6], \22bias\22: true
// CHECK-SAME: \22fused\22: true, \22into\22: \22q+2\22}]}"
// CHECK: %[[W:.*]] = "onnx.Constant"() {value = dense<{{.*}}> : tensor<8x22xf32>}
// CHECK: %[[Y:.*]] = "onnx.MatMul"(%x, %[[W]]) {hetc.node = "q+2"} : (tensor<16x8xf32>, tensor<8x22xf32>) -> tensor<16x22xf32>
// CHECK: %[[B:.*]] = "onnx.Constant"() {value = dense<[1.000000e+00, {{.*}}, 2.000000e+00, {{.*}}, 0.000000e+00, {{.*}}]> : tensor<22xf32>}
// CHECK: %[[YB:.*]] = "onnx.Add"(%[[Y]], %[[B]]) {hetc.node = "q+2"}
// CHECK: %[[S:.*]] = "onnx.Constant"() {value = dense<[8, 8, 6]> : tensor<3xi64>}
// CHECK: %[[P:.*]], %[[P1:.*]], %[[P2:.*]] = "onnx.Split"(%[[YB]], %[[S]]) {axis = 1 : i64, hetc.node = "q+2"} : (tensor<16x22xf32>, tensor<3xi64>) -> (tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x6xf32>)
// CHECK-NOT: hetc.node = "q"}
// CHECK-NOT: hetc.node = "q_bias"
// CHECK: "onnx.MatMul"(%x, %wr) {hetc.node = "runtime_w"}
// CHECK: "onnx.MatMul"(%z, %wq) {hetc.node = "other_input"}
// CHECK: "onnx.MatMul"(%x, %wb) {hetc.node = "batched_w"}
// CHECK: "onnx.Tanh"(%[[P]])
// CHECK: "onnx.Add"(%[[P1]], %x) {hetc.node = "k_res"}
// CHECK: func.return %{{.*}}, %[[P2]], %{{.*}}, %{{.*}}, %{{.*}} :

// The default (mode=cost) on the H100: 3 launches -> 1 (the Split after the GEMM is
// free) and x read once, so it fuses; on the CPU the lowering makes one GEMM call per
// column range either way: no gain, kept apart.
// GPU: \22device\22: \22h100\22, \22mode\22: \22cost\22, \22sets\22: [{\22nodes\22: [\22q\22, \22k\22, \22v\22]
// GPU-SAME: \22fused\22: true
// GPU: "onnx.Split"
// CPU: \22device\22: \22cpu\22, \22mode\22: \22cost\22, \22sets\22: [{\22nodes\22: [\22q\22, \22k\22, \22v\22]
// CPU-SAME: \22predicted_gain_s\22: 0.0, \22fused\22: false}]
// CPU-NOT: "onnx.Split"
// CPU: hetc.node = "q"}

// hetc-fuse after it: the Split ends the new GEMM's epilogue group (MatMul, bias Add,
// Split: the GEMM stores each column range straight into its output, so the Split costs
// no kernel), the epilogues after it still fuse (Tanh with the Mul, the residual Add
// with it) in a row group, and the report lists the horizontal set.
// FUSE: hetc.fusion_report = "{{.*}}\22horizontal\22: {\22device\22: \22cpu\22, \22mode\22: \22always\22, \22sets\22: [{\22nodes\22: [\22q\22, \22k\22, \22v\22]
// FUSE: %[[Q:.*]], %[[K:.*]], %[[V:.*]] = "kernel.group"(%x, %{{.*}}, %{{.*}}, %{{.*}}) ({
// FUSE-NEXT: ^bb0(%[[X:.*]]: tensor<16x8xf32>, %[[W:.*]]: tensor<8x22xf32>, %[[B:.*]]: tensor<22xf32>, %[[S:.*]]: tensor<3xi64>):
// FUSE-NEXT: %[[Y:.*]] = "onnx.MatMul"(%[[X]], %[[W]]) {hetc.node = "q+2"}
// FUSE-NEXT: %[[YB:.*]] = "onnx.Add"(%[[Y]], %[[B]]) {hetc.node = "q+2"}
// FUSE-NEXT: %[[P:.*]], %[[P1:.*]], %[[P2:.*]] = "onnx.Split"(%[[YB]], %[[S]]) {axis = 1 : i64, hetc.node = "q+2"}
// FUSE-NEXT: "kernel.yield"(%[[P]], %[[P1]], %[[P2]])
// FUSE-NEXT: }) {id = {{[0-9]+}} : i64, kind = "epilogue", nodes = ["q+2", "q+2", "q+2"]}
// The MatMuls that must not join the set stay plain ops (or head their own groups).
// FUSE: "onnx.MatMul"(%x, %wr) {hetc.node = "runtime_w"}
// FUSE: "onnx.MatMul"(%x, %wb) {hetc.node = "batched_w"}
// FUSE: "kernel.group"(%[[Q]], %[[K]], %x) ({
// FUSE: "onnx.Tanh"
// FUSE: "onnx.Add"{{.*}}hetc.node = "k_res"
// FUSE: "onnx.Mul"{{.*}}hetc.node = "qk"
// FUSE: }) {id = {{[0-9]+}} : i64, kind = "row", nodes = ["q_act", "k_res", "qk"]}
// FUSE: func.return %{{.*}}, %[[V]], %{{.*}}, %{{.*}}, %{{.*}} :
