// RUN: hetc-opt %s --split-input-file -p convert-onnx-to-loops | filecheck %s

// Each onnx op becomes a kernel of scf.for loops over memrefs; @main becomes the
// host program: buffers, weights as globals, reshapes as views, one call per kernel.
// (Loops come from passes/loop_builder.py; per-op parts live in passes/loops/.)

// The weight is packed into GEMM panels at compile time ([N/32][K][32], zero-padded);
// the unpacked original and the Reshape's shape constant leave no global behind.
// CHECK:       "memref.global"() <{sym_name = "w1_packed_b", type = memref<1x3x32xf32>
// CHECK-NOT:   "memref.global"

// CHECK-LABEL: func.func private @k0_elementwise(%0: memref<2x3xf32>, %1: memref<2x3xf32>) attributes {hetc.onnx_nodes = ["relu"], hetc.kernel = "elementwise"}
// CHECK:         scf.for
// CHECK:           scf.for
// CHECK:             %{{.*}} = memref.load %0[%{{.*}}, %{{.*}}] : memref<2x3xf32>
// CHECK:             %{{.*}} = arith.maximumf
// CHECK:             memref.store %{{.*}}, %1[%{{.*}}, %{{.*}}] : memref<2x3xf32>
// CHECK:         } {hetc.parallel}

// The GEMM reads the activation operand in place (its 6 values per k are broadcasts:
// no packing pass), accumulates a 6 x 32 register tile over the weight's panels and
// stores its 2 x 4 corner.
// CHECK-NOT:   pack_a
// CHECK-LABEL: func.func private @k1_gemm(%0: memref<2x3xf32>, %1: memref<1x3x32xf32>, %2: memref<2x4xf32>) attributes {hetc.onnx_nodes = ["mm"], hetc.kernel = "gemm"}
// CHECK:         memref.alloca() : memref<6x32xf32>
// CHECK:         memref.load %0[%{{.*}}, %{{.*}}] : memref<2x3xf32>
// CHECK:         arith.mulf
// CHECK:         arith.addf
// CHECK:         memref.store %{{.*}}, %2[%{{.*}}, %{{.*}}] : memref<2x4xf32>

// CHECK-LABEL: func.func @main(%x: memref<2x3xf32>, %y: memref<8xf32>)
// CHECK-NEXT:    %r = memref.alloc() : memref<2x3xf32>
// CHECK-NEXT:    func.call @k0_elementwise(%x, %r)
// CHECK-NEXT:    %m = memref.alloc() : memref<2x4xf32>
// CHECK-NEXT:    %packed_b = memref.get_global @w1_packed_b : memref<1x3x32xf32>
// CHECK-NEXT:    func.call @k1_gemm(%r, %packed_b, %m)
// CHECK-NEXT:    %0 = memref.reinterpret_cast %m to offset: [0], sizes: [8], strides: [1] : memref<2x4xf32> to memref<8xf32>
// CHECK-NEXT:    "memref.copy"(%0, %y)
// CHECK-NEXT:    func.return
func.func @main(%x: tensor<2x3xf32>) -> tensor<8xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %w = "onnx.Constant"() {value = dense<1.000000e+00> : tensor<3x4xf32>} : () -> tensor<3x4xf32>
  %r = "onnx.Relu"(%x) {hetc.node = "relu"} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %m = "onnx.MatMul"(%r, %w) {hetc.node = "mm"} : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %s = "onnx.Constant"() {value = dense<8> : tensor<1xi64>} : () -> tensor<1xi64>
  %y = "onnx.Reshape"(%m, %s) : (tensor<2x4xf32>, tensor<1xi64>) -> tensor<8xf32>
  func.return %y : tensor<8xf32>
}

// -----

