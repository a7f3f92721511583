// RUN: hetc-opt %s --split-input-file -p 'hetc-narrow-storage{type=f16}' | filecheck %s
// RUN: hetc-opt %s --split-input-file -p 'hetc-narrow-storage{type=bf16}' | filecheck %s --check-prefix=BF16
// RUN: hetc-opt %s --split-input-file -p 'hetc-narrow-storage' | filecheck %s --check-prefix=AUTO
// RUN: hetc-opt %s --split-input-file -p 'hetc-narrow-storage{type=none}' | filecheck %s --check-prefix=NONE

// A GEMM kernel with a ReLU epilogue writes an arena buffer %t from the input %x and a
// weight; a view of %t is copied into the output %y by a second kernel. %t, its view and
// the weight become f16; %x and %y stay f32. Loads of narrowed memrefs are extended to
// f32 (the GEMM's B load included, so the CUDA printer sees extf(load)), the epilogue's
// f32 value is truncated once before its store; the accumulator stays f32.
// CHECK:       "memref.global"() <{sym_name = "w0", type = memref<4x8xf16>, initial_value = dense<[{{\[}}1.500000e+00, 2.500000e+00, 9.997560e-02,
// CHECK-LABEL: func.func private @k0_gemm(%a: memref<2x4xf32>, %b: memref<4x8xf16>, %c: memref<16xf16>)
// CHECK-SAME:    hetc.gemm = [2 : i64, 8 : i64, 4 : i64]
// CHECK:           %acc = memref.alloca() : memref<1xf32>
// CHECK:             %x = memref.load %a[%i, %k] : memref<2x4xf32>
// CHECK-NEXT:        %y = memref.load %b[%k, %j] : memref<4x8xf16>
// CHECK-NEXT:        %[[B:.*]] = arith.extf %y {hetc.storage} : f16 to f32
// CHECK-NEXT:        %s = memref.load %acc[%c0] : memref<1xf32>
// CHECK-NEXT:        %p = arith.mulf %x, %[[B]] : f32
// CHECK:           } {hetc.gemm_k}
// CHECK:           %relu = arith.maximumf %r, %zero : f32
// CHECK:           %[[T:.*]] = arith.truncf %relu {hetc.storage} : f32 to f16
// CHECK-NEXT:      memref.store %[[T]], %c[%at] : memref<16xf16>
// CHECK:         } {hetc.parallel}
// CHECK-LABEL: func.func private @k1_copy(%src: memref<2x8xf16>, %dst: memref<2x8xf32>)
// CHECK:           %v = memref.load %src[%i, %j] : memref<2x8xf16>
// CHECK-NEXT:      %[[E:.*]] = arith.extf %v {hetc.storage} : f16 to f32
// CHECK-NEXT:      memref.store %[[E]], %dst[%i, %j] : memref<2x8xf32>
// CHECK-LABEL: func.func @main(%x: memref<2x4xf32>, %y: memref<2x8xf32>)
// CHECK-SAME:    hetc.narrow_storage_report = "{\22type\22: \22f16\22, \22buffers_narrowed\22: 1, \22weights_narrowed\22: 1, \22buffer_bytes_f32\22: 64, \22buffer_bytes\22: 32, \22weight_bytes_f32\22: 128, \22weight_bytes\22: 64, \22io_types\22: {\22x\22: \22f32\22, \22y\22: \22f32\22}, \22kept_f32\22: []
// CHECK-NEXT:    %w = memref.get_global @w0 : memref<4x8xf16>
// CHECK-NEXT:    %t = memref.alloc() : memref<16xf16>
// CHECK-NEXT:    func.call @k0_gemm(%x, %w, %t) : (memref<2x4xf32>, memref<4x8xf16>, memref<16xf16>) -> ()
// CHECK-NEXT:    %v = memref.reinterpret_cast %t to offset: [0], sizes: [2, 8], strides: [8, 1] : memref<16xf16> to memref<2x8xf16>
// CHECK-NEXT:    func.call @k1_copy(%v, %y) : (memref<2x8xf16>, memref<2x8xf32>) -> ()

// bfloat16: the same places, other type.
// BF16-LABEL: func.func private @k0_gemm(%a: memref<2x4xf32>, %b: memref<4x8xbf16>, %c: memref<16xbf16>)
// BF16:         arith.extf %y {hetc.storage} : bf16 to f32
// BF16:         arith.truncf %relu {hetc.storage} : f32 to bf16
// BF16-LABEL: func.func @main(

