// RUN: hetc-opt %s -p hetc-dce | filecheck %s

// A dead chain goes in one run (bottom-up); the live op stays.
// CHECK-LABEL: func.func @dead_chain(
// CHECK-NEXT:    %c = "onnx.Neg"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    func.return %c : tensor<2x3xf32>
func.func @dead_chain(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %a = "onnx.Relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %b = "onnx.Exp"(%a) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %c = "onnx.Neg"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %c : tensor<2x3xf32>
}

// Dead constants and shape arithmetic feeding only a dead op go too.
// CHECK-LABEL: func.func @dead_constants(
// CHECK-NEXT:    %w = "onnx.Constant"() {value = dense<2.000000e+00> : tensor<3xf32>} : () -> tensor<3xf32>
// CHECK-NEXT:    %y = "onnx.Mul"(%x, %w) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    func.return %y
func.func @dead_constants(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %w = "onnx.Constant"() {value = dense<2.000000e+00> : tensor<3xf32>} : () -> tensor<3xf32>
  %s = "onnx.Constant"() {value = dense<[3, 2]> : tensor<2xi64>} : () -> tensor<2xi64>
  %shape = "onnx.Shape"(%x) : (tensor<2x3xf32>) -> tensor<2xi64>
  %r = "onnx.Reshape"(%x, %shape) : (tensor<2x3xf32>, tensor<2xi64>) -> tensor<2x3xf32>
  %y = "onnx.Mul"(%x, %w) : (tensor<2x3xf32>, tensor<3xf32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// An unused NoValue goes; one still feeding a live op stays.
// CHECK-LABEL: func.func @novalue(
// CHECK-NEXT:    %n1 = "onnx.NoValue"() : () -> none
// CHECK-NEXT:    %y = "onnx.Clip"(%x, %n1, %m) : (tensor<2x3xf32>, none, tensor<f32>) -> tensor<2x3xf32>
// CHECK-NEXT:    func.return %y
func.func @novalue(%x: tensor<2x3xf32>, %m: tensor<f32>) -> tensor<2x3xf32> {
  %n0 = "onnx.NoValue"() : () -> none
  %n1 = "onnx.NoValue"() : () -> none
  %y = "onnx.Clip"(%x, %n1, %m) : (tensor<2x3xf32>, none, tensor<f32>) -> tensor<2x3xf32>
  func.return %y : tensor<2x3xf32>
}

// A multi-result op stays while any result is used, even if the others are not.
// CHECK-LABEL: func.func @multi_result(
// CHECK-NEXT:    %k = "onnx.Constant"()
// CHECK-NEXT:    %v, %i = "onnx.TopK"(%x, %k) : (tensor<2x3xf32>, tensor<1xi64>) -> (tensor<2x2xf32>, tensor<2x2xi64>)
// CHECK-NEXT:    func.return %i
func.func @multi_result(%x: tensor<2x3xf32>) -> tensor<2x2xi64> {
  %k = "onnx.Constant"() {value = dense<2> : tensor<1xi64>} : () -> tensor<1xi64>
  %v, %i = "onnx.TopK"(%x, %k) : (tensor<2x3xf32>, tensor<1xi64>) -> (tensor<2x2xf32>, tensor<2x2xi64>)
  func.return %i : tensor<2x2xi64>
}

// A multi-result op with no result used goes.
// CHECK-LABEL: func.func @multi_result_dead(
// CHECK-NEXT:    func.return %x
func.func @multi_result_dead(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %k = "onnx.Constant"() {value = dense<2> : tensor<1xi64>} : () -> tensor<1xi64>
  %v, %i = "onnx.TopK"(%x, %k) : (tensor<2x3xf32>, tensor<1xi64>) -> (tensor<2x2xf32>, tensor<2x2xi64>)
  func.return %x : tensor<2x3xf32>
}

// Only onnx ops are touched: a dead op of another dialect stays.
// CHECK-LABEL: func.func @other_dialects(
// CHECK-NEXT:    %k = arith.constant 1 : i64
// CHECK-NEXT:    func.return %x
func.func @other_dialects(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %k = arith.constant 1 : i64
  %a = "onnx.Relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %x : tensor<2x3xf32>
}

// Nothing dead: unchanged.
// CHECK-LABEL: func.func @all_live(
// CHECK-NEXT:    %a = "onnx.Relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    %b = "onnx.Add"(%a, %x) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK-NEXT:    func.return %b
func.func @all_live(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %a = "onnx.Relu"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
  %b = "onnx.Add"(%a, %x) : (tensor<2x3xf32>, tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %b : tensor<2x3xf32>
}

// A dead op inside a nested region goes.
// CHECK-LABEL: func.func @nested_region(
// CHECK:         scf.execute_region
// CHECK-NOT:     onnx.Exp
// CHECK:         scf.yield %x
func.func @nested_region(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %r = scf.execute_region -> tensor<2x3xf32> {
    %b = "onnx.Exp"(%x) : (tensor<2x3xf32>) -> tensor<2x3xf32>
    scf.yield %x : tensor<2x3xf32>
  }
  func.return %r : tensor<2x3xf32>
}