// Epilogue fusion: the bias Add and the Relu after a MatMul are applied by the GEMM,
// in a loop over the tile it just stored (still in L1; inside the store loop they
// made gcc compile whole kernels slower); no elementwise kernel and no intermediate
// buffer is left for them.
// CHECK-LABEL: func.func private @k0_gemm(%0: memref<2x3xf32>, %1: memref<1x3x32xf32>, %2: memref<2x4xf32>, %3: memref<4xf32>) attributes {hetc.onnx_nodes = ["fc"], hetc.kernel = "gemm"}
// CHECK:         memref.store %{{.*}}, %2[%{{.*}}, %{{.*}}] : memref<2x4xf32>
// CHECK:         %[[T:.*]] = memref.load %2[%{{.*}}, %{{.*}}] : memref<2x4xf32>
// CHECK:         %[[B:.*]] = memref.load %3[%{{.*}}] : memref<4xf32>
// CHECK-NEXT:    %[[SUM:.*]] = arith.addf %[[T]], %[[B]] : f32
// CHECK:         %[[Y:.*]] = arith.maximumf %[[SUM]], %{{.*}} : f32
// CHECK-NEXT:    memref.store %[[Y]], %2
// CHECK-LABEL: func.func @main(%x: memref<2x3xf32>, %y: memref<2x4xf32>)
// CHECK-NOT:     elementwise
// CHECK:         func.call @k0_gemm(%x, %packed_b, %y, %bias)
// CHECK-NEXT:    func.return
func.func @main(%x: tensor<2x3xf32>) -> tensor<2x4xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %w = "onnx.Constant"() {value = dense<1.000000e+00> : tensor<3x4xf32>} : () -> tensor<3x4xf32>
  %bias = "onnx.Constant"() {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>} : () -> tensor<4xf32>
  %m = "onnx.MatMul"(%x, %w) {hetc.node = "fc"} : (tensor<2x3xf32>, tensor<3x4xf32>) -> tensor<2x4xf32>
  %a = "onnx.Add"(%m, %bias) : (tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %y = "onnx.Relu"(%a) : (tensor<2x4xf32>) -> tensor<2x4xf32>
  func.return %y : tensor<2x4xf32>
}

// -----

// Data movement (passes/loops/movement.py): Gather reads its index, wraps negative
// values (scalar.py semantics for the compare/select) and casts it to an index.
// CHECK-LABEL: func.func private @k0_gather(%0: memref<3x2xf32>, %1: memref<2xi64>, %2: memref<2x2xf32>) attributes {hetc.onnx_nodes = ["embed"], hetc.kernel = "gather"}
// CHECK:         %[[RAW:.*]] = memref.load %1[%{{.*}}] : memref<2xi64>
// CHECK:         %[[NEG:.*]] = arith.cmpi slt, %[[RAW]], %{{.*}} : i64
// CHECK:         %[[FIX:.*]] = arith.select %[[NEG]], %{{.*}}, %[[RAW]] : i64
// CHECK:         arith.index_cast %[[FIX]] : i64 to index
// CHECK-LABEL: func.func private @k1_transpose(
// CHECK-LABEL: func.func private @k2_concat(
// CHECK-LABEL: func.func private @k3_slice(
// CHECK-LABEL: func.func @main(%ids: memref<2xi64>, %y: memref<3x2xf32>)
// CHECK:         func.call @k3_slice(%c, %y)
func.func @main(%ids: tensor<2xi64>) -> tensor<3x2xf32> attributes {hetc.input_names = ["ids"], hetc.output_names = ["y"]} {
  %table = "onnx.Constant"() {value = dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>} : () -> tensor<3x2xf32>
  %g = "onnx.Gather"(%table, %ids) {axis = 0 : i64, hetc.node = "embed"} : (tensor<3x2xf32>, tensor<2xi64>) -> tensor<2x2xf32>
  %t = "onnx.Transpose"(%g) {perm = array<i64: 1, 0>, hetc.node = "swap"} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  %c = "onnx.Concat"(%t, %g) {axis = 0 : i64, hetc.node = "join"} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<4x2xf32>
  %s = "onnx.Constant"() {value = dense<[1]> : tensor<1xi64>} : () -> tensor<1xi64>
  %e = "onnx.Constant"() {value = dense<[4]> : tensor<1xi64>} : () -> tensor<1xi64>
  %y = "onnx.Slice"(%c, %s, %e) {hetc.node = "cut"} : (tensor<4x2xf32>, tensor<1xi64>, tensor<1xi64>) -> tensor<3x2xf32>
  func.return %y : tensor<3x2xf32>
}

// -----