// auto without the module attribute, and none: nothing changes (no report either).
// AUTO-NOT:  {{xb?f16}}
// AUTO:      func.func @main(%x: memref<2x4xf32>, %y: memref<2x8xf32>) attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
// NONE-NOT:  {{xb?f16}}
// NONE:      func.func @main(%x: memref<2x4xf32>, %y: memref<2x8xf32>) attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
builtin.module {
  "memref.global"() <{sym_name = "w0", type = memref<4x8xf32>, initial_value = dense<[[1.5, 2.5, 0.1, 4.0, 5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]> : tensor<4x8xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
  func.func private @k0_gemm(%a: memref<2x4xf32>, %b: memref<4x8xf32>, %c: memref<16xf32>) attributes {hetc.kernel = "gemm", hetc.gemm = [2 : i64, 8 : i64, 4 : i64]} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %c8 = arith.constant 8 : index
    %zero = arith.constant 0.000000e+00 : f32
    scf.for %i = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c8 step %c1 {
        %acc = memref.alloca() : memref<1xf32>
        memref.store %zero, %acc[%c0] : memref<1xf32>
        scf.for %k = %c0 to %c4 step %c1 {
          %x = memref.load %a[%i, %k] : memref<2x4xf32>
          %y = memref.load %b[%k, %j] : memref<4x8xf32>
          %s = memref.load %acc[%c0] : memref<1xf32>
          %p = arith.mulf %x, %y : f32
          %q = arith.addf %s, %p : f32
          memref.store %q, %acc[%c0] : memref<1xf32>
        } {hetc.gemm_k}
        %r = memref.load %acc[%c0] : memref<1xf32>
        %relu = arith.maximumf %r, %zero : f32
        %row = arith.muli %i, %c8 : index
        %at = arith.addi %row, %j : index
        memref.store %relu, %c[%at] : memref<16xf32>
      } {hetc.parallel}
    } {hetc.parallel}
    func.return
  }
  func.func private @k1_copy(%src: memref<2x8xf32>, %dst: memref<2x8xf32>) attributes {hetc.kernel = "copy"} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c8 = arith.constant 8 : index
    scf.for %i = %c0 to %c2 step %c1 {
      scf.for %j = %c0 to %c8 step %c1 {
        %v = memref.load %src[%i, %j] : memref<2x8xf32>
        memref.store %v, %dst[%i, %j] : memref<2x8xf32>
      }
    }
    func.return
  }
  func.func @main(%x: memref<2x4xf32>, %y: memref<2x8xf32>) attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
    %w = memref.get_global @w0 : memref<4x8xf32>
    %t = memref.alloc() : memref<16xf32>
    func.call @k0_gemm(%x, %w, %t) : (memref<2x4xf32>, memref<4x8xf32>, memref<16xf32>) -> ()
    %v = memref.reinterpret_cast %t to offset: [0], sizes: [2, 8], strides: [8, 1] : memref<16xf32> to memref<2x8xf32>
    func.call @k1_copy(%v, %y) : (memref<2x8xf32>, memref<2x8xf32>) -> ()
    func.return
  }
}

// -----

