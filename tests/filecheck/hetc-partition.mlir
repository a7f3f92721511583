// RUN: env HETC_PROFILE=/nonexistent hetc-opt %s -p 'hetc-place{devices=cpu,h100 scheduler=heft},hetc-partition' | filecheck %s
// RUN: env HETC_PROFILE=/nonexistent hetc-opt %s -p 'hetc-place{devices=cpu scheduler=heft},hetc-partition' | filecheck %s --check-prefix=ONE

// hetc-partition outlines each run of ops on one device into @part<i> (still onnx ops,
// lowered later by that device's target) and rewrites @main as the host program: copies
// between device memories, launches, and a wait on every device but the host.
// hetc-place puts the 512^3 GEMM and its Relu on the H100 and the tiny Relu/Erf chain on
// the host (see hetc-place.mlir), so there are two partitions.

// CHECK-LABEL: func.func @main(%a: tensor<512x512xf32>, %small: tensor<4xf32>)
// CHECK-SAME:    hetc.host = "cpu"
// The host partition takes the graph input as it is: no copy.
// CHECK-NEXT:    %g = sched.launch @part0 on "cpu"(%small) {target = "c"} : (tensor<4xf32>) -> tensor<4xf32>
// The GPU partition's input is copied to the H100 first (1 MiB), its result back.
// CHECK-NEXT:    %[[A:.*]] = sched.copy %a from "cpu" to "h100" {bytes = 1048576 : i64}
// CHECK-NEXT:    %y = sched.launch @part1 on "h100"(%[[A]]) {target = "cuda"} : (tensor<512x512xf32>) -> tensor<512x512xf32>
// CHECK-NEXT:    %[[Y:.*]] = sched.copy %y from "h100" to "cpu" {bytes = 1048576 : i64}
// CHECK-NEXT:    sched.wait on "h100"
// CHECK-NEXT:    func.return %[[Y]], %g

// Each partition is a standalone model: its own input/output names, and the weight it
// uses cloned in (weights are resident on every device).
// CHECK:       func.func private @part0(%small: tensor<4xf32>) -> tensor<4xf32>
// CHECK-SAME:    hw.device = "cpu", hetc.target = "c", hetc.input_names = ["small"], hetc.output_names = ["g"]
// CHECK:         "onnx.Relu"(%small)
// CHECK:         "onnx.Erf"
// CHECK:       func.func private @part1(%a: tensor<512x512xf32>) -> tensor<512x512xf32>
// CHECK-SAME:    hw.device = "h100", hetc.target = "cuda", hetc.input_names = ["a"], hetc.output_names = ["y"]
// CHECK-NEXT:    %b = "onnx.Constant"()
// CHECK-NEXT:    "onnx.MatMul"(%a, %b)
// CHECK-NEXT:    "onnx.Relu"
// CHECK-NOT:   sched.

// One device: one partition, no copies, no waits.
// ONE-LABEL:   func.func @main(
// ONE-NEXT:      %y, %g = sched.launch @part0 on "cpu"(%a, %small) {target = "c"}
// ONE-NEXT:      func.return %y, %g
// ONE-NOT:       sched.copy
// ONE-NOT:       sched.wait

builtin.module {
  func.func @main(%a: tensor<512x512xf32>, %small: tensor<4xf32>) -> (tensor<512x512xf32>, tensor<4xf32>) attributes {hetc.input_names = ["a", "small"], hetc.output_names = ["y", "g"]} {
    %b = "onnx.Constant"() {value = dense<1.0> : tensor<512x512xf32>} : () -> tensor<512x512xf32>
    %y = "onnx.MatMul"(%a, %b) : (tensor<512x512xf32>, tensor<512x512xf32>) -> tensor<512x512xf32>
    %r = "onnx.Relu"(%y) : (tensor<512x512xf32>) -> tensor<512x512xf32>
    %s = "onnx.Relu"(%small) : (tensor<4xf32>) -> tensor<4xf32>
    %g = "onnx.Erf"(%s) : (tensor<4xf32>) -> tensor<4xf32>
    func.return %r, %g : tensor<512x512xf32>, tensor<4xf32>
  }
}