// LSTM (passes/loops/rnn.py): one GEMM projects every time step's input, then per
// step a recurrent GEMM and a fused cell kernel that writes h into Y[t]; Y_h is a
// copy of the last step.
// CHECK:       func.func private @k0_rnn_input_gemm(%0: memref<2x3xf32>, %1: memref<1x3x32xf32>, %2: memref<2x8xf32>)
// CHECK:       func.func private @k3_rnn_recurrent_gemm(
// CHECK:       func.func private @k4_lstm_cell(
// CHECK:         math.tanh
// CHECK:       func.func private @k6_lstm_cell(
// CHECK-LABEL: func.func @main(%x: memref<2x1x3xf32>, %h: memref<1x1x2xf32>)
// CHECK:         func.call @k0_rnn_input_gemm
// CHECK:         func.call @k4_lstm_cell
// CHECK:         func.call @k6_lstm_cell
// CHECK:         "memref.copy"
func.func @main(%x: tensor<2x1x3xf32>) -> tensor<1x1x2xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["h"]} {
  %w = "onnx.Constant"() {value = dense<1.000000e-01> : tensor<1x8x3xf32>} : () -> tensor<1x8x3xf32>
  %r = "onnx.Constant"() {value = dense<2.000000e-01> : tensor<1x8x2xf32>} : () -> tensor<1x8x2xf32>
  %y, %h = "onnx.LSTM"(%x, %w, %r) {hidden_size = 2 : i64, hetc.node = "lstm"} : (tensor<2x1x3xf32>, tensor<1x8x3xf32>, tensor<1x8x2xf32>) -> (tensor<2x1x1x2xf32>, tensor<1x1x2xf32>)
  func.return %h : tensor<1x1x2xf32>
}

// -----

// A no-op reduction (noop_with_empty_axes=1, empty axes) is a copy.
// CHECK-LABEL: func.func @main(%x: memref<2x3xf32>, %y: memref<2x3xf32>)
// CHECK-NEXT:    "memref.copy"(%x, %y) : (memref<2x3xf32>, memref<2x3xf32>) -> ()
// CHECK-NEXT:    func.return
func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %axes = "onnx.Constant"() {value = dense<> : tensor<0xi64>} : () -> tensor<0xi64>
  %y = "onnx.ReduceSum"(%x, %axes) {noop_with_empty_axes = 1 : i64, hetc.node = "noop"} : (tensor<2x3xf32>, tensor<0xi64>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// -----

// GRU with linear_before_reset=0 and layout=1: X is transposed to sequence-major;
// per step one GEMM with [R_z R_r] (4 columns), a gates kernel writing z and r * h,
// a GEMM of r * h with R_h (2 columns) and the cell; Y_h is transposed back to
// batch-major. Y is not used, so it is not transposed.
// CHECK:       func.func private @k0_rnn_transpose(%0: memref<1x2x3xf32>, %1: memref<2x1x3xf32>)
// CHECK:       func.func private @k{{[0-9]+}}_rnn_recurrent_gemm({{.*}}, %2: memref<1x4xf32>)
// CHECK:       func.func private @k{{[0-9]+}}_gru_gates(
// CHECK:         arith.mulf
// CHECK:       func.func private @k{{[0-9]+}}_rnn_recurrent_gemm({{.*}}, %2: memref<1x2xf32>)
// CHECK:       func.func private @k{{[0-9]+}}_gru_cell(
// CHECK:         math.tanh
// CHECK-LABEL: func.func @main(%x: memref<1x2x3xf32>, %h: memref<1x1x2xf32>)
// CHECK:         func.call @k0_rnn_transpose(%x,
// CHECK-COUNT-2: func.call @k{{[0-9]+}}_gru_cell(
// CHECK-NOT:     memref<1x2x1x2xf32>
// CHECK:         func.call @k{{[0-9]+}}_rnn_transpose(%state_dir_major, %h)
// CHECK-NEXT:    func.return
func.func @main(%x: tensor<1x2x3xf32>) -> tensor<1x1x2xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["h"]} {
  %w = "onnx.Constant"() {value = dense<1.000000e-01> : tensor<1x6x3xf32>} : () -> tensor<1x6x3xf32>
  %r = "onnx.Constant"() {value = dense<2.000000e-01> : tensor<1x6x2xf32>} : () -> tensor<1x6x2xf32>
  %y, %h = "onnx.GRU"(%x, %w, %r) {hidden_size = 2 : i64, layout = 1 : i64, hetc.node = "gru"} : (tensor<1x2x3xf32>, tensor<1x6x3xf32>, tensor<1x6x2xf32>) -> (tensor<1x2x1x2xf32>, tensor<1x1x2xf32>)
  func.return %h : tensor<1x1x2xf32>
}

