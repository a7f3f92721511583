// RUN: hetc-opt %s -p hetc-agent-decompose | filecheck %s
// RUN: hetc-opt %s -p hetc-agent-decompose | hetc-opt -p hetc-agent-decompose | filecheck %s

// Hand-computed numbers. LLM: P = 1000 params, L = 2 layers, H = 8, Hkv = 4, float16
// (b = 2), T = 10 input tokens, O = 4 output tokens. W = P*b = 2000 B; KV per token
// kv = 2*L*Hkv*b = 32 B.
//   prefill FLOPs = 2*P*T + 2*L*T^2*H = 20000 + 3200 = 23200; bytes = W + kv*T = 2320 (= footprint)
//   decode: sum over t = T..T+O-1 of t = O*T + O(O-1)/2 = 46
//     FLOPs = 2*P*O + 4*L*H*46 = 8000 + 2944 = 10944; bytes = O*W + kv*46 = 8000 + 1472 = 9472
//     footprint = W + kv*(T+O) = 2000 + 448 = 2448; the KV cache crosses: kv*T = 320 B
// Retrieval: embedding model of 100 params in float32, 5 query tokens: FLOPs 2*100*5 = 1000,
// bytes 400; index of 1000 vectors x 16 float16: FLOPs 2*1000*16 = 32000, bytes 32000;
// the query vector crosses: 16 * 4 = 64 B.

// CHECK:      %[[E:.*]] = "agent.embed"() {node = "search.embed", flops = 1.000000e+03 : f64, bytes = 4.000000e+02 : f64, weight_bytes = 4.000000e+02 : f64, footprint_bytes = 4.000000e+02 : f64, dtype = "float32", op_class = "matmul"
// CHECK-NEXT: %[[K:.*]] = "agent.knn"(%[[E]]) {node = "search.knn", flops = 3.200000e+04 : f64, bytes = 3.200000e+04 : f64, weight_bytes = 3.200000e+04 : f64, footprint_bytes = 3.200000e+04 : f64, dtype = "float16", op_class = "matmul", k = 4 : i64, in_bytes = [6.400000e+01 : f64]}
// CHECK-NEXT: %[[P:.*]] = "agent.prefill"(%[[K]]) {node = "gen.prefill", flops = 2.320000e+04 : f64, bytes = 2.320000e+03 : f64, weight_bytes = 2.000000e+03 : f64, footprint_bytes = 2.320000e+03 : f64, dtype = "float16", op_class = "matmul", model = "tiny", tokens = 10 : i64, kv_bytes = 3.200000e+02 : f64, in_bytes = [1.024000e+03 : f64]}
// CHECK-NEXT: %[[D:.*]] = "agent.decode"(%[[P]]) {node = "gen.decode", flops = 1.094400e+04 : f64, bytes = 9.472000e+03 : f64, weight_bytes = 2.000000e+03 : f64, footprint_bytes = 2.448000e+03 : f64, dtype = "float16", op_class = "matmul", model = "tiny", steps = 4 : i64, kv_bytes = 4.480000e+02 : f64, in_bytes = [3.200000e+02 : f64]}
// Loop bodies are decomposed in place; host ops keep their kind and gain the cost model's fields.
// CHECK-NEXT: "agent.loop"(%[[D]])
// CHECK:        "agent.prefill"(%{{.*}}) {node = "act/think.prefill"
// CHECK-NEXT:   "agent.decode"
// CHECK-NEXT:   "agent.router"({{.*}}) {node = "act/pick", {{.*}}flops = 1.000000e+03 : f64, bytes = 0.000000e+00 : f64, op_class = "other", dtype = "float32"}
// CHECK-NEXT:   "agent.tool"({{.*}}) {node = "act/call", {{.*}}latency = 2.500000e-01 : f64, cpu_flops = 5.000000e+06 : f64, {{.*}}flops = 5.000000e+06 : f64
// CHECK-NEXT:   "agent.transform"({{.*}}) {node = "act/note", {{.*}}op_class = "elementwise"
// CHECK-NEXT:   "agent.yield"
// CHECK-NOT:  "agent.llm"
// CHECK-NOT:  "agent.retrieve"

builtin.module {
  %0 = "agent.retrieve"() {node = "search", vectors = 1.0e+03 : f64, dim = 16 : i64, k = 4 : i64, index_precision = "float16", embed_params = 1.0e+02 : f64, embed_precision = "float32", query_tokens = 5 : i64, in_bytes = []} : () -> !agent.msg
  %1 = "agent.llm"(%0) {node = "gen", model = "tiny", params = 1.0e+03 : f64, layers = 2 : i64, hidden = 8 : i64, kv_hidden = 4 : i64, precision = "float16", input_tokens = 10 : i64, output_tokens = 4 : i64, in_bytes = [1.024e+03 : f64]} : (!agent.msg) -> !agent.msg
  %2 = "agent.loop"(%1) ({
  ^bb0(%s: !agent.msg):
    %3 = "agent.llm"(%s) {node = "act/think", model = "tiny", params = 1.0e+03 : f64, layers = 2 : i64, hidden = 8 : i64, kv_hidden = 4 : i64, precision = "float16", input_tokens = {low = 5.0 : f64, high = 15.0 : f64}, output_tokens = {mean = 4.0 : f64, std = 1.0 : f64}} : (!agent.msg) -> !agent.msg
    %4 = "agent.router"(%3) {node = "act/pick", branches = {call = 1.0 : f64}} : (!agent.msg) -> !agent.msg
    %5 = "agent.tool"(%4) {node = "act/call", latency = 0.25 : f64, cpu_flops = 5.0e+06 : f64} : (!agent.msg) -> !agent.msg
    %6 = "agent.transform"(%5) {node = "act/note", flops = 1.0e+03 : f64, bytes = 1.0e+02 : f64} : (!agent.msg) -> !agent.msg
    "agent.yield"(%6) : (!agent.msg) -> ()
  }) {node = "act", max_iterations = 3 : i64, continue_probability = 0.5 : f64} : (!agent.msg) -> !agent.msg
}
