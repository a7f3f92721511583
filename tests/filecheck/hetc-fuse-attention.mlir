// RUN: hetc-opt %s --split-input-file -p 'hetc-fuse{mode=greedy}' | filecheck %s --check-prefix=GREEDY
// RUN: hetc-opt %s --split-input-file -p 'hetc-fuse{mode=ilp}' | filecheck %s --check-prefix=ILP
// RUN: hetc-opt %s --split-input-file -p 'hetc-fuse{mode=ilp device=h100}' | filecheck %s --check-prefix=ILP
// RUN: hetc-opt %s --split-input-file -p 'hetc-fuse{mode=none}' | filecheck %s --check-prefix=NONE
// RUN: hetc-opt %s --split-input-file -p 'hetc-fuse{mode=ilp attention=false}' | filecheck %s --check-prefix=NOATT

// Attention as the zoo's transformers spell it after hetc-decompose: QK^T (K already
// transposed), a scale Mul, a runtime mask Add broadcast over the heads, the softmax
// decomposed, then P.V. Greedy and the ILP both make the whole chain one group of kind
// attention (the S x S scores are never written; 1 kernel instead of 3), on the CPU's
// prices and on the H100's.
// GREEDY: \22groups\22: [[\22qk\22, \22scale\22, \22mask\22, \22max\22, \22sub\22, \22exp\22, \22sum\22, \22div\22, \22pv\22]], \22group_kinds\22: [\22attention\22], \22kernels\22: 1
// GREEDY: %o = "kernel.group"(%q, %kt, %scale, %mask, %axes, %v) ({
// GREEDY: "onnx.MatMul"{{.*}}hetc.node = "qk"
// GREEDY: "onnx.MatMul"{{.*}}hetc.node = "pv"
// GREEDY-NEXT: "kernel.yield"
// GREEDY-NEXT: }) {id = 0 : i64, kind = "attention", nodes = ["qk", "scale", "mask", "max", "sub", "exp", "sum", "div", "pv"]}
// ILP: \22group_kinds\22: [\22attention\22], \22kernels\22: 1
// ILP-SAME: \22kernel_details\22: [{\22nodes\22: [\22qk\22, {{.*}}\22kind\22: \22attention\22, \22bytes_saved\22: 116736
// ILP-SAME: \22predictions\22: {\22none\22: {{.*}}\22kernels\22: 9}, \22greedy\22: {{.*}}\22kernels\22: 1}, \22ilp\22: {{.*}}\22kernels\22: 1}}
// NONE: \22kernels\22: 9
// NONE-NOT: kernel.group
// attention=false (for comparisons): the best without it, 3 kernels: QK^T with the scale
// and mask in its epilogue, the softmax a row group, P.V alone.
// NOATT: \22group_kinds\22: [\22epilogue\22, \22row\22], \22kernels\22: 3
// NOATT-NOT: attention
func.func @main(%q: tensor<2x4x16x8xf32>, %kt: tensor<2x4x8x16xf32>, %v: tensor<2x4x16x8xf32>, %mask: tensor<2x1x16x16xf32>) -> tensor<2x4x16x8xf32> {
  %scale = "onnx.Constant"() {value = dense<0.35> : tensor<f32>} : () -> tensor<f32>
  %axes = "onnx.Constant"() {value = dense<-1> : tensor<1xi64>} : () -> tensor<1xi64>
  %s = "onnx.MatMul"(%q, %kt) {hetc.node = "qk"} : (tensor<2x4x16x8xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x16x16xf32>
  %ss = "onnx.Mul"(%s, %scale) {hetc.node = "scale"} : (tensor<2x4x16x16xf32>, tensor<f32>) -> tensor<2x4x16x16xf32>
  %sm = "onnx.Add"(%ss, %mask) {hetc.node = "mask"} : (tensor<2x4x16x16xf32>, tensor<2x1x16x16xf32>) -> tensor<2x4x16x16xf32>
  %m = "onnx.ReduceMax"(%sm, %axes) {hetc.node = "max"} : (tensor<2x4x16x16xf32>, tensor<1xi64>) -> tensor<2x4x16x1xf32>
  %d = "onnx.Sub"(%sm, %m) {hetc.node = "sub"} : (tensor<2x4x16x16xf32>, tensor<2x4x16x1xf32>) -> tensor<2x4x16x16xf32>
  %e = "onnx.Exp"(%d) {hetc.node = "exp"} : (tensor<2x4x16x16xf32>) -> tensor<2x4x16x16xf32>
  %z = "onnx.ReduceSum"(%e, %axes) {hetc.node = "sum"} : (tensor<2x4x16x16xf32>, tensor<1xi64>) -> tensor<2x4x16x1xf32>
  %p = "onnx.Div"(%e, %z) {hetc.node = "div"} : (tensor<2x4x16x16xf32>, tensor<2x4x16x1xf32>) -> tensor<2x4x16x16xf32>
  %o = "onnx.MatMul"(%p, %v) {hetc.node = "pv"} : (tensor<2x4x16x16xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x8xf32>
  func.return %o : tensor<2x4x16x8xf32>
}

// -----

// The Softmax op itself (not decomposed), the scale a Div, one head (2-D): one group.
// GREEDY: \22groups\22: [[\22qk\22, \22scale\22, \22softmax\22, \22pv\22]], \22group_kinds\22: [\22attention\22]
// ILP: \22group_kinds\22: [\22attention\22], \22kernels\22: 1
func.func @main(%q: tensor<16x8xf32>, %kt: tensor<8x32xf32>, %v: tensor<32x8xf32>) -> tensor<16x8xf32> {
  %c = "onnx.Constant"() {value = dense<2.0> : tensor<f32>} : () -> tensor<f32>
  %s = "onnx.MatMul"(%q, %kt) {hetc.node = "qk"} : (tensor<16x8xf32>, tensor<8x32xf32>) -> tensor<16x32xf32>
  %ss = "onnx.Div"(%s, %c) {hetc.node = "scale"} : (tensor<16x32xf32>, tensor<f32>) -> tensor<16x32xf32>
  %p = "onnx.Softmax"(%ss) {axis = -1 : i64, hetc.node = "softmax"} : (tensor<16x32xf32>) -> tensor<16x32xf32>
  %o = "onnx.MatMul"(%p, %v) {hetc.node = "pv"} : (tensor<16x32xf32>, tensor<32x8xf32>) -> tensor<16x8xf32>
  func.return %o : tensor<16x8xf32>
}

// -----

// Must not fuse: the probabilities are returned (they would have to be written anyway).
// The QK^T MatMul and its scale are still an epilogue, the softmax a row group.
// GREEDY: \22group_kinds\22: [\22epilogue\22, \22row\22]
// GREEDY-NOT: attention
// ILP: \22group_kinds\22: [\22epilogue\22, \22row\22]
// ILP-NOT: attention
func.func @main(%q: tensor<4x16x8xf32>, %kt: tensor<4x8x16xf32>, %v: tensor<4x16x8xf32>) -> (tensor<4x16x8xf32>, tensor<4x16x16xf32>) {
  %scale = "onnx.Constant"() {value = dense<0.35> : tensor<f32>} : () -> tensor<f32>
  %axes = "onnx.Constant"() {value = dense<-1> : tensor<1xi64>} : () -> tensor<1xi64>
  %s = "onnx.MatMul"(%q, %kt) {hetc.node = "qk"} : (tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x16x16xf32>
  %ss = "onnx.Mul"(%s, %scale) {hetc.node = "scale"} : (tensor<4x16x16xf32>, tensor<f32>) -> tensor<4x16x16xf32>
  %m = "onnx.ReduceMax"(%ss, %axes) {hetc.node = "max"} : (tensor<4x16x16xf32>, tensor<1xi64>) -> tensor<4x16x1xf32>
  %d = "onnx.Sub"(%ss, %m) {hetc.node = "sub"} : (tensor<4x16x16xf32>, tensor<4x16x1xf32>) -> tensor<4x16x16xf32>
  %e = "onnx.Exp"(%d) {hetc.node = "exp"} : (tensor<4x16x16xf32>) -> tensor<4x16x16xf32>
  %z = "onnx.ReduceSum"(%e, %axes) {hetc.node = "sum"} : (tensor<4x16x16xf32>, tensor<1xi64>) -> tensor<4x16x1xf32>
  %p = "onnx.Div"(%e, %z) {hetc.node = "div"} : (tensor<4x16x16xf32>, tensor<4x16x1xf32>) -> tensor<4x16x16xf32>
  %o = "onnx.MatMul"(%p, %v) {hetc.node = "pv"} : (tensor<4x16x16xf32>, tensor<4x16x8xf32>) -> tensor<4x16x8xf32>
  func.return %o, %p : tensor<4x16x8xf32>, tensor<4x16x16xf32>
}

// -----

// Must not fuse: the raw scores are also read outside (here: returned).
// GREEDY-NOT: attention
// ILP-NOT: attention
func.func @main(%q: tensor<4x16x8xf32>, %kt: tensor<4x8x16xf32>, %v: tensor<4x16x8xf32>) -> (tensor<4x16x8xf32>, tensor<4x16x16xf32>) {
  %s = "onnx.MatMul"(%q, %kt) {hetc.node = "qk"} : (tensor<4x16x8xf32>, tensor<4x8x16xf32>) -> tensor<4x16x16xf32>
  %p = "onnx.Softmax"(%s) {axis = -1 : i64, hetc.node = "softmax"} : (tensor<4x16x16xf32>) -> tensor<4x16x16xf32>
  %o = "onnx.MatMul"(%p, %v) {hetc.node = "pv"} : (tensor<4x16x16xf32>, tensor<4x16x8xf32>) -> tensor<4x16x8xf32>
  func.return %o, %s : tensor<4x16x8xf32>, tensor<4x16x16xf32>
}

// -----

// Must not fuse: a row of 8193 keys does not fit the per-row scratch (MAX_ROW = 8192).
// GREEDY-NOT: attention
// ILP-NOT: attention
func.func @main(%q: tensor<2x8xf32>, %kt: tensor<8x8193xf32>, %v: tensor<8193x8xf32>) -> tensor<2x8xf32> {
  %s = "onnx.MatMul"(%q, %kt) {hetc.node = "qk"} : (tensor<2x8xf32>, tensor<8x8193xf32>) -> tensor<2x8193xf32>
  %p = "onnx.Softmax"(%s) {axis = -1 : i64, hetc.node = "softmax"} : (tensor<2x8193xf32>) -> tensor<2x8193xf32>
  %o = "onnx.MatMul"(%p, %v) {hetc.node = "pv"} : (tensor<2x8193xf32>, tensor<8193x8xf32>) -> tensor<2x8xf32>
  func.return %o : tensor<2x8xf32>
}

// -----

// Must not fuse: a dynamic dimension (the nest needs static bounds).
// GREEDY-NOT: attention
// ILP-NOT: attention
func.func @main(%q: tensor<?x16x8xf32>, %kt: tensor<?x8x16xf32>, %v: tensor<?x16x8xf32>) -> tensor<?x16x8xf32> {
  %s = "onnx.MatMul"(%q, %kt) {hetc.node = "qk"} : (tensor<?x16x8xf32>, tensor<?x8x16xf32>) -> tensor<?x16x16xf32>
  %p = "onnx.Softmax"(%s) {axis = -1 : i64, hetc.node = "softmax"} : (tensor<?x16x16xf32>) -> tensor<?x16x16xf32>
  %o = "onnx.MatMul"(%p, %v) {hetc.node = "pv"} : (tensor<?x16x16xf32>, tensor<?x16x8xf32>) -> tensor<?x16x8xf32>
  func.return %o : tensor<?x16x8xf32>
}