// -----

// Resize tf_crop_and_resize: taps per axis computed at compile time, plus per-axis
// "inside" tables; outputs whose source falls outside the input take
// extrapolation_value (10) through a select.
// CHECK-DAG:   "memref.global"() <{sym_name = "w{{[0-9]+}}_rows_inside", type = memref<3xf32>, initial_value = dense<[1.000000e+00, 1.000000e+00, 0.000000e+00]>
// CHECK-DAG:   "memref.global"() <{sym_name = "w{{[0-9]+}}_cols_inside", type = memref<3xf32>, initial_value = dense<[1.000000e+00, 0.000000e+00, 0.000000e+00]>
// CHECK-LABEL: func.func private @k0_resize(
// CHECK:         %[[OUT:.*]] = arith.cmpf oeq
// CHECK:         %[[FILL:.*]] = arith.constant 1.000000e+01 : f32
// CHECK:         arith.select %[[OUT]], %[[FILL]], %{{.*}} : f32
func.func @main(%x: tensor<1x1x4x4xf32>) -> tensor<1x1x3x3xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %roi = "onnx.Constant"() {value = dense<[0.0, 0.0, 0.4, 0.6, 1.0, 1.0, 1.2, 1.7]> : tensor<8xf32>} : () -> tensor<8xf32>
  %n = "onnx.NoValue"() : () -> none
  %sizes = "onnx.Constant"() {value = dense<[1, 1, 3, 3]> : tensor<4xi64>} : () -> tensor<4xi64>
  %y = "onnx.Resize"(%x, %roi, %n, %sizes) {coordinate_transformation_mode = "tf_crop_and_resize", mode = "linear", extrapolation_value = 10.0 : f32, hetc.node = "crop"} : (tensor<1x1x4x4xf32>, tensor<8xf32>, none, tensor<4xi64>) -> tensor<1x1x3x3xf32>
  func.return %y : tensor<1x1x3x3xf32>
}

// -----

// A channels-last convolution (hetc-choose-layout set hetc.layout = "NHWC"): im2col
// rows of 3x3 taps x C contiguous channels with the padding folded in (taps outside the
// image are clamped, then selected to 0), then one GEMM of pixels x output channels
// whose weights were packed at compile time ([K = 3*3*2, 32] panels).
// CHECK:       "memref.global"() <{sym_name = "w2_packed_b", type = memref<1x18x32xf32>
// CHECK-LABEL: func.func private @k0_im2col_nhwc(%0: memref<4x4x2xf32>, %1: memref<16x18xf32>) attributes {hetc.onnx_nodes = ["conv"], hetc.kernel = "im2col_nhwc"}
// CHECK:         arith.cmpi sge
// CHECK:         arith.cmpi slt
// CHECK:         arith.select %{{.*}}, %{{.*}}, %{{.*}} : index
// CHECK:         arith.select %{{.*}}, %{{.*}}, %{{.*}} : f32
// CHECK-LABEL: func.func private @k1_conv_gemm_nhwc(%0: memref<16x18xf32>, %1: memref<1x18x32xf32>, %2: memref<16x3xf32>) attributes {hetc.onnx_nodes = ["conv"], hetc.kernel = "conv_gemm_nhwc"}
// CHECK-LABEL: func.func @main(%x: memref<1x4x4x2xf32>, %y: memref<1x4x4x3xf32>)
// CHECK:         func.call @k0_im2col_nhwc
// CHECK:         func.call @k1_conv_gemm_nhwc(%cols, %packed_b, %{{.*}})
func.func @main(%x: tensor<1x4x4x2xf32>) -> tensor<1x4x4x3xf32> attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
  %w = "onnx.Constant"() {value = dense<1.000000e-01> : tensor<3x2x3x3xf32>} : () -> tensor<3x2x3x3xf32>
  %y = "onnx.Conv"(%x, %w) {pads = array<i64: 1, 1, 1, 1>, hetc.node = "conv", hetc.layout = "NHWC"} : (tensor<1x4x4x2xf32>, tensor<3x2x3x3xf32>) -> tensor<1x4x4x3xf32>
  func.return %y : tensor<1x4x4x3xf32>
}