// What stays f32, and the joins: %b2 is passed to the kernel argument that another call of
// @k2_out gives the output %y (call sites join, io wins); %u is copied into the output %z
// (memref.copy joins them); the weight @big overflows f16 (bf16 narrows it); the i64 buffer
// is not a float. %b1, %a1 (joined through @k5_in's argument), %b3 and %b4 are narrowed. A
// copy from a narrowed buffer into a narrowed one stores the loaded bits (@k3_move).
// CHECK-LABEL: func.func private @k5_in(%src: memref<8xf32>, %dst: memref<8xf16>)
// CHECK:         %v = memref.load %src[%i] : memref<8xf32>
// CHECK-NEXT:    %[[T:.*]] = arith.truncf %v {hetc.storage} : f32 to f16
// CHECK-NEXT:    memref.store %[[T]], %dst[%i] : memref<8xf16>
// CHECK-LABEL: func.func private @k3_move(%src: memref<8xf16>, %dst: memref<8xf16>)
// CHECK:         %v = memref.load %src[%i] : memref<8xf16>
// CHECK-NEXT:    memref.store %v, %dst[%i] : memref<8xf16>
// CHECK-LABEL: func.func private @k2_out(%src: memref<8xf16>, %dst: memref<8xf32>)
// CHECK-LABEL: func.func private @k6_scale(%src: memref<8xf32>, %dst: memref<8xf16>)
// CHECK-LABEL: func.func private @k7_last(%src: memref<8xf16>, %dst: memref<8xf32>)
// CHECK-LABEL: func.func private @k8_idx(%src: memref<8xf16>, %dst: memref<8xi64>)
// CHECK:         %v = memref.load %src[%i] : memref<8xf16>
// CHECK-NEXT:    %[[E:.*]] = arith.extf %v {hetc.storage} : f16 to f32
// CHECK-NEXT:    %n = arith.fptosi %[[E]] : f32 to i64
// Zero padding selects between loaded bits and a zero the narrow type holds: no conversion.
// CHECK-LABEL: func.func private @k9_pad(%src: memref<8xf16>, %dst: memref<10xf16>)
// CHECK:         %v = memref.load %src[%j] : memref<8xf16>
// CHECK-NEXT:    %[[Z:.*]] = arith.constant 0.000000e+00 : f16
// CHECK-NEXT:    %[[P:.*]] = arith.select %in, %v, %[[Z]] : f16
// CHECK-NEXT:    memref.store %[[P]], %dst[%i] : memref<10xf16>
// CHECK-LABEL: func.func @main(
// CHECK-SAME:    \22buffers_narrowed\22: 5, \22weights_narrowed\22: 0,
// CHECK-SAME:    \22kept_f32\22: [{\22buffers\22: [\22b2\22, \22u\22], \22reason\22: \22model input/output (io stays float32)\22}, {\22buffers\22: [\22big\22], \22reason\22: \22weight big has |x| = 7e+04 beyond f16's range\22}]
// CHECK-NEXT:    %big = memref.get_global @big : memref<8xf32>
// CHECK-NEXT:    %b1 = memref.alloc() : memref<8xf16>
// CHECK-NEXT:    %a1 = memref.alloc() : memref<8xf16>
// CHECK-NEXT:    %b2 = memref.alloc() : memref<8xf32>
// CHECK-NEXT:    %b3 = memref.alloc() : memref<8xf16>
// CHECK-NEXT:    %b4 = memref.alloc() : memref<8xf16>
// CHECK-NEXT:    %u = memref.alloc() : memref<8xf32>
// CHECK-NEXT:    %n = memref.alloc() : memref<8xi64>
// CHECK-NEXT:    %padded = memref.alloc() : memref<10xf16>
// BF16-LABEL: func.func @main(
// BF16:         %big = memref.get_global @big : memref<8xbf16>
// AUTO-NOT:  {{xb?f16}}
// AUTO:      func.func @main(%x: memref<8xf32>, %y: memref<8xf32>, %z: memref<8xf32>) attributes {hetc.input_names = ["x"], hetc.output_names = ["y", "z"]} {
// NONE-NOT:  {{xb?f16}}
// NONE:      func.func @main(%x: memref<8xf32>, %y: memref<8xf32>, %z: memref<8xf32>) attributes {hetc.input_names = ["x"], hetc.output_names = ["y", "z"]} {
builtin.module {
  "memref.global"() <{sym_name = "big", type = memref<8xf32>, initial_value = dense<[70000.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]> : tensor<8xf32>, sym_visibility = "private", constant, alignment = 64 : i64}> : () -> ()
  func.func private @k5_in(%src: memref<8xf32>, %dst: memref<8xf32>) attributes {hetc.kernel = "copy"} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    scf.for %i = %c0 to %c8 step %c1 {
      %v = memref.load %src[%i] : memref<8xf32>
      memref.store %v, %dst[%i] : memref<8xf32>
    }
    func.return
  }
  func.func private @k3_move(%src: memref<8xf32>, %dst: memref<8xf32>) attributes {hetc.kernel = "copy"} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    scf.for %i = %c0 to %c8 step %c1 {
      %v = memref.load %src[%i] : memref<8xf32>
      memref.store %v, %dst[%i] : memref<8xf32>
    }
    func.return
  }
  func.func private @k2_out(%src: memref<8xf32>, %dst: memref<8xf32>) attributes {hetc.kernel = "copy"} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    scf.for %i = %c0 to %c8 step %c1 {
      %v = memref.load %src[%i] : memref<8xf32>
      memref.store %v, %dst[%i] : memref<8xf32>
    }
    func.return
  }
  func.func private @k6_scale(%src: memref<8xf32>, %dst: memref<8xf32>) attributes {hetc.kernel = "scale"} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %k = arith.constant 1.000000e-03 : f32
    scf.for %i = %c0 to %c8 step %c1 {
      %v = memref.load %src[%i] : memref<8xf32>
      %s = arith.mulf %v, %k : f32
      memref.store %s, %dst[%i] : memref<8xf32>
    }
    func.return
  }
  func.func private @k7_last(%src: memref<8xf32>, %dst: memref<8xf32>) attributes {hetc.kernel = "copy"} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    scf.for %i = %c0 to %c8 step %c1 {
      %v = memref.load %src[%i] : memref<8xf32>
      memref.store %v, %dst[%i] : memref<8xf32>
    }
    func.return
  }
  func.func private @k8_idx(%src: memref<8xf32>, %dst: memref<8xi64>) attributes {hetc.kernel = "cast"} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    scf.for %i = %c0 to %c8 step %c1 {
      %v = memref.load %src[%i] : memref<8xf32>
      %n = arith.fptosi %v : f32 to i64
      memref.store %n, %dst[%i] : memref<8xi64>
    }
    func.return
  }
  func.func private @k9_pad(%src: memref<8xf32>, %dst: memref<10xf32>) attributes {hetc.kernel = "pad"} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %c10 = arith.constant 10 : index
    %zero = arith.constant 0.000000e+00 : f32
    scf.for %i = %c0 to %c10 step %c1 {
      %in = arith.cmpi ult, %i, %c8 : index
      %j = arith.select %in, %i, %c0 : index
      %v = memref.load %src[%j] : memref<8xf32>
      %p = arith.select %in, %v, %zero : f32
      memref.store %p, %dst[%i] : memref<10xf32>
    }
    func.return
  }
  func.func @main(%x: memref<8xf32>, %y: memref<8xf32>, %z: memref<8xf32>) attributes {hetc.input_names = ["x"], hetc.output_names = ["y", "z"]} {
    %big = memref.get_global @big : memref<8xf32>
    %b1 = memref.alloc() : memref<8xf32>
    %a1 = memref.alloc() : memref<8xf32>
    %b2 = memref.alloc() : memref<8xf32>
    %b3 = memref.alloc() : memref<8xf32>
    %b4 = memref.alloc() : memref<8xf32>
    %u = memref.alloc() : memref<8xf32>
    %n = memref.alloc() : memref<8xi64>
    %padded = memref.alloc() : memref<10xf32>
    func.call @k5_in(%x, %b1) : (memref<8xf32>, memref<8xf32>) -> ()
    func.call @k5_in(%x, %a1) : (memref<8xf32>, memref<8xf32>) -> ()
    func.call @k3_move(%b1, %b3) : (memref<8xf32>, memref<8xf32>) -> ()
    func.call @k2_out(%b3, %y) : (memref<8xf32>, memref<8xf32>) -> ()
    func.call @k2_out(%a1, %b2) : (memref<8xf32>, memref<8xf32>) -> ()
    func.call @k6_scale(%big, %b4) : (memref<8xf32>, memref<8xf32>) -> ()
    func.call @k7_last(%b4, %u) : (memref<8xf32>, memref<8xf32>) -> ()
    func.call @k8_idx(%b4, %n) : (memref<8xf32>, memref<8xi64>) -> ()
    func.call @k9_pad(%b4, %padded) : (memref<8xf32>, memref<10xf32>) -> ()
    "memref.copy"(%u, %z) : (memref<8xf32>, memref<8xf32>) -> ()
    func.return
  }
}

