// RUN: env HETC_PROFILE=/nonexistent hetc-opt %s -p 'hetc-place{devices=cpu,h100 scheduler=heft}' | filecheck %s
// RUN: env HETC_PROFILE=/nonexistent hetc-opt %s -p 'hetc-place{devices=cpu scheduler=heft}' | filecheck %s --check-prefix=CPU
// RUN: env HETC_PROFILE=/nonexistent hetc-opt %s -p 'hetc-place{devices=cpu,npu scheduler=ilp time_limit=5}' | filecheck %s --check-prefix=NPU

// hetc-place prices every op on every device with the cost model (roofline over the device
// catalog), schedules the task graph (inputs and outputs stay on the host) and writes the
// chosen device and the predicted start/end (seconds) of each op as #hw.place, and the
// devices and links as #hw.target on the module.

// The module gets the target: both devices and the PCIe link between them.
// CHECK:      builtin.module attributes {hw.target = #hw.target<devices = [#hw.device<name = "cpu", kind = "cpu",
// CHECK-SAME:   #hw.device<name = "h100", kind = "gpu",
// CHECK-SAME:   links = [#hw.link<name = "pcie5-h100", src = "cpu", dst = "h100", kind = "pcie5x16", bandwidth = 63000000000.0, latency = 1.0e-05>]>
// CHECK-SAME:   hw.schedule = "heft: makespan {{.*}} s, HEURISTIC{{.*}}"

// A 512^3 GEMM (3.8 ms on one core at 70 GFLOP/s) is worth the 2 x 1 MiB round trip over
// PCIe to the H100; a 4-element Relu on a tensor that lives on the host is not.
// CHECK-LABEL: func.func @main(
// CHECK:         %y = "onnx.MatMul"(%a, %b) {hw.place = #hw.place<device = "h100", start = {{[0-9.e-]+}}, end = {{[0-9.e-]+}}>}
// CHECK:         %s = "onnx.Relu"(%small) {hw.place = #hw.place<device = "cpu", start = 0.0, end = {{[0-9.e-]+}}>}
// CHECK:         %g = "onnx.Erf"(%s) {hw.place = #hw.place<device = "cpu", {{.*}}>}

// One device: everything on it.
// CPU:           %y = "onnx.MatMul"(%a, %b) {hw.place = #hw.place<device = "cpu", {{.*}}>}
// CPU:           %s = "onnx.Relu"(%small) {hw.place = #hw.place<device = "cpu", {{.*}}>}

// The NPU model (a catalog entry) has no Erf: it stays on the host whatever it costs; the
// float32 GEMM is faster on the NPU's array even over PCIe 3.0 x4; CP-SAT proves it.
// NPU:           hw.schedule = "ilp: makespan {{.*}} s, OPTIMAL, optimal"
// NPU:           %y = "onnx.MatMul"(%a, %b) {hw.place = #hw.place<device = "npu", {{.*}}>}
// NPU:           %g = "onnx.Erf"(%s) {hw.place = #hw.place<device = "cpu", {{.*}}>}
func.func @main(%a: tensor<512x512xf32>, %b: tensor<512x512xf32>, %small: tensor<4xf32>) -> (tensor<512x512xf32>, tensor<4xf32>) {
  %y = "onnx.MatMul"(%a, %b) : (tensor<512x512xf32>, tensor<512x512xf32>) -> tensor<512x512xf32>
  %s = "onnx.Relu"(%small) : (tensor<4xf32>) -> tensor<4xf32>
  %g = "onnx.Erf"(%s) : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y, %g : tensor<512x512xf32>, tensor<4xf32>
}