// -----

// auto follows the module attribute a graph pass sets for bf16 models; an explicit type wins.
// AUTO-LABEL: func.func private @k0_relu(%src: memref<4xbf16>, %dst: memref<4xf32>)
// AUTO:         arith.extf %v {hetc.storage} : bf16 to f32
// AUTO-LABEL: func.func @main(
// AUTO-SAME:    \22type\22: \22bf16\22
// AUTO-NEXT:    %t = memref.alloc() : memref<4xbf16>
// CHECK-LABEL: func.func private @k0_relu(%src: memref<4xf16>, %dst: memref<4xf32>)
// NONE-LABEL: func.func private @k0_relu(%src: memref<4xf32>, %dst: memref<4xf32>)
builtin.module attributes {hetc.narrow_storage = "bf16"} {
  func.func private @k0_fill(%src: memref<4xf32>, %dst: memref<4xf32>) attributes {hetc.kernel = "copy"} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    scf.for %i = %c0 to %c4 step %c1 {
      %v = memref.load %src[%i] : memref<4xf32>
      memref.store %v, %dst[%i] : memref<4xf32>
    }
    func.return
  }
  func.func private @k0_relu(%src: memref<4xf32>, %dst: memref<4xf32>) attributes {hetc.kernel = "relu"} {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %zero = arith.constant 0.000000e+00 : f32
    scf.for %i = %c0 to %c4 step %c1 {
      %v = memref.load %src[%i] : memref<4xf32>
      %r = arith.maximumf %v, %zero : f32
      memref.store %r, %dst[%i] : memref<4xf32>
    }
    func.return
  }
  func.func @main(%x: memref<4xf32>, %y: memref<4xf32>) attributes {hetc.input_names = ["x"], hetc.output_names = ["y"]} {
    %t = memref.alloc() : memref<4xf32>
    func.call @k0_fill(%x, %t) : (memref<4xf32>, memref<4xf32>) -> ()
    func.call @k0_relu(%t, %y) : (memref<4xf32>, memref<4xf32>) -> ()
    func.return
  }
}
